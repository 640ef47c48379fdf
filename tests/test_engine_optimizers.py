"""Every optimizer against its textbook (PyTorch) update rule on the flat buffer:
a hand-written reference always, and torch.optim itself when torch is installed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlpcli.engine import MLP, OPTIMIZERS, SGD, Adagrad, Adam, AdamW, LayerSpec, RMSprop, get_optimizer

STEPS = 3


def grad_sequence(n=7, steps=STEPS, seed=0):
    """A different gradient at each step, so a rule that ignores history shows."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n) for _ in range(steps)]


def run(optimizer, p0, grads):
    params = p0.copy()
    buffer = params  # the model holds views into this exact array
    for g in grads:
        optimizer.step(params, g.copy())
    assert params is buffer
    return params


def sgd_reference(p, grads, lr, momentum=0.0, nesterov=False):
    """PyTorch's SGD: v = mu * v + g; p -= lr * (g + mu * v if nesterov else v)."""
    p, v = p.copy(), np.zeros_like(p)
    for g in grads:
        if momentum == 0:
            p = p - lr * g
            continue
        v = momentum * v + g
        p = p - lr * (g + momentum * v if nesterov else v)
    return p


def adam_reference(p, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """PyTorch's Adam: m, v are biased moments; t is 1-based;
    p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)."""
    p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        p = p - lr / bc1 * m / (np.sqrt(v) / math.sqrt(bc2) + eps)
    return p


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.1},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.3, "momentum": 0.5, "nesterov": True},
    ],
    ids=["plain", "momentum", "nesterov", "nesterov-0.5"],
)
def test_sgd_follows_the_pytorch_rule(options):
    p0, grads = np.random.default_rng(1).standard_normal(7), grad_sequence()
    got = run(SGD(**options), p0, grads)
    np.testing.assert_allclose(got, sgd_reference(p0, grads, **options), rtol=0, atol=1e-12)
    assert np.max(np.abs(got - p0)) > 1e-3  # it moved


def adamw_reference(p, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decay_size=None):
    """PyTorch's AdamW: p *= 1 - lr * wd (decoupled), then the Adam step."""
    p = p.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        p[:decay_size] = p[:decay_size] * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (np.sqrt(v) / math.sqrt(1 - beta2**t) + eps)
    return p


def rmsprop_reference(p, grads, lr, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
    """PyTorch's RMSprop: s = a s + (1-a) g^2; d = sqrt(s - gbar^2 if centered else s) + eps;
    buf = mu buf + g / d; p -= lr * (buf if mu else g / d)."""
    p, s, gbar, buf = p.copy(), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        s = alpha * s + (1 - alpha) * g * g
        if centered:
            gbar = alpha * gbar + (1 - alpha) * g
            d = np.sqrt(s - gbar * gbar) + eps
        else:
            d = np.sqrt(s) + eps
        if momentum:
            buf = momentum * buf + g / d
            p = p - lr * buf
        else:
            p = p - lr * g / d
    return p


def adagrad_reference(p, grads, lr, eps=1e-10, initial_accumulator_value=0.0):
    """PyTorch's Adagrad (lr_decay 0): s += g^2; p -= lr g / (sqrt(s) + eps)."""
    p, s = p.copy(), np.full_like(p, initial_accumulator_value)
    for g in grads:
        s = s + g * g
        p = p - lr * g / (np.sqrt(s) + eps)
    return p


REFERENCES = {"adamw": adamw_reference, "rmsprop": rmsprop_reference, "adagrad": adagrad_reference}
NEW_CASES = [
    ("adamw", {"lr": 0.01}),
    ("adamw", {"lr": 0.05, "beta1": 0.8, "weight_decay": 0.3}),
    ("adamw", {"lr": 0.05, "weight_decay": 0.3, "decay_size": 4}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.02, "alpha": 0.9, "momentum": 0.5}),
    ("rmsprop", {"lr": 0.02, "alpha": 0.9, "momentum": 0.5, "centered": True}),
    ("rmsprop", {"lr": 0.02, "centered": True}),
    ("adagrad", {"lr": 0.01}),
    ("adagrad", {"lr": 0.1, "eps": 1e-3, "initial_accumulator_value": 0.5}),
]
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(NEW_CASES)]


