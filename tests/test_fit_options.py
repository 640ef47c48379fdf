"""fit's per-step options on the engine directly: gradient clipping, l1 / l2
penalties, max_norm, schedules, the time budget, and L-BFGS."""
from __future__ import annotations

import time

import numpy as np
import pytest

from mlpcli.engine import MLP, LayerSpec, get_optimizer, get_schedule
from mlpcli.lbfgs import fit_lbfgs
from mlpcli.training import Callback, FitOptions, add_penalty, clip_gradients, fit


def moons(n=300, seed=0):
    from sklearn.datasets import make_moons

    X, y = make_moons(n, noise=0.2, random_state=seed)
    X = (X - X.mean(0)) / X.std(0)
    return X, y


def network(dtype="float64", hidden=(16,), seed=0, n_inputs=2):
    net = MLP(n_inputs, [LayerSpec(u, "tanh") for u in hidden], 1, "binary_cross_entropy", dtype=dtype)
    net.init_params(np.random.default_rng(seed))
    return net


def train(net, X, y, optimizer=None, epochs=20, batch_size=32, schedule=None, callbacks=(), **options):
    optimizer = optimizer or get_optimizer("sgd", lr=0.1)
    options = FitOptions(epochs=epochs, task="classification", batch_size=batch_size, **options)
    return fit(net, optimizer, X.astype(net.dtype), y, options, rng=np.random.default_rng(1),
               schedule=schedule, callbacks=callbacks)


def weights(net):
    return net.params[: net.n_weights]


# -- clipping ---------------------------------------------------------------------


def _one_step_update(**options):
    """Parameters moved by one full-batch plain-SGD step (lr 1), and the unclipped gradient."""
    X, y = moons(64)
    net = network(hidden=(32,))
    net.params[: net.n_weights] *= 8  # large weights: a large gradient
    before = net.params.copy()
    grad = net.params.copy()
    net.train_step(X, y)
    grad[...] = net.grads
    train(net, X, y, get_optimizer("sgd", lr=1.0), epochs=1, batch_size=64, shuffle=False, **options)
    return net.params - before, grad


def test_clip_norm_bounds_the_global_norm_of_the_update():
    unclipped, grad = _one_step_update()
    assert np.linalg.norm(grad) > 0.5
    np.testing.assert_allclose(-unclipped, grad, rtol=1e-9, atol=1e-14)
    step, _ = _one_step_update(clip_norm=0.2)
    assert np.linalg.norm(step) == pytest.approx(0.2, rel=1e-5)
    # the direction is kept: only the length changes
    np.testing.assert_allclose(step / np.linalg.norm(step), -grad / np.linalg.norm(grad), atol=1e-12)


def test_clip_value_bounds_each_component_of_the_update():
    _, grad = _one_step_update()
    assert np.max(np.abs(grad)) > 0.05
    step, _ = _one_step_update(clip_value=0.05)
    assert np.max(np.abs(step)) == pytest.approx(0.05, rel=1e-12)
    small = np.abs(grad) < 0.05
    np.testing.assert_allclose(step[small], -grad[small], rtol=1e-9, atol=1e-14)  # the rest untouched


def test_clip_norm_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0).standard_normal(50) * 3
    ours = g.copy()
    clip_gradients(ours, 2.0, None)
    t = torch.nn.Parameter(torch.zeros(50, dtype=torch.float64))
    t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_([t], 2.0)
    np.testing.assert_allclose(ours, t.grad.numpy(), rtol=1e-14)
    small = g / 100
    kept = small.copy()
    clip_gradients(kept, 2.0, None)
    np.testing.assert_array_equal(kept, small)


# -- l1 / l2 ----------------------------------------------------------------------


