"""A start imports what the configuration uses, and nothing else (issue 13: start fast).

Alembic is for creating or upgrading a schema, the JWT and cryptography stack for checking
tokens, Redis for a shared cache: each takes tenths of a second to import, so a service whose
configuration does not use it must not import it. Checked in a fresh interpreter (the test
process has imported everything already): build the app, run its start-up on a database that
is already at the newest revision, and read ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.settings import Settings
from cds_service.store.migration import migrate

_START = """
import asyncio, json, sys
from cds_service.app import create_app
from cds_service.settings import Settings

settings = Settings(**json.loads(sys.argv[1]))
app = create_app(settings)

async def start_and_stop():
    async with app.router.lifespan_context(app):
        pass

asyncio.run(start_and_stop())
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""

#: Each unused by a start without authentication, Redis, notes or a new database; rich and
#: pygments would come with httpx's command-line client, which Radix never runs.
HEAVY = {"alembic", "jwt", "cryptography", "redis", "spacy", "medspacy", "rich", "pygments"}


def _imported_by_a_start(**settings: object) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-c", _START, json.dumps(settings, default=str)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return set(json.loads(run.stdout.splitlines()[-1]))


@pytest.fixture
async def migrated(tmp_path: Path) -> Path:
    """A data folder whose SQLite database is at the newest revision (every start but the first)."""
    data = tmp_path / "data"
    await migrate(Settings(data_dir=data))
    return data


async def test_a_start_without_authentication_imports_no_alembic_jwt_or_redis(
    migrated: Path,
) -> None:
    imported = _imported_by_a_start(data_dir=migrated, auth_required=False, notes_enabled=False)
    assert "cds_service" in imported and "sqlalchemy" in imported
    assert not HEAVY & imported


async def test_each_heavy_stack_comes_with_the_setting_that_uses_it(
    migrated: Path, tmp_path: Path
) -> None:
    # Authentication on: the JWT stack, but still no Alembic and no Redis.
    with_auth = _imported_by_a_start(data_dir=migrated, auth_required=True, notes_enabled=False)
    assert {"jwt", "cryptography"} <= with_auth
    assert not {"alembic", "redis"} & with_auth
    # A new embedded database: Alembic creates its schema.
    fresh = _imported_by_a_start(
        data_dir=tmp_path / "fresh", auth_required=False, notes_enabled=False
    )
    assert "alembic" in fresh
    # Redis configured (the rate-limit buckets are shared; nothing is sent to it at start).
    with_redis = _imported_by_a_start(
        data_dir=migrated,
        auth_required=False,
        notes_enabled=False,
        redis_url="redis://127.0.0.1:1/0",
    )
    assert "redis" in with_redis and "alembic" not in with_redis