@pytest.mark.parametrize("name, options", NEW_CASES, ids=CASE_IDS)
def test_new_optimizers_follow_their_reference_rule(name, options):
    p0, grads = np.random.default_rng(4).standard_normal(7), grad_sequence(steps=5, seed=5)
    got = run(get_optimizer(name, **options), p0, grads)
    np.testing.assert_allclose(got, REFERENCES[name](p0, grads, **options), rtol=0, atol=1e-12)
    assert np.max(np.abs(got - p0)) > 1e-3


def _torch_run(name, options, p0, grads):
    torch = pytest.importorskip("torch")
    options = dict(options)
    decay_size = options.pop("decay_size", None)
    translated = {k: v for k, v in options.items() if k not in ("beta1", "beta2")}
    if "beta1" in options or "beta2" in options:
        translated["betas"] = (options.get("beta1", 0.9), options.get("beta2", 0.999))
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[name]
    if decay_size is None:
        groups = [torch.nn.Parameter(torch.tensor(p0))]
        params = groups
    else:  # the decayed leading block (weights) and the rest (biases), as two groups
        params = [torch.nn.Parameter(torch.tensor(p0[:decay_size])), torch.nn.Parameter(torch.tensor(p0[decay_size:]))]
        groups = [{"params": [params[0]]}, {"params": [params[1]], "weight_decay": 0.0}]
    opt = cls(groups, **translated)
    for g in grads:
        if decay_size is None:
            params[0].grad = torch.tensor(g)
        else:
            params[0].grad, params[1].grad = torch.tensor(g[:decay_size]), torch.tensor(g[decay_size:])
        opt.step()
    return np.concatenate([p.detach().numpy() for p in params])


@pytest.mark.parametrize(
    "name, options",
    [("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}), ("adam", {"lr": 0.01, "beta1": 0.5}), *NEW_CASES],
    ids=["sgd-nesterov", "adam", *CASE_IDS],
)
def test_optimizers_match_torch_optim(name, options):
    """The same gradients through torch.optim give the same parameters (float64)."""
    p0, grads = np.random.default_rng(6).standard_normal(7), grad_sequence(steps=5, seed=7)
    expected = _torch_run(name, options, p0, grads)
    got = run(get_optimizer(name, **options), p0, grads)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_adamw_decay_is_decoupled_from_the_gradient_scale():
    """With a zero gradient Adam's step is zero, so only the decay acts: AdamW
    multiplies the decayed block by exactly (1 - lr * wd) per step and leaves the rest."""
    params = np.full(6, 2.0)
    opt = AdamW(lr=0.1, weight_decay=0.5, decay_size=4)
    for _ in range(3):
        opt.step(params, np.zeros(6))
    np.testing.assert_allclose(params[:4], 2.0 * 0.95**3, rtol=1e-14)
    np.testing.assert_array_equal(params[4:], 2.0)


def test_sgd_variants_differ_from_each_other():
    """Guards the reference test: momentum and Nesterov are not the same rule."""
    p0, grads = np.zeros(7), grad_sequence()
    plain = run(SGD(lr=0.1), p0, grads)
    heavy = run(SGD(lr=0.1, momentum=0.9), p0, grads)
    nesterov = run(SGD(lr=0.1, momentum=0.9, nesterov=True), p0, grads)
    assert np.max(np.abs(plain - heavy)) > 1e-2
    assert np.max(np.abs(heavy - nesterov)) > 1e-2


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.001},
        {"lr": 0.1, "beta1": 0.5, "beta2": 0.9},
        {"lr": 0.01, "beta1": 0.0, "beta2": 0.99, "eps": 0.1},
    ],
    ids=["defaults", "short-memory", "big-eps"],
)
def test_adam_follows_the_pytorch_rule(options):
    p0, grads = np.random.default_rng(2).standard_normal(7), grad_sequence(seed=3)
    got = run(Adam(**options), p0, grads)
    np.testing.assert_allclose(got, adam_reference(p0, grads, **options), rtol=0, atol=1e-12)


