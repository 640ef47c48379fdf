"""The loss heads with their options: float64 gradient checks, values against
PyTorch's and Keras's definitions, and the options costing nothing when off."""
from __future__ import annotations

import numpy as np
import pytest

from mlpcli.engine import LOSSES, MLP, LayerSpec

from .test_engine_gradients import TOL, away_from_zero, check_network_gradient, numeric_grad, rel_error

WEIGHTS = np.array([0.5, 2.0, 1.25])

# name, options, target kind: "index" (class indices), "labels" (0/1 columns), "values"
HEAD_CASES = [
    ("cross_entropy", {}, "index"),
    ("cross_entropy", {"class_weight": WEIGHTS}, "index"),
    ("cross_entropy", {"label_smoothing": 0.2}, "index"),
    ("cross_entropy", {"class_weight": WEIGHTS, "label_smoothing": 0.1}, "index"),
    ("binary_cross_entropy", {}, "index"),
    ("binary_cross_entropy", {"class_weight": np.array([3.0, 0.5])}, "index"),
    ("binary_cross_entropy", {"label_smoothing": 0.3}, "index"),
    ("binary_cross_entropy", {"class_weight": np.array([3.0, 0.5]), "label_smoothing": 0.1}, "index"),
    ("binary_cross_entropy", {}, "labels"),
    ("binary_cross_entropy", {"label_smoothing": 0.2}, "labels"),
    ("mse", {}, "values"),
    ("mae", {}, "values"),
    ("huber", {}, "values"),
    ("huber", {"delta": 0.3}, "values"),
]


def case(name, kind, rng, n=7, k=3):
    """Logits z and targets y in the shapes each head takes."""
    if kind == "index":
        width = 1 if name == "binary_cross_entropy" else k
        return rng.standard_normal((n, width)) * 2, rng.integers(0, 2 if width == 1 else k, n)
    if kind == "labels":
        return rng.standard_normal((n, k)) * 2, rng.integers(0, 2, (n, k)).astype(np.float64)
    y = rng.standard_normal((n, k))
    # |z - y| kept away from the kinks of mae (0) and huber (delta).
    margin = away_from_zero(rng, (n, k), margin=0.05)
    margin = np.where(np.abs(np.abs(margin) - 0.3) < 0.05, margin * 1.5, margin)
    margin = np.where(np.abs(np.abs(margin) - 1.0) < 0.05, margin * 1.2, margin)
    return y + margin, y


def torch_loss(name, options, z, y) -> float:
    """The same loss from PyTorch (Keras's smoothing for sigmoid heads, which PyTorch lacks)."""
    torch = pytest.importorskip("torch")  # only the comparisons need it: the gradient checks run without
    F = torch.nn.functional
    zt = torch.tensor(z)
    e = options.get("label_smoothing", 0.0)
    w = options.get("class_weight")
    if name == "cross_entropy":
        return F.cross_entropy(
            zt, torch.tensor(y), weight=None if w is None else torch.tensor(w), label_smoothing=e
        ).item()
    if name == "binary_cross_entropy":
        t = torch.tensor(y.reshape(len(y), -1), dtype=torch.float64) * (1 - e) + e / 2
        per = F.binary_cross_entropy_with_logits(zt, t, reduction="none")
        if w is None:
            return per.mean().item()
        sw = torch.tensor(w[y])[:, None]
        return ((per * sw).sum() / sw.sum()).item()
    if name == "mse":
        return F.mse_loss(zt, torch.tensor(y)).item()
    if name == "mae":
        return F.l1_loss(zt, torch.tensor(y)).item()
    return F.huber_loss(zt, torch.tensor(y), delta=options.get("delta", 1.0)).item()


@pytest.mark.parametrize("name, options, kind", HEAD_CASES)
def test_head_value_matches_pytorch(name, options, kind):
    z, y = case(name, kind, np.random.default_rng(7))
    assert LOSSES[name](**options).forward(z.copy(), y) == pytest.approx(torch_loss(name, options, z, y), rel=1e-12)


