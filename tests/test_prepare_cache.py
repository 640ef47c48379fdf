"""prepare_cache: the runs of one process (a sweep's or tune's trials) that
would prepare the same built-in data set get it from the second run on
without loading or splitting again, and train exactly as without it; files
are read every time; the head is each run's own; the cache is bounded."""
from __future__ import annotations

import numpy as np
import pytest

from mlpcli import prepare_cache, runner, weights_file
from mlpcli.errors import ConfigError
from mlpcli.prepare import generators, prepare_data

IRIS = {"seed": 0, "data": {"dataset": "iris", "val_size": 0.2},
        "model": {"layers": [{"units": 8, "activation": "relu"}]},
        "train": {"epochs": 3, "batch_size": 16}, "output": {"plots": False}}


@pytest.fixture
def loads(monkeypatch):
    """An empty cache, and the list of the runs that really prepared their data."""
    prepare_cache.clear()
    done = []

    def counted(config, rngs=None):
        done.append(config["data"]["dataset"])
        return prepare_data(config, rngs)

    monkeypatch.setattr(runner, "prepare_data", counted)  # what runner.train gives the cache to prepare with
    yield done
    prepare_cache.clear()


def resolved(overrides=(), config=IRIS) -> dict:
    return runner.resolve_config(config, overrides)[0].to_dict()


def prepared(overrides=(), config=IRIS):
    config = resolved(overrides, config)
    rngs = generators(config["seed"])
    return prepare_cache.prepare(config, rngs, runner.prepare_data), rngs


def arrays(p) -> list[np.ndarray]:
    return [a for name in sorted(p.splits) for a in (p.splits[name].X, p.splits[name].y, p.splits[name].target)]


def test_from_the_third_run_on_the_data_comes_from_the_cache_as_preparing_gives_it(loads):
    (first, first_rngs), _ = prepared(), prepared()  # kept the second time: a single run holds no copy
    assert len(loads) == 2
    for _ in range(2):
        p, rngs = prepared(["train.optimizer.lr=0.1"])  # another trial's values, the same data
        assert len(loads) == 2
        assert all(np.array_equal(a, b) for a, b in zip(arrays(first), arrays(p), strict=True))
        assert (p.task, p.fingerprint, p.head) == (first.task, first.fingerprint, first.head)
        assert np.array_equal(p.classes, first.classes)
        assert {k: r.bit_generator.state for k, r in rngs.items()} == {k: r.bit_generator.state for k, r in first_rngs.items()}
        p.splits["train"].X *= 0  # training scales its copy in place: the next run's is untouched


def test_a_run_from_the_cache_trains_bit_for_bit_as_without_it(tmp_path, loads):
    for name in ("a", "b", "c"):
        runner.train(IRIS, tmp_path / name)
    assert len(loads) == 2
    prepare_cache.clear()
    runner.train(IRIS, tmp_path / "fresh")
    fresh = weights_file.read(tmp_path / "fresh" / "weights.npz")[0]
    cached = weights_file.read(tmp_path / "c" / "weights.npz")[0]
    assert fresh.keys() == cached.keys() and all(np.array_equal(fresh[k], cached[k]) for k in fresh)


def test_another_seed_or_data_section_is_prepared_afresh(loads):
    prepared(), prepared()
    other_seed, _ = prepared(["seed=1"])
    other_split, _ = prepared(["data.val_size=0.3"])
    assert len(loads) == 4
    same, _ = prepared()
    assert len(loads) == 4
    assert not np.array_equal(other_seed.splits["train"].y, same.splits["train"].y)
    assert len(other_split.splits["val"].y) != len(same.splits["val"].y)


def test_each_run_resolves_its_own_head(loads):
    prepared(), prepared()
    with pytest.raises(ConfigError, match="binary_cross_entropy"):  # iris has 3 classes
        prepared(["train.loss=binary_cross_entropy"])
    assert len(loads) == 2


def test_a_data_file_is_read_every_time(tmp_path, loads):
    csv = tmp_path / "d.csv"
    rows = "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(40))
    csv.write_text("a,b,label\n" + rows)
    config = {**IRIS, "data": {"dataset": str(csv), "val_size": 0.2}}
    for _ in range(2):
        prepared(config=config)
    csv.write_text("a,b,label\n" + rows.replace("6,", "60,"))  # edited between two trials
    changed, _ = prepared(config=config)
    assert len(loads) == 3
    assert np.max(np.concatenate([split.X[:, 0] for split in changed.splits.values()])) == 60


def test_the_cache_is_bounded(loads, monkeypatch):
    monkeypatch.setattr(prepare_cache, "MAX_ENTRIES", 1)
    for overrides in ([], [], ["seed=1"], ["seed=1"], ["seed=1"]):
        prepared(overrides)
    assert len(loads) == 4  # seed 1 kept in seed 0's place
    prepared()
    assert len(loads) == 5
    monkeypatch.setattr(prepare_cache, "MAX_BYTES", 0)  # nothing that large is kept
    prepared(["seed=2"]), prepared(["seed=2"]), prepared(["seed=2"])
    assert len(loads) == 8