def test_adam_first_step_moves_every_parameter_by_lr():
    """With bias correction, step 1 is lr * g / (|g| + eps): about lr, whatever |g|."""
    g = np.array([1e-3, -2.0, 50.0])
    params = np.zeros(3)
    Adam(lr=0.01).step(params, g)
    np.testing.assert_allclose(params, -0.01 * np.sign(g), rtol=1e-4)


def test_step_counter_and_state_continue_across_steps():
    opt = Adam(lr=0.01)
    params = np.zeros(4)
    for g in grad_sequence(n=4, steps=5):
        opt.step(params, g)
    state = opt.state_dict()
    assert state["t"] == 5
    assert state["m"].shape == state["v"].shape == (4,)
    # The moments, in the paper's scale, are PyTorch's exp_avg and exp_avg_sq.
    m = v = np.zeros(4)
    for g in grad_sequence(n=4, steps=5):
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
    np.testing.assert_allclose(state["m"], m, rtol=1e-13)
    np.testing.assert_allclose(state["v"], v, rtol=1e-13)
    sgd = SGD(lr=0.01, momentum=0.9)
    sgd.step(np.zeros(4), np.ones(4))
    sgd.step(np.zeros(4), np.ones(4))
    np.testing.assert_allclose(sgd.state_dict()["velocity"], 1.9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name, options",
    [
        ("sgd", {"lr": 0.1}),
        ("sgd", {"lr": 0.05, "momentum": 0.9}),
        ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
        ("adam", {"lr": 0.05}),
        ("adamw", {"lr": 0.05, "weight_decay": 0.0}),
        ("rmsprop", {"lr": 0.01}),
        ("adagrad", {"lr": 0.5}),
    ],
)
def test_optimizers_minimise_a_quadratic(name, options, dtype):
    """f(p) = 1/2 sum(a (p - c)^2), condition number 10: every optimizer reaches c."""
    a = np.linspace(1, 10, 6).astype(dtype)
    c = np.linspace(-2, 3, 6).astype(dtype)
    params = np.zeros(6, dtype)
    opt = get_optimizer(name, **options)
    start = float(0.5 * np.sum(a * (params - c) ** 2))
    for _ in range(500):
        opt.step(params, a * (params - c))
    assert params.dtype == dtype
    assert float(0.5 * np.sum(a * (params - c) ** 2)) < 1e-6 * start
    np.testing.assert_allclose(params, c, atol=2e-3)


def test_optimizer_trains_a_network_through_the_flat_buffer():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)  # XOR-like: needs the hidden layer
    network = MLP(2, [LayerSpec(16, "tanh")], 2, "cross_entropy", dtype="float64")
    network.init_params(rng)
    opt = get_optimizer("adam", lr=0.05)
    first = network.train_step(x, y)
    for _ in range(300):
        loss = network.train_step(x, y)
        opt.step(network.params, network.grads)
    assert loss < 0.25 * first
    assert np.mean(network.predict(x).argmax(axis=1) == y) > 0.9


