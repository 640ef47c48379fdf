"""bench_train.py's measurements: each trial in its own process (mlpcli as the
real CLI, torch / sklearn / predict as train_workers.py), the warm-up and the
rotating repeats of a workload, the scaling, inference and start-up runs, and
the medians the report is made of."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from train_harness import (
    HERE, MB, check_child, last_json_line, log, mlp_command, mlpcli_source_hash, other_load, run_child,
)
from train_workloads import CACHE, WORKLOADS, dense_shapes, forward_flops, weights_shapes


def worker_command(*args) -> list[str]:
    return [sys.executable, str(HERE / "train_workers.py"), *map(str, args)]


def mlpcli_trial(config: Path, run_dir: Path, epochs: int | None = None) -> dict:
    """One `mlp train` run (with `--set train.epochs=EPOCHS` if given); epoch
    times from metrics.jsonl, test accuracy from metrics.json."""
    cmd = [*mlp_command(), "train", str(config), "--out", str(run_dir), "--quiet", "--overwrite"]
    if epochs is not None:
        cmd += ["--set", f"train.epochs={epochs}"]
    source = mlpcli_source_hash()
    child = check_child(run_child(cmd, cwd=CACHE))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    epoch_seconds = [json.loads(line)["epoch_seconds"] for line in lines if line.strip()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "framework": "mlpcli",
        "epoch_seconds": epoch_seconds,
        # the rows the run held out, as it counted them: the check that it trained on the rows meant
        "test_rows": sum(map(sum, metrics["test"]["confusion_matrix"])),
        "test_accuracy": metrics["test"]["accuracy"],
        "peak_rss_bytes": child["peak_rss_bytes"],
        "wall_seconds": child["wall_seconds"],
        "other_cpu_seconds": child["other_cpu_seconds"],
        "mlpcli_source": source,
        "weights": str(run_dir / "weights.npz"),
    }


def worker_trial(framework: str, workload: str, data: str, epochs: int) -> dict:
    cmd = worker_command(framework, "--workload", workload, "--data", data, "--epochs", epochs)
    child = check_child(run_child(cmd))
    result = last_json_line(child["stdout"])
    return {**result, "framework": framework, "peak_rss_bytes": child["peak_rss_bytes"],
            "wall_seconds": child["wall_seconds"], "other_cpu_seconds": child["other_cpu_seconds"]}


def epochs_override(workload: str, epochs: int) -> int | None:
    """None when the config already trains that many epochs (no --set needed)."""
    return None if epochs == WORKLOADS[workload]["epochs"] else epochs


def checked_rows(trial: dict, info: dict, label: str) -> dict:
    """Refuse a trial that did not hold out the rows mlpcli's split gave (so
    did not train on the rows meant): every figure per row depends on it."""
    if trial["test_rows"] != info["n_test"]:
        raise RuntimeError(f"{label}: the run held out {trial['test_rows']} rows, expected {info['n_test']} "
                           f"(it trained on other rows than the {info['n_train']} meant)")
    return trial


def run_trial(framework: str, workload: str, prepared: dict, epochs: int, tag: str) -> dict:
    info = prepared[workload]
    if framework == "mlpcli":
        run_dir = CACHE / "runs" / f"{workload}-{tag}-mlpcli"
        return checked_rows(mlpcli_trial(Path(info["config"]), run_dir, epochs_override(workload, epochs)), info, workload)
    return worker_trial(framework, workload, info["split_file"], epochs)


def run_workload(workload: str, settings: dict, prepared: dict, frameworks: list[str]) -> dict:
    """One untimed warm-up trial per framework, then R repeats in rotating order."""
    epochs, repeats = settings["epochs"][workload], settings["repeats"][workload]
    warmup = min(settings["warmup_epochs"][workload], epochs)
    for fw in frameworks:
        log(f"[{workload}] warm-up {fw} ({warmup} epoch{'s' * (warmup > 1)})")
        run_trial(fw, workload, prepared, warmup, "warmup")
    trials = {fw: [] for fw in frameworks}
    for r in range(repeats):
        order = frameworks[r % len(frameworks):] + frameworks[: r % len(frameworks)]
        for fw in order:
            t = run_trial(fw, workload, prepared, epochs, f"r{r}")
            if len(t["epoch_seconds"]) != epochs:
                raise RuntimeError(f"{workload}/{fw}: {len(t['epoch_seconds'])} epochs timed, expected {epochs}")
            t["repeat"], t["position"] = r, order.index(fw)
            trials[fw].append(t)
            log(f"[{workload}] repeat {r + 1}/{repeats} {fw:<7}: median {statistics.median(t['epoch_seconds']):.4g} "
                f"s/epoch, test accuracy {t['test_accuracy']:.4f}, peak RSS {t['peak_rss_bytes'] / MB:.0f} MB")
    return {"epochs": epochs, "repeats": repeats, "warmup_epochs": warmup, "trials": trials}


def summarise_workload(workload: str, run: dict, prepared: dict, peak: float) -> dict:
    """Per framework: medians over all timed epochs of all repeats, GFLOP/s and ratios to mlpcli."""
    info = prepared[workload]
    shapes = dense_shapes(info["n_features"], WORKLOADS[workload]["hidden"], info["n_classes"])
    train_flops = 3 * forward_flops(shapes) * info["n_train"]  # per epoch
    rows = {}
    for fw, trials in run["trials"].items():
        epochs = [s for t in trials for s in t["epoch_seconds"]]
        median = statistics.median(epochs)
        rows[fw] = {
            "s_per_epoch": median,
            "samples_per_s": info["n_train"] / median,
            "gflops": train_flops / median / 1e9,
            "fraction_of_peak": train_flops / median / 1e9 / peak,
            "test_accuracy": statistics.median(t["test_accuracy"] for t in trials),
            "peak_rss_bytes": max(t["peak_rss_bytes"] for t in trials),
            "n_epochs_timed": len(epochs),
            "other_load": other_load(trials),
        }
    for fw in rows:
        rows[fw]["mlpcli_over_this"] = rows["mlpcli"]["s_per_epoch"] / rows[fw]["s_per_epoch"]
    ratios = {f"mlpcli/{fw}": rows[fw]["mlpcli_over_this"] for fw in rows if fw != "mlpcli"}
    return {"ratios": ratios, "n_train": info["n_train"], "n_test": info["n_test"], "layers": shapes,
            "forward_flops_per_sample": forward_flops(shapes), "train_flops_per_epoch": train_flops, "rows": rows}


def run_scaling(settings: dict, prepared: dict) -> dict:
    """mlpcli's large model on 15,000 vs 60,000 training rows (alternating order)."""
    epochs, trials = settings["scaling_epochs"], settings["scaling_trials"]
    sizes = {"15k": prepared["scaling"], "60k": prepared["large"]}
    runs = {label: [] for label in sizes}
    for t in range(trials):
        labels = list(sizes) if t % 2 == 0 else list(reversed(sizes))
        for label in labels:
            run_dir = CACHE / "runs" / f"scaling-{label}-t{t}"
            result = mlpcli_trial(Path(sizes[label]["config"]), run_dir, epochs_override("large", epochs))
            runs[label].append(checked_rows(result, sizes[label], f"scaling {label}"))
            log(f"[scaling] {label}: median {statistics.median(result['epoch_seconds']):.4g} s/epoch")
    medians = {label: statistics.median(s for r in rs for s in r["epoch_seconds"]) for label, rs in runs.items()}
    return {
        "n_train": {label: info["n_train"] for label, info in sizes.items()},
        "epochs": epochs,
        "trials": {label: [r["epoch_seconds"] for r in rs] for label, rs in runs.items()},
        "median_s_per_epoch": medians,
        "ratio": medians["60k"] / medians["15k"],
        "other_load": other_load([r for rs in runs.values() for r in rs]),
        "weights_60k": runs["60k"][-1]["weights"],
        "mlpcli_sources": sorted({r["mlpcli_source"] for rs in runs.values() for r in rs}),
    }