@pytest.mark.parametrize("name, options, kind", HEAD_CASES)
def test_head_gradient_matches_central_differences(name, options, kind):
    rng = np.random.default_rng(7)
    z, y = case(name, kind, rng)
    head = LOSSES[name](**options)
    head.forward(z.copy(), y)
    analytic = head.backward().copy()
    numeric = numeric_grad(lambda: head.forward(z.copy(), y), z)
    assert analytic.shape == z.shape
    assert rel_error(analytic, numeric) < TOL


def test_every_loss_has_a_case():
    assert {name for name, _, _ in HEAD_CASES} == set(LOSSES)


@pytest.mark.parametrize(
    "name, options, n_outputs, kind",
    [
        ("cross_entropy", {"class_weight": WEIGHTS, "label_smoothing": 0.1}, 3, "index"),
        ("binary_cross_entropy", {"class_weight": np.array([3.0, 0.5])}, 1, "index"),
        ("binary_cross_entropy", {"label_smoothing": 0.1}, 4, "labels"),
        ("mae", {}, 2, "values"),
        ("huber", {"delta": 0.5}, 2, "values"),
    ],
)
def test_network_gradient_through_each_head(name, options, n_outputs, kind):
    rng = np.random.default_rng(11)
    network = MLP(4, [LayerSpec(5, "tanh"), LayerSpec(4, "sigmoid")], n_outputs, name, dtype="float64",
                  loss_options=options)
    network.init_params(rng)
    x = rng.standard_normal((8, 4))
    if kind == "index":
        y = rng.integers(0, 3 if n_outputs == 3 else 2, 8)
    elif kind == "labels":
        y = rng.integers(0, 2, (8, n_outputs)).astype(np.float64)
    else:
        z = network.forward(x)
        y = z + away_from_zero(rng, z.shape, margin=0.1)  # off the kinks of mae and huber
    check_network_gradient(network, x, y)


def test_multilabel_head_outputs_one_probability_per_label():
    head = LOSSES["binary_cross_entropy"]()
    z = np.array([[0.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(head.output(z), [[0.5, 1.0, 0.0]], atol=1e-12)
    assert head.forward(z, np.array([[1.0, 0.0, 0.0]])) == pytest.approx((np.log(2) + 1000) / 3)
    network = MLP(2, [], 3, "binary_cross_entropy")
    assert network.head_width == 3
    assert MLP(2, [], 1, "binary_cross_entropy").head_width == 2


def test_class_weighted_evaluation_is_the_weighted_mean_whatever_the_chunk_size():
    """val_loss with class weights divides by the sum of the weights over the whole
    split, as one training batch of that size would, not chunk by chunk."""
    rng = np.random.default_rng(2)
    network = MLP(3, [LayerSpec(4, "tanh")], 3, "cross_entropy", dtype="float64",
                  loss_options={"class_weight": WEIGHTS})
    network.init_params(rng)
    x, y = rng.standard_normal((11, 3)), np.array([0, 0, 0, 0, 1, 2, 2, 0, 0, 1, 0])
    whole = network.head.forward(network.forward(x), y)
    for chunk in (2, 5, 4096):
        assert network.evaluate(x, y, batch_size=chunk)[0] == pytest.approx(whole, rel=1e-12)


def test_options_off_take_the_plain_path():
    """class_weight None and label_smoothing 0 are the unweighted head exactly
    (the allocation-free path the no-allocation test measures)."""
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    plain, off = LOSSES["cross_entropy"](), LOSSES["cross_entropy"](class_weight=None, label_smoothing=0.0)
    assert off.plain and not LOSSES["cross_entropy"](label_smoothing=0.1).plain
    assert off.forward(z.copy(), y) == plain.forward(z.copy(), y)
    np.testing.assert_array_equal(off.backward(), plain.backward())
    # uniform weights change nothing but the path
    ones = LOSSES["cross_entropy"](class_weight=np.ones(3))
    assert ones.forward(z.copy(), y) == pytest.approx(plain.forward(z.copy(), y), rel=1e-12)


@pytest.mark.parametrize("options", [{"label_smoothing": 1.0}, {"label_smoothing": -0.1}, {"class_weight": [-1, 1]}])
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        LOSSES["cross_entropy"](**options)
    with pytest.raises(ValueError):
        LOSSES["huber"](delta=0)