def test_penalty_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    w = rng.standard_normal(20)
    w[np.abs(w) < 0.05] = 0.3  # keep clear of the kink of |w|
    grad, buffer = np.zeros(20), np.empty(20)
    penalty = add_penalty(w, grad, buffer, 0.3, 0.7)
    assert penalty == pytest.approx(0.3 * np.abs(w).sum() + 0.7 * (w**2).sum(), rel=1e-14)
    h = 1e-6
    numeric = np.empty(20)
    for i in range(20):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        f = lambda v: add_penalty(v, np.zeros(20), np.empty(20), 0.3, 0.7)  # noqa: E731
        numeric[i] = (f(up) - f(down)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


def test_train_loss_includes_the_penalty_as_keras_does():
    X, y = moons(64)
    frozen = get_optimizer("sgd", lr=1e-300)  # weights do not move
    plain = train(network(), X, y, frozen, epochs=1)[0]["train_loss"]
    net = network()
    expected = 0.01 * np.abs(weights(net)).sum() + 0.02 * (weights(net) ** 2).sum()
    penalised = train(net, X, y, get_optimizer("sgd", lr=1e-300), epochs=1, l1=0.01, l2=0.02)[0]["train_loss"]
    assert penalised - plain == pytest.approx(expected, rel=1e-9)


def test_l1_gives_sparser_smaller_weights_and_l2_smaller_norms():
    X, y = moons()
    runs = {}
    for name, options in {"plain": {}, "l1": {"l1": 0.003}, "l2": {"l2": 0.01}}.items():
        net = network(hidden=(32,))
        train(net, X, y, get_optimizer("adam", lr=0.01), epochs=40, **options)
        runs[name] = weights(net).copy()
    plain, l1, l2 = runs["plain"], runs["l1"], runs["l2"]
    assert np.abs(l1).sum() < 0.6 * np.abs(plain).sum()
    assert np.mean(np.abs(l1) < 1e-2) > np.mean(np.abs(plain) < 1e-2) + 0.2
    assert (l2**2).sum() < 0.6 * (plain**2).sum()
    # biases are not penalised: only the first n_weights entries see the penalty
    net = network()
    grads = np.zeros(net.n_params)
    grads_w = grads[: net.n_weights]
    add_penalty(weights(net), grads_w, np.empty(net.n_weights), 0.1, 0.1)
    assert np.all(grads[net.n_weights :] == 0)


# -- max_norm ---------------------------------------------------------------------


class ColumnNorms(Callback):
    """The largest column norm of any dense layer's W, after every step."""

    def __init__(self, net):
        self.net, self.seen = net, []

    def on_batch_end(self, batch):
        self.seen.append(max(float(np.linalg.norm(d.W, axis=0).max()) for d in self.net.dense))


def test_max_norm_holds_after_every_step():
    X, y = moons()
    free = network(hidden=(32, 32))
    free_norms = ColumnNorms(free)
    train(free, X, y, get_optimizer("sgd", lr=0.5, momentum=0.9), epochs=10, callbacks=[free_norms])
    assert max(free_norms.seen) > 2.0  # without the constraint the columns grow past it
    net = network(hidden=(32, 32))
    norms = ColumnNorms(net)
    train(net, X, y, get_optimizer("sgd", lr=0.5, momentum=0.9), epochs=10, max_norm=1.5, callbacks=[norms])
    assert len(norms.seen) == 10 * 10
    assert max(norms.seen) <= 1.5 * (1 + 1e-12)
    assert max(norms.seen) > 1.5 * (1 - 1e-6)  # it did bind


# -- schedules and the time budget -------------------------------------------------


def test_the_epoch_lr_follows_the_schedule_and_is_logged():
    X, y = moons(64)
    optimizer = get_optimizer("sgd", lr=0.2)
    history = train(network(), X, y, optimizer, epochs=6, schedule=get_schedule("step", 0.2, 6, step_size=2, gamma=0.5))
    assert [h["lr"] for h in history] == [0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
    assert history.stopped == "epochs"


class Slow(Callback):
    def on_epoch_end(self, epoch, logs):
        time.sleep(0.05)


def test_max_seconds_stops_after_the_epoch_that_ran_out_of_time():
    X, y = moons(64)
    history = train(network(), X, y, epochs=1000, max_seconds=0.12, callbacks=[Slow()])
    assert history.stopped == "max_seconds"
    assert 3 <= len(history) <= 6  # 0.05 s an epoch: the budget runs out in the third


# -- L-BFGS -----------------------------------------------------------------------


class Record(Callback):
    def __init__(self):
        self.epochs, self.ended = [], None

    def on_epoch_end(self, epoch, logs):
        self.epochs.append(epoch)

    def on_train_end(self, history):
        self.ended = len(history)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lbfgs_logs_one_epoch_per_iteration_and_fits_moons(dtype):
    X, y = moons()
    net = network(dtype, hidden=(16, 16))
    record = Record()
    history = fit_lbfgs(net, X.astype(dtype), y, FitOptions(epochs=60, task="classification"), callbacks=[record])
    assert [h["epoch"] for h in history] == record.epochs == list(range(1, len(history) + 1))
    assert record.ended == len(history)
    assert all(h["lr"] is None for h in history)
    assert history[-1]["train_loss"] < 0.12, history[-1]["train_loss"]
    # the loss logged is that of the parameters left in the network
    assert net.evaluate(X, y)[0] == pytest.approx(history[-1]["train_loss"], rel=1e-4)
    assert history.stopped in ("epochs", "converged")


def test_lbfgs_stops_on_convergence_and_includes_weight_decay_in_the_objective():
    X, y = moons(100)
    net = network(hidden=(4,))
    history = fit_lbfgs(net, X, y, FitOptions(epochs=1000, task="classification", weight_decay=0.1, gtol=1e-4))
    assert history.stopped == "converged" and len(history) < 1000
    w = weights(net)
    data_loss = net.evaluate(X, y)[0]
    assert history[-1]["train_loss"] == pytest.approx(data_loss + 0.05 * float(w @ w), rel=1e-6)


def _batch_norm_forward(net, X):
    """By hand, in float64: each BatchNorm layer's input statistics over X in
    training mode (mean, unbiased variance) and the evaluation-mode output when
    the running statistics are exactly those (PyTorch's eval formula)."""
    h_train = h_eval = np.asarray(X, np.float64)
    stats = []
    for i, dense in enumerate(net.dense[:-1]):
        gamma, beta = net.parameters[f"norm.{i}.weight"], net.parameters[f"norm.{i}.bias"]
        h_train, h_eval = h_train @ dense.W + dense.b, h_eval @ dense.W + dense.b
        mean, var = h_train.mean(axis=0), h_train.var(axis=0)
        stats.append((mean, var * len(X) / (len(X) - 1)))
        h_train = np.tanh(gamma * (h_train - mean) / np.sqrt(var + 1e-5) + beta)
        h_eval = np.tanh(gamma * (h_eval - mean) / np.sqrt(stats[-1][1] + 1e-5) + beta)
    z = h_eval @ net.dense[-1].W + net.dense[-1].b
    return stats, 0.5 * (1 + np.tanh(z[:, 0] / 2))


def test_lbfgs_leaves_batch_norm_with_the_training_datas_statistics_at_the_final_weights():
    """Line-search trial points must not move the running statistics: after
    training they are the full batch's at the weights returned, at every
    iteration (what validation and early stopping see) and at the end."""
    X, y = moons(200)
    net = MLP(2, [LayerSpec(8, "tanh", norm="batch_norm"), LayerSpec(6, "tanh", norm="batch_norm")], 1,
              "binary_cross_entropy", dtype="float64")
    net.init_params(np.random.default_rng(0))

    class Check(Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs):
            for i, (mean, var) in enumerate(_batch_norm_forward(net, X)[0]):
                np.testing.assert_allclose(net.buffers[f"norm.{i}.running_mean"], mean, rtol=1e-9, atol=1e-12)
                np.testing.assert_allclose(net.buffers[f"norm.{i}.running_var"], var, rtol=1e-9, atol=1e-12)
            self.epochs += 1

    check = Check()
    history = fit_lbfgs(net, X, y, FitOptions(epochs=25, task="classification"), validation=(X, y), callbacks=[check])
    assert check.epochs == len(history) > 5
    stats, expected = _batch_norm_forward(net, X)
    for i, (mean, var) in enumerate(stats):
        np.testing.assert_allclose(net.buffers[f"norm.{i}.running_mean"], mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(net.buffers[f"norm.{i}.running_var"], var, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.predict(X)[:, 1], expected, rtol=1e-9, atol=1e-12)
    assert all(norm.momentum == 0.1 for norm in net.norms)  # PyTorch's, restored after training
