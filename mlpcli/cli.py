"""The ``mlp`` command: thin Click commands that parse, call the runner, print.

Results go to stdout (as text, render.py, or ``--json``); progress, logs and
errors to stderr. Every error is one ``Error:`` line with the exit code from
DESIGN.md (2 bad input, 3 diverged, 130 / 143 interrupted, 1 a bug) and no
traceback unless --debug, which ``main`` takes from anywhere on the line.
"""
from __future__ import annotations

import os
import signal
import sys

import click

from . import render
from ._version import __version__
from .errors import MLPError
from .process import STOP, Signalled, StdoutError, discard_stdout, echo_result, fail, flush_stdout, on_signal, write_out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="mlpcli")
def cli():
    """Train multi-layer perceptrons from a YAML spec, on NumPy.

    \b
      mlp train configs/digits.yaml          train, write a run folder
      mlp resume runs/<run>                  continue an interrupted run
      mlp cv configs/iris.yaml --folds 5     k-fold cross-validation
      mlp eval runs/<run>/weights.npz        score it again from the file
      mlp predict weights.npz X.csv --proba  predictions for new rows
      mlp info weights.npz                   what a weights file holds
      mlp export weights.npz -o model.onnx   the whole model as ONNX
      mlp init --dataset wine > my.yaml      a commented starter config
      mlp validate my.yaml                   check it, print it resolved
      mlp tune my.yaml --range train.optimizer.lr=1e-4:1e-1:log --trials 40
                                             search hyperparameters (Optuna)
      mlp plot runs/a runs/b -o curves.png   overlay runs' learning curves
      mlp compare runs/a runs/b              config differences, test metrics

    Add --debug anywhere (or set MLP_DEBUG=1) for the traceback of an error.
    """


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Run folder (default: output.dir, else runs/<config>-<time>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. --set train.optimizer.lr=0.01 (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace the results in an existing run folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the run folder and final metrics as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train(config, out, overrides, overwrite, as_json, quiet):
    """Train the model CONFIG describes and write its run folder."""
    from .plots.worker import start_early

    plotter = start_early(config, overrides)  # matplotlib's import overlaps ours, not just the data and training
    try:
        from . import runner
    except BaseException:
        if plotter is not None:
            plotter.close()
        raise

    result = runner.train(
        config, out, overrides=overrides, overwrite=overwrite, callbacks=_progress(quiet), interrupt=STOP,
        background_plots=True, plotter=plotter,
    )
    _report(result, as_json)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the run folder and final metrics as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def resume(run_dir, as_json, quiet):
    """Continue the interrupted run in RUN_DIR from its checkpoint to the
    configured number of epochs (the same weights as an uninterrupted run)."""
    from . import runner

    _report(runner.resume(run_dir, callbacks=_progress(quiet), interrupt=STOP, background_plots=True), as_json)


def _progress(quiet: bool) -> list:
    if quiet or not sys.stderr.isatty():
        return []
    from .progress import ProgressBar

    return [ProgressBar()]


def _report(result, as_json: bool) -> None:
    note = f"; the run is complete and its results are in {result.run_dir}"
    if as_json:
        task = {"task": result.model.task, "task_note": result.task_note}  # task_note: "" if model.task set it
        echo_result({"run_dir": str(result.run_dir), **task, **result.metrics}, True, note=note)
    else:
        write_out(render.run_summary(result), note=note)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--folds", "-k", type=int, default=5, show_default=True, help="Number of folds (stratified for classification).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, as for mlp train (repeatable).")
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Write one run folder per fold, DIR/fold-1 ... (default: write nothing).")
@click.option("--overwrite", is_flag=True, help="Replace the results in existing fold folders under --out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: folds, metrics {name: mean, std, values}, ...")
@click.option("--quiet", "-q", is_flag=True, help="No progress line per fold.")
def cv(config, folds, overrides, out, overwrite, as_json, quiet):
    """Cross-validate the model CONFIG describes: K folds over every row of its
    data, each trained as `mlp train` would and scored on the held-out fold;
    prints the mean and std of every metric over the folds."""
    from .crossval import cross_validate

    def on_fold(i, k, result):
        click.echo(render.fold_line(i, k, result), err=True)

    live = not quiet and sys.stderr.isatty()
    result = cross_validate(config, folds, overrides=overrides, out=out, overwrite=overwrite, on_fold=on_fold if live else None)
    echo_result(result, as_json, render.cv_table)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--grid", multiple=True, metavar="KEY=V1,V2,...", help="Try each value (YAML) of KEY; several --grid make a product.")
@click.option("--random", "n_random", type=click.IntRange(min=0), default=0, help="Draw N points from the --range options (reproducible from the config's seed).")
@click.option("--range", "ranges", multiple=True, metavar="KEY=LOW:HIGH[:log]", help="Uniform (or log-uniform) range for --random; integers if LOW and HIGH are.")
@click.option("--seeds", type=int, metavar="K", help="Run each point with seeds seed, seed+1, ..., seed+K-1.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key in every trial (repeatable).")
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Sweep folder (default: sweeps/<config name>); one run folder per trial inside.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="Trials at once, in local worker processes.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run the trials on this Dask distributed scheduler (pip install 'mlpcli[dask]').")
@click.option("--print-commands", is_flag=True, help="Print one `mlp train` command per trial and run nothing.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed trial (default: record it and go on).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: counts, leaderboard, failures.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line per trial.")
def sweep(config, grid, n_random, ranges, seeds, overrides, out, jobs, scheduler, print_commands, fail_fast, as_json, quiet):
    """Train every variant of CONFIG (grid, random draws, seeds), each a run
    folder under the sweep folder; write results.csv / results.jsonl and print
    a leaderboard. Finished trials are skipped when the sweep runs again.
    Exit 0 only if every trial completed, else 2 (failures are in results.csv)."""
    from . import sweep as sweeps

    plan = sweeps.plan(config, grid=grid, ranges=ranges, n_random=n_random, seeds=seeds, sets=overrides, out=out)
    if print_commands:
        write_out("\n".join(sweeps.commands(plan)))
        return
    if scheduler and jobs != 1:
        raise MLPError("--jobs and --scheduler: choose one (the Dask cluster decides how many trials run at once)")

    def on_trial(done, total, row):
        click.echo(render.trial_line(done, total, row), err=True)

    live = not quiet and sys.stderr.isatty()
    result = sweeps.run(plan, jobs=jobs, scheduler=scheduler, fail_fast=fail_fast, on_trial=on_trial if live else None)
    echo_result(result, as_json, render.leaderboard)
    if result["failed"] or result["not_run"]:
        first = result["failures"][0] if result["failures"] else {"trial": "-", "error": "not run"}
        raise sweeps.SweepFailed(
            f"{result['failed']} of {result['trials']} trials failed"
            + (f", {result['not_run']} not run (--fail-fast)" if result["not_run"] else "")
            + f"; see {result['sweep_dir']}/results.csv; first: {first['trial']}: {first['error']}"
        )


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--range", "ranges", multiple=True, metavar="KEY=LOW:HIGH[:log]", help="Search KEY in [LOW, HIGH] (log scale with :log; integers if LOW and HIGH are).")
@click.option("--choice", "choices", multiple=True, metavar="KEY=A,B,...", help="Search KEY among these values (YAML).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key in every trial (repeatable).")
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True, help="Finished trials the study should hold (a rerun continues to N).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Start no trial after this long.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "cmaes"]), default="tpe", show_default=True, help="How trials are drawn (seeded from the config's seed).")
@click.option("--pruner", type=click.Choice(["hyperband", "halving", "median", "none"]), help="How bad trials are stopped early (halving: successive halving)  [default: hyperband; a rerun: the study's]")
@click.option("--min-epochs", type=click.IntRange(min=1), metavar="N", help="Epochs every trial trains before it can be stopped (the first rung)  [default: a twentieth of train.epochs; median: 1; a rerun: the study's]")
@click.option("--reduction-factor", type=click.IntRange(min=2), metavar="N", help="Hyperband / halving: a trial goes on past a rung only when among the best 1/N there  [default: 4; a rerun: the study's]")
@click.option("--storage", metavar="URL", help="The study's database, e.g. postgresql://user@host/db (shared by machines)  [default: sqlite in the tune folder]")
@click.option("--study-name", metavar="NAME", help="The study in the storage  [default: the tune folder's name]")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="Trial processes at once on this machine.")
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Tune folder (default: tunes/<config name>); one run folder per trial.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: counts, best trial, leaderboard.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line per trial.")
def tune(config, ranges, choices, overrides, trials, timeout, sampler, pruner, min_epochs, reduction_factor, storage,
         study_name, jobs, out, as_json, quiet):
    """Search CONFIG's hyperparameters with Optuna (pip install 'mlpcli[tune]'):
    each trial a run folder under the tune folder, bad ones pruned early;
    writes results.csv / results.jsonl and best.yaml, prints a leaderboard.
    Rerunning continues the study."""
    from . import tune as tuning

    plan = tuning.plan(config, ranges=ranges, choices=choices, sets=overrides, sampler=sampler, pruner=pruner,
                       min_epochs=min_epochs, reduction_factor=reduction_factor, storage=storage,
                       study_name=study_name, out=out)
    result = tuning.run(plan, trials=trials, timeout=timeout, jobs=jobs, progress=not quiet and sys.stderr.isatty())
    echo_result(result, as_json, render.tune_leaderboard)


@cli.command("eval")
@click.argument("weights", type=click.Path())
@click.option("--data", "data_file", type=click.Path(dir_okay=False), help="Score every row of this .npz (X, y) or .csv file instead.")
@click.option("--split", type=click.Choice(["test", "val", "train", "all"]), help="Which split of the model's own data to score  [default: test]")
@click.option("--per-class", "per_class", is_flag=True, help="Add a table of precision, recall, F1 and support per class (or label).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(weights, data_file, split, per_class, as_json):
    """Score the model in WEIGHTS, on the data it was trained on (rebuilt from
    the config stored in the file) or on --data."""
    from . import runner

    result = runner.evaluate(weights, data_file, split, per_class=per_class, class_names=not as_json)
    echo_result(result, as_json, render.eval_text)


@cli.command()
@click.argument("weights", type=click.Path())
@click.argument("input_file", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--proba", is_flag=True, help="One probability column per class, in meta.classes order.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE (.csv or .npy) instead of stdout.")
def predict(weights, input_file, proba, output):
    """Predict for the rows of INPUT (.csv, .npz or .npy; raw, unscaled features)."""
    from . import runner
    from .artifacts import write_table

    if output and not output.lower().endswith((".csv", ".npy")):
        raise MLPError(f"-o {output}: use a .csv or .npy file name")
    text = write_table(output, *runner.predict(weights, input_file, proba))
    if text is not None:
        write_out(text, nl=False)


@cli.command()
@click.argument("weights", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(weights, as_json):
    """Show the architecture, parameter count and training summary in WEIGHTS."""
    from . import runner

    echo_result(runner.info(weights), as_json, render.info_text)


@cli.command()
@click.argument("weights", type=click.Path())
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The .onnx file to write.")
def export(weights, output):
    """Export WEIGHTS as one ONNX graph: scaling, layers, probabilities and labels (pip install 'mlpcli[onnx]')."""
    from .onnx_export import export as _export

    d = _export(weights, output)
    write_out(f"{d['path']}: ONNX opset {d['opset']}, input {', '.join(d['inputs'])} -> {', '.join(d['outputs'])}")


# --------------------------------------------------------------------------- looking at results


@cli.command()
@click.argument("paths", metavar="RUN_DIR... | SWEEP_DIR | TUNE_DIR", nargs=-1, required=True, type=click.Path())
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="The PNG to write  [default: plot.png, SWEEP_DIR/<KEY>.png or TUNE_DIR/tune.png]")
@click.option("--metric", metavar="NAME", help="Runs: the per-epoch figure to overlay (val_accuracy, train_loss, lr ...; accuracy means val_accuracy). Sweep: the final test metric  [default: accuracy, subset_accuracy or r2]. Tune: the per-epoch figure of the best trials' curves  [default: the monitored metric]")
@click.option("--x", "x_key", metavar="KEY", help="Sweep: the swept config key on the x axis, e.g. train.optimizer.lr.")
def plot(paths, output, metric, x_key):
    """Overlay the learning curves of several runs (one colour per run), or
    with --x plot a sweep's final test metric against a swept key (mean and
    std over seeds), or draw a tune folder's optimisation history, parameter
    importances and best trials' learning curves. Prints the PNG's path."""
    from pathlib import Path

    from . import plots
    from .artifacts import atomic_write
    from .plots import tune as tune_plots

    if x_key:
        if len(paths) != 1 or not (Path(paths[0]) / plots.SWEEP_RESULTS).is_file():
            raise MLPError(f"--x {x_key}: takes one sweep folder (holding {plots.SWEEP_RESULTS}), got {' '.join(paths)}")
        png = plots.sweep_plot(paths[0], x_key, metric)
        output = output or str(Path(paths[0]) / f"{x_key}.png")
    elif any(tune_plots.is_tune(p) for p in paths):
        if len(paths) != 1:
            raise MLPError(f"{next(p for p in paths if tune_plots.is_tune(p))}: a tune folder; plot it alone")
        png = tune_plots.tune_plot(paths[0], metric)
        output = output or str(Path(paths[0]) / tune_plots.TUNE_PLOT)
    else:
        if any(plots.is_sweep(p) for p in paths):
            raise MLPError(f"{next(p for p in paths if plots.is_sweep(p))}: a sweep folder; plot it with --x KEY")
        png = plots.plot_runs(paths, metric)
        output = output or "plot.png"
    if not output.lower().endswith(".png"):
        raise MLPError(f"-o {output}: use a .png file name")
    write_out(str(atomic_write(output, png)))


@cli.command()
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True, type=click.Path())
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one row per run: run, the differing config keys, test.<metric>...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: runs, status, config {key: [value per run]}, metrics {name: [...]}.")
def compare(run_dirs, as_csv, as_json):
    """Set runs side by side: the config keys that differ between them
    (dotted paths) and every final test metric; a column per run."""
    from . import compare as comparing

    if as_csv and as_json:
        raise MLPError("--csv and --json: choose one")
    echo_result(comparing.compare(run_dirs), as_json, comparing.csv_text if as_csv else comparing.table, nl=False)


@cli.command()
@click.argument("run_a", type=click.Path())
@click.argument("run_b", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object: config {key: {old, new}}, metrics {name: {old, new, delta}}.")
def diff(run_a, run_b, as_json):
    """What changed from RUN_A to RUN_B: each config key that differs
    (old -> new) and each final test metric with its change."""
    from . import compare as comparing

    echo_result(comparing.diff(run_a, run_b), as_json, comparing.diff_text, nl=False)


# --------------------------------------------------------------------------- config tools


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, as for mlp train (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved config as one JSON object instead of YAML.")
def validate(config, overrides, as_json):
    """Check CONFIG ('-': standard input) and print it resolved, every default
    filled in, without reading any data (model.task auto stays auto); or print
    every problem and exit 2."""
    from .config_tools import resolved_without_data

    import yaml

    echo_result(resolved_without_data(config, overrides), as_json, lambda d: yaml.safe_dump(d, sort_keys=False), nl=False)


@cli.command()
@click.option("--dataset", default="digits", show_default=True, help="A built-in data set, openml:NAME, or a .npz / .csv / .npy path.")
@click.option("--task", type=click.Choice(["classification", "regression", "multilabel"]), help="The task (default: the data set's own, else auto).")
@click.option("--schema", "schema_ref", metavar="REF", help="The $schema path or URL of the first line  [default: ../schema/mlpcli.schema.json]")
def init(dataset, task, schema_ref):
    """Print a commented starter config for a data set and task (save it, edit it, train it)."""
    from .config_tools import SCHEMA_REF, starter_config

    write_out(starter_config(dataset, task, schema_ref or SCHEMA_REF), nl=False)


@cli.command()
def schema():
    """Print the JSON Schema of a config file (for editors: see the README)."""
    from .config_tools import schema_text

    write_out(schema_text(), nl=False)


# --------------------------------------------------------------------------- entry point


def main(argv=None) -> None:
    """Run ``mlp``; map every failure to one ``Error:`` line and an exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    # --debug is accepted anywhere on the line (mlp train x.yaml --debug), not only before the command.
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end] or os.environ.get("MLP_DEBUG", "") not in ("", "0")
    args = [a for i, a in enumerate(args) if a != "--debug" or i >= end]
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        code = cli.main(args=args, prog_name="mlp", standalone_mode=False)
        flush_stdout()
    except click.exceptions.Exit as exc:  # pragma: no cover - click returns it in non-standalone mode
        code = exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `mlp`: the help page, as it is
        click.echo(exc.ctx.get_help())
        code = 0
    except click.exceptions.Abort:
        code = fail("interrupted", 130)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        from .config.messages import spaced_override  # `--set KEY VALUE`: say where the '=' goes

        code = fail(spaced_override(args, exc.format_message()) or exc.format_message() + hint, exc.exit_code)
    except click.ClickException as exc:
        code = fail(exc.format_message(), exc.exit_code)
    except MLPError as exc:
        if isinstance(exc, StdoutError):
            discard_stdout()
        code = fail(str(exc), exc.exit_code, debug)
    except KeyboardInterrupt:
        code = fail("interrupted", 130)
    except Signalled as exc:
        code = fail("interrupted" if exc.signum == signal.SIGINT else "terminated", 128 + exc.signum)
    except BrokenPipeError:
        # stdout closed early (mlp predict ... | head): not an error of ours.
        sys.stderr.close()
        code = 0
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        what = f"{type(exc).__name__}: {exc}" if str(exc).strip() else type(exc).__name__
        hint = "" if debug else " (rerun with --debug for the traceback)"
        code = fail(f"internal error: {what}{hint}", 1, debug)
    # The exit code is decided: a late Ctrl-C (the interpreter resets Python-level
    # handlers to the default while it shuts down) must not turn it into a kill.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code or 0)