def run_inference(weights: Path, settings: dict) -> dict:
    """predict_proba on 100,000 rows in a child process, then the `mlp predict`
    CLI. Its fraction of the GEMM peak is the caller's to add, once the peak is known."""
    data = CACHE / "predict_X.npy"
    child = check_child(run_child(worker_command("predict", "--weights", weights, "--data", data,
                                                 "--timings", settings["predict_timings"])))
    result = last_json_line(child["stdout"])
    shapes = weights_shapes(weights)
    flops = forward_flops(shapes) * result["n_rows"]
    median = statistics.median(result["seconds"])
    log(f"[inference] predict_proba: {median:.3f} s")
    cli_cmd = [*mlp_command(), "predict", str(weights), str(data), "-o", str(CACHE / "predict_out.npy")]
    check_child(run_child(cli_cmd))  # warm-up
    cli = [check_child(run_child(cli_cmd)) for _ in range(settings["cli_predict_runs"])]
    cli_median = statistics.median(c["wall_seconds"] for c in cli)
    log(f"[inference] mlp predict: {cli_median:.3f} s wall")
    return {
        "weights": str(weights),
        "layers": shapes,
        "n_rows": result["n_rows"],
        "predict_proba_seconds": result["seconds"],
        "predict_proba_median_s": median,
        "gflops": flops / median / 1e9,
        "worker_peak_rss_bytes": child["peak_rss_bytes"],
        "other_load": other_load([child]),
        "cli_predict_cmd": cli_cmd,
        "cli_predict_wall_seconds": [c["wall_seconds"] for c in cli],
        "cli_predict_median_s": cli_median,
        "cli_predict_peak_rss_bytes": max(c["peak_rss_bytes"] for c in cli),
    }


def run_startup(weights: Path, runs: int) -> dict:
    """Median wall time of `mlp --help` and `mlp info WEIGHTS`, each after one warm-up."""
    out = {}
    for name, args in (("help", ["--help"]), ("info", ["info", str(weights)])):
        cmd = [*mlp_command(), *args]
        check_child(run_child(cmd))
        children = [check_child(run_child(cmd, idle=False)) for _ in range(runs)]
        walls = [c["wall_seconds"] for c in children]
        out[name] = {"cmd": cmd, "wall_seconds": walls, "median_s": statistics.median(walls),
                     "other_load": other_load(children)}
        log(f"[start-up] mlp {' '.join(args[:1])}: {out[name]['median_s']:.3f} s")
    return out
