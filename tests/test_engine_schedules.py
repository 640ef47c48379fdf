"""Per-epoch learning-rate schedules: hand tables, and torch.optim.lr_scheduler's
values stepped once per epoch when torch is installed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlpcli.engine import SCHEDULES, get_schedule

EPOCHS = 12


def lrs(name, epochs=EPOCHS, base=0.1, metrics=None, **options):
    schedule = get_schedule(name, base, epochs, **options)
    out = []
    for epoch in range(1, epochs + 1):
        out.append(schedule.lr(epoch))
        schedule.epoch_end({"epoch": epoch, "val_loss": metrics[epoch - 1] if metrics else 1.0})
    return out


@pytest.mark.parametrize(
    "name, options, table",
    [
        ("constant", {}, [0.1] * 6),
        ("step", {"step_size": 2, "gamma": 0.5}, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
        ("exponential", {"gamma": 0.5}, [0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]),
        # 2 warm-up epochs at 1/3 and 2/3 of lr, then cosine over the last 4: 1, (1+cos(pi/4))/2, 1/2, ...
        ("cosine", {"warmup_epochs": 2},
         [0.1 / 3, 0.2 / 3, 0.1, 0.05 * (1 + math.sqrt(0.5)), 0.05, 0.05 * (1 - math.sqrt(0.5))]),
        # 0.02 + 0.08 * (1 + cos(pi * i / 6)) / 2
        ("cosine", {"min_lr": 0.02},
         [0.1, 0.02 + 0.04 * (1 + math.sqrt(3) / 2), 0.08, 0.06, 0.04, 0.02 + 0.04 * (1 - math.sqrt(3) / 2)]),
        # max 0.1 from 0.01 (div 10) over pct_start 0.5 of 6 epochs: phase ends at step 2, then to 0.01 / 100
        ("one_cycle", {"pct_start": 0.5, "div_factor": 10, "final_div_factor": 100},
         [0.01, 0.055, 0.1, 0.0001 + 0.0999 * 0.75, 0.0001 + 0.0999 * 0.25, 0.0001]),
    ],
)
def test_schedule_against_a_hand_table(name, options, table):
    np.testing.assert_allclose(lrs(name, epochs=6, **options), table, rtol=1e-12)


def test_reduce_on_plateau_hand_table():
    """patience 1: the rate drops after the second epoch in a row without an
    improvement of min_delta (0.895 and 0.899 do not beat 0.9 by 0.01), from the
    next epoch on; cooldown 1 then ignores one epoch; never below min_lr."""
    losses = [1.0, 0.9, 0.895, 0.899, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    got = lrs("reduce_on_plateau", metrics=losses, patience=1, factor=0.5, min_delta=0.01, cooldown=1, min_lr=0.02)
    #              e1   e2   e3   e4   e5    e6    e7    e8     e9     e10    e11   e12
    assert got == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02]


def test_reduce_on_plateau_in_max_mode_and_with_missing_values():
    accuracy = [0.5, 0.6, 0.6, None, 0.7]
    schedule = get_schedule("reduce_on_plateau", 1.0, 5, monitor="val_accuracy", mode="max", patience=1, factor=0.1)
    got = []
    for value in accuracy:
        got.append(schedule.lr(0))
        schedule.epoch_end({"val_accuracy": value})
    assert got == [1.0, 1.0, 1.0, 1.0, 0.1]  # 0.6 (no gain) and None: two bad epochs > patience 1


def _torch_lrs(make, epochs, base=0.1, metrics=None):
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base)
    scheduler = make(torch.optim.lr_scheduler, opt)
    out = []
    for epoch in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step(metrics[epoch]) if metrics else scheduler.step()
    return out


TORCH_CASES = [
    ("step", {"step_size": 3, "gamma": 0.5}, lambda L, o: L.StepLR(o, 3, 0.5)),
    ("exponential", {"gamma": 0.8}, lambda L, o: L.ExponentialLR(o, 0.8)),
    ("cosine", {"min_lr": 0.001}, lambda L, o: L.CosineAnnealingLR(o, EPOCHS, 0.001)),
    ("cosine", {"warmup_epochs": 3, "min_lr": 0.001}, lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, 1 / 4, 1.0, 3), L.CosineAnnealingLR(o, EPOCHS - 3, 0.001)], [3])),
    ("one_cycle", {"max_lr": 0.5}, lambda L, o: L.OneCycleLR(o, 0.5, total_steps=EPOCHS, cycle_momentum=False)),
    ("one_cycle", {"pct_start": 0.25, "div_factor": 10, "final_div_factor": 100},
     lambda L, o: L.OneCycleLR(o, 0.1, total_steps=EPOCHS, pct_start=0.25, div_factor=10,
                               final_div_factor=100, cycle_momentum=False)),
]


@pytest.mark.parametrize("name, options, make", TORCH_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])
def test_schedule_matches_torch(name, options, make):
    np.testing.assert_allclose(lrs(name, **options), _torch_lrs(make, EPOCHS), rtol=1e-12, atol=1e-15)


def test_reduce_on_plateau_matches_torch():
    losses = [1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.7, 0.9, 0.9, 0.9]
    ours = lrs("reduce_on_plateau", epochs=20, metrics=losses, patience=2, factor=0.5, min_delta=0.01,
               cooldown=1, min_lr=0.02)
    theirs = _torch_lrs(lambda L, o: L.ReduceLROnPlateau(o, "min", 0.5, 2, 0.01, "abs", 1, 0.02), 20, metrics=losses)
    assert ours == theirs
    assert ours[-1] == 0.02 and len(set(ours)) == 4  # 0.1, 0.05, 0.025, then the floor


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("cosine", {"warmup_epochs": 12}, "warmup_epochs"),
        ("cosine", {"min_lr": 1.0}, "min_lr"),
        ("step", {"step_size": 0}, "step_size"),
        ("one_cycle", {"pct_start": 1.0}, "pct_start"),
        ("reduce_on_plateau", {"factor": 1.0}, "factor"),
        ("reduce_on_plateau", {"mode": "auto"}, "mode"),
    ],
)
def test_invalid_schedule_options_raise_value_error(name, options, message):
    with pytest.raises(ValueError, match=message):
        get_schedule(name, 0.1, EPOCHS, **options)


def test_unknown_schedule_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        get_schedule("cyclic", 0.1, EPOCHS)
    for name in SCHEDULES:
        assert name in str(info.value)
