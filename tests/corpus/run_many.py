"""Run many ``mlp`` command lines, each in its own process, paying the start-up once.

    python tests/corpus/run_many.py < jobs.json > results.json

jobs.json: a list of {"argv": [...], "cwd": DIR}. Each job runs the real
entry point, ``mlpcli.cli.main(argv)``, in a child forked from a process that
has already imported mlpcli, with its own stdout and stderr; the result is a
list of {"code", "stdout", "stderr"}, one per job. tests/test_corpus.py uses it
to put ~100 corpus files through the CLI in seconds (and checks a few against
`python -m mlpcli` itself).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile


def run(job: dict) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: the command, as `mlp` runs it
            code = 1
            try:
                os.chdir(job["cwd"])
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                from mlpcli.cli import main

                main(job["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return {
            "code": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


if __name__ == "__main__":
    # Imported once, before the forks: mlpcli and what some runs import once their data is read
    # (scikit-learn for the generated data sets and data.options, ~0.8 s each child would pay again).
    import sklearn.datasets  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    import mlpcli.cli  # noqa: F401
    import mlpcli.runner  # noqa: F401

    json.dump([run(job) for job in json.load(sys.stdin)], sys.stdout)
