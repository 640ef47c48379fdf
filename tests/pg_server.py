"""A throwaway PostgreSQL server for the tests that need a real one
(tests/test_tune_postgres.py: `mlp tune --storage postgresql://...`).

pgserver (in the test extra) ships PostgreSQL's own binaries in its wheel:
``postgres_url`` runs initdb in a temporary folder, starts the server on a
Unix socket only (no TCP port to collide with), yields its ``postgresql://``
URL, then stops the server and deletes the folder. Run as root, pgserver runs
the server as an unprivileged ``pgserver`` user that it creates (and opens the
folders above the data folder to it): the folder is a fresh one in the system's
temporary directory, not under pytest's basetemp, whose parent another pytest
session may close again (mode 0700) while the server runs.

Where no server can be started (pgserver or the psycopg driver not installed,
a platform without its wheel, initdb or the start refused) the tests that use
it skip, naming the reason; under CI (CI=true, as .ci/run sets) they fail
instead, so a green CI means the real server test ran.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest

DRIVER_HINT = "pip install -e '.[test]' (pgserver, psycopg[binary])"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def unavailable(reason: str):
    """Skip (fail under CI) the test: no PostgreSQL server here, for ``reason``."""
    message = f"no PostgreSQL server: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI must run the PostgreSQL tests)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def postgres_url():
    """A ``postgresql://`` URL (socket in the data folder, user postgres, no
    password) of a fresh server holding only its default database."""
    try:
        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (its lock goes to /tmp then)
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        unavailable(f"cannot import pgserver ({exc}); {DRIVER_HINT}")
    try:
        import sqlalchemy
    except ImportError as exc:
        unavailable(f"cannot import sqlalchemy ({exc}); pip install -e '.[tune]'")

    root = Path(tempfile.mkdtemp(prefix="mlpcli-postgres-"))
    data = root / "data"
    try:
        server = pgserver.get_server(data, cleanup_mode="delete")
    except Exception as exc:  # noqa: BLE001 - initdb / pg_ctl / useradd: any failure means no server here
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"pgserver could not start one in {data} ({type(exc).__name__}: {exc})")
    try:
        url = server.get_uri()
        try:
            engine = sqlalchemy.create_engine(url)
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
            engine.dispose()
        except ImportError as exc:
            unavailable(f"no driver for {url} ({exc}); {DRIVER_HINT}")
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
