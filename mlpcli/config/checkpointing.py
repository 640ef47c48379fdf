"""``train.checkpoint_every``: how often a run saves the state `mlp resume` continues from."""
from __future__ import annotations

from pydantic import Field

from .base import Float, Int, Section

# A checkpoint (parameters, optimizer state, Generators; written and fsync'd)
# costs 1.5-8 ms for iris's 739 parameters and 38-48 ms for the benchmark's
# large model (536k parameters, 6.4 MB; 2026-12, shared machine, best and
# median of 15): every 2 s that is at most 0.4% / 2.5% of the training time,
# and a kill loses at most about 2 s of training (the budget is checked
# after every step). A checkpoint every epoch cost iris 7 ms per 1 ms epoch.
DEFAULT_SECONDS = 2.0


class CheckpointEveryConfig(Section):
    seconds: Float | None = Field(
        DEFAULT_SECONDS, gt=0,
        description="Save a checkpoint once this many seconds of training passed since the last one "
                    "(checked after every step; null: no time budget).")
    epochs: Int | None = Field(
        None, ge=1,
        description="Save a checkpoint at the end of every this many epochs (1: every epoch; null: no epoch count).")