@pytest.mark.parametrize(
    "cls, options, message",
    [
        (SGD, {"lr": 0}, "learning rate"),
        (SGD, {"lr": -0.1}, "learning rate"),
        (SGD, {"lr": float("nan")}, "learning rate"),
        (SGD, {"lr": 0.1, "momentum": -0.1}, "momentum"),
        (SGD, {"lr": 0.1, "momentum": 1.0}, "momentum"),
        (SGD, {"lr": 0.1, "nesterov": True}, "nesterov"),
        (Adam, {"lr": 0}, "learning rate"),
        (Adam, {"lr": 0.1, "beta1": 1.0}, "beta1"),
        (Adam, {"lr": 0.1, "beta1": -0.1}, "beta1"),
        (Adam, {"lr": 0.1, "beta2": 1.0}, "beta2"),
        (Adam, {"lr": 0.1, "beta2": float("nan")}, "beta2"),
        (SGD, {"lr": float("inf")}, "learning rate"),
        (Adam, {"lr": 0.1, "eps": -1e-8}, "eps"),
        (Adam, {"lr": 0.1, "eps": float("inf")}, "eps"),
        (AdamW, {"lr": 0.1, "weight_decay": -0.1}, "weight_decay"),
        (AdamW, {"lr": 0.1, "decay_size": -5}, "decay_size"),
        (RMSprop, {"lr": 0.1, "alpha": 1.0}, "alpha"),
        (RMSprop, {"lr": 0.1, "momentum": -0.5}, "momentum"),
        (RMSprop, {"lr": 0}, "learning rate"),
        (Adagrad, {"lr": 0.1, "eps": -1.0}, "eps"),
        (Adagrad, {"lr": 0.1, "initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ],
)
def test_invalid_hyper_parameters_raise_value_error(cls, options, message):
    with pytest.raises(ValueError, match=message):
        cls(**options)


def test_get_optimizer_builds_the_named_optimizer_with_its_options():
    opt = get_optimizer("sgd", lr=0.2, momentum=0.5, nesterov=True)
    assert isinstance(opt, SGD) and (opt.lr, opt.momentum, opt.nesterov) == (0.2, 0.5, True)
    opt = get_optimizer("adam", lr=0.2, beta2=0.9)
    assert isinstance(opt, Adam) and (opt.lr, opt.beta2) == (0.2, 0.9)
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad"}


def test_get_optimizer_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        get_optimizer("adadelta", lr=0.1)
    message = str(info.value)
    assert "'adadelta'" in message
    for name in OPTIMIZERS:
        assert name in message


@pytest.mark.parametrize(
    "name, options",
    [("adam", {}), ("sgd", {"momentum": 0.9, "nesterov": True}), ("sgd", {}), ("adamw", {}),
     ("rmsprop", {"momentum": 0.9, "centered": True}), ("adagrad", {})],
)
def test_an_optimizer_step_allocates_no_array_the_size_of_the_model(name, options):
    """An update writes into the optimizer's state and one work buffer, never into
    a fresh temporary (the kept speed trick: see optimizers.py). After the first
    step, which creates the state, further steps allocate nothing the size of
    the parameters (670 KB here); NumPy's own casting buffers (8192 elements)
    are all that may come and go. NumPy reports its allocations to tracemalloc."""
    import tracemalloc

    rng = np.random.default_rng(0)
    network = MLP(64, [LayerSpec(512, "relu"), LayerSpec(256, "tanh")], 10,
                  "cross_entropy", dtype="float32", rng=np.random.default_rng(1))
    network.init_params(rng)
    optimizer = get_optimizer(name, lr=0.01, **options)
    x, y = rng.standard_normal((512, 64)).astype(np.float32), rng.integers(0, 10, 512)
    network.train_step(x, y)
    optimizer.step(network.params, network.grads)
    tracemalloc.start()
    try:
        for _ in range(4):
            optimizer.step(network.params, network.grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < network.params.nbytes / 4, f"{peak} bytes allocated during optimizer steps"


SPLIT_CASES = [
    ("adam", {}), ("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adamw", {"weight_decay": 0.1}),  # decays the whole buffer, across both halves
    ("adamw", {"weight_decay": 0.1, "decay_size": 30_001}),  # the decayed block ends inside the first half
    ("adamw", {"weight_decay": 0.1, "decay_size": 80_001}),  # ... inside the second half
    ("adamw", {"weight_decay": 0.1, "decay_size": 0}), ("adamw", {"weight_decay": 0.1, "decay_size": 200_000}),
    ("rmsprop", {"momentum": 0.9, "centered": True}), ("rmsprop", {"centered": True}), ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {}), ("adagrad", {}), ("adagrad", {"initial_accumulator_value": 0.1}),
]


@pytest.mark.parametrize("name, options", SPLIT_CASES)
def test_an_update_on_two_threads_is_the_update_on_one(name, options):
    """threads = 2 runs a step's passes on two halves at once (engine.halves):
    every parameter and state array comes out bit for bit as on one thread,
    step after step (an odd size: the halves are not equal)."""
    rng = np.random.default_rng(0)
    n = 100_003
    one, two = get_optimizer(name, lr=0.01, **options), get_optimizer(name, lr=0.01, **options)
    two.threads = 2
    p1 = rng.standard_normal(n).astype(np.float32)
    p2 = p1.copy()
    for _ in range(4):
        grads = rng.standard_normal(n).astype(np.float32)
        one.step(p1, grads)
        two.step(p2, grads)
    assert np.array_equal(p1, p2)
    for key in one.state_names():
        assert np.array_equal(getattr(one, key), getattr(two, key)), key
    assert one.state_dict()["t"] == two.state_dict()["t"] == 4


def test_the_helper_thread_keeps_the_callers_numpy_error_state():
    """NumPy's error state is per thread: the helper's half follows the caller's
    (fit ignores overflow, reported as divergence instead). An overflow in
    that half is silent under "ignore" and raises here under "raise"; the
    helper keeps working after it."""
    import warnings

    n = 1 << 16
    grads = np.ones(n, np.float32)
    grads[-10:] = 1e30  # squared in the second half: overflows float32
    adam = Adam(lr=0.01)
    adam.threads = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="ignore", invalid="ignore"):
            adam.step(np.zeros(n, np.float32), grads)
        with np.errstate(over="raise", invalid="ignore"), pytest.raises(FloatingPointError):
            adam.step(np.zeros(n, np.float32), grads)
    params = np.zeros(n, np.float32)
    adam.step(params, np.ones(n, np.float32))
    assert np.all(np.isfinite(params[: n // 2]))


def test_run_halves_finishes_the_helpers_half_when_this_half_raises():
    """No part of a buffer is left half-updated behind an error: the helper's
    half completes before the caller's error propagates, and the helper takes
    the next job."""
    from mlpcli.engine.halves import run_halves

    done = []

    def update(lo, hi):
        if lo == 0:
            raise RuntimeError("first half")
        done.append((lo, hi))

    with pytest.raises(RuntimeError, match="first half"):
        run_halves(update, 1000)
    assert done == [(496, 1000)]  # the second half starts on a 16-element boundary
    spans = []
    run_halves(lambda lo, hi: spans.append((lo, hi)), 40)
    assert sorted(spans) == [(0, 16), (16, 40)]


def test_when_both_halves_raise_the_first_halfs_error_comes_out():
    """As on one thread, where the first half's error would stop the update."""
    from mlpcli.engine.halves import run_halves

    def update(lo, hi):
        raise (RuntimeError if lo == 0 else ValueError)(f"half at {lo}")

    with pytest.raises(RuntimeError, match="half at 0"):
        run_halves(update, 1000)


class _Interrupt(Exception):
    pass


def test_an_interrupt_while_waiting_returns_only_once_the_helpers_half_is_done():
    """A signal handler raising in this thread (Ctrl-C in a notebook) while it
    waits for the helper: the error comes out once the helper's half is
    written, not before, and the next update hands over in step."""
    import signal
    import threading
    import time

    from mlpcli.engine.halves import run_halves

    def on_signal(signum, frame):
        raise _Interrupt

    done = []

    def update(lo, hi):
        if lo:
            time.sleep(0.5)
            done.append(hi)

    previous = signal.signal(signal.SIGUSR1, on_signal)
    timer = threading.Timer(0.1, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(_Interrupt):
            run_halves(update, 1000)
        assert done == [1000]
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    spans = []
    run_halves(lambda lo, hi: (time.sleep(0.05 if lo else 0), spans.append((lo, hi))), 40)
    assert sorted(spans) == [(0, 16), (16, 40)]


def test_the_helper_calls_the_callers_numpy_error_callback():
    calls = []
    n = 1 << 16
    grads = np.ones(n, np.float32)
    grads[-10:] = 1e30  # overflows in the helper's half
    adam = Adam(lr=0.01)
    adam.threads = 2
    with np.errstate(over="call", invalid="ignore", call=lambda kind, flag: calls.append(kind)):
        adam.step(np.zeros(n, np.float32), grads)
    assert calls and all("overflow" in kind for kind in calls)


def test_a_forked_child_updates_on_its_own_helper():
    """The parent's helper thread is not in a forked child: the child starts its
    own rather than waiting on a thread that is not there."""
    import multiprocessing

    from mlpcli.engine.halves import run_halves

    run_halves(lambda lo, hi: None, 1000)  # the parent's helper exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_update_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0 and queue.get(timeout=5) == [(0, 496), (496, 1000)]


def _update_in_child(queue):
    from mlpcli.engine.halves import run_halves

    spans = []
    run_halves(lambda lo, hi: spans.append((lo, hi)), 1000)
    queue.put(sorted(spans))
