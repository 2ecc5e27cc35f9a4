"""Tests of ``tests/services.py``: each run is a pytest of its own, so its environment is ours.

A small test module is written to a temporary folder and run with the ``tests.services`` plugin
in a subprocess whose environment says what the machine has: a configured URL or none, server
binaries on PATH or not, ``RADIX_TEST_NO_SKIP`` or not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.services import (
    POSTGRES_URL_VARIABLE,
    REDIS_URL_VARIABLE,
    answers,
    require_postgres_bindir,
    require_redis_server,
)

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[1]
SERVICE_VARIABLES = (POSTGRES_URL_VARIABLE, REDIS_URL_VARIABLE, "RADIX_TEST_NO_SKIP")

# What the inner test learns from the servers it was given, written where the outer test reads it.
REPORT_FACTS = """
import asyncio, json, os, time
from pathlib import Path

import asyncpg
import redis


SETTINGS = ("data_directory", "listen_addresses", "fsync", "unix_socket_directories")
SUPERUSER = "SELECT usesuper FROM pg_user WHERE usename = current_user"


async def _postgres(url):
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        facts = {name: await connection.fetchval(f"SHOW {name}") for name in SETTINGS}
        return facts | {"superuser": await connection.fetchval(SUPERUSER)}
    finally:
        await connection.close()


def test_services(postgres_url, redis_url):
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.set("radix-test:probe", "1") and client.get("radix-test:probe") == b"1"
        keys = ("dir", "save", "appendonly", "bind")
        redis_facts = {key: client.config_get(key)[key] for key in keys}
    finally:
        client.close()
    facts = {
        "postgres_url": postgres_url,
        "redis_url": redis_url,
        "postgres": asyncio.run(_postgres(postgres_url)),
        "redis": redis_facts,
    }
    Path(os.environ["FACTS"]).write_text(json.dumps(facts))
    if os.environ.get("THEN_WAIT"):
        time.sleep(120)  # until the outer test presses Ctrl-C
"""

NEED_BOTH = """
import os


def test_postgres(postgres_url):
    assert postgres_url == os.environ["RADIX_TEST_POSTGRES_URL"]


def test_redis(redis_url):
    assert redis_url == os.environ["RADIX_TEST_REDIS_URL"]
"""


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.pop("PYTEST_ADDOPTS", None)
    return {
        **env,
        "PYTHONPATH": str(REPOSITORY),
        # Only the plugin under test: the installed ones (schemathesis, ...) are slow to import.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "FACTS": str(tmp_path / "facts.json"),
        **settings,
    }


def _command(tmp_path: Path, source: str) -> list[str]:
    folder = tmp_path / "inner"
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_inner.py").write_text(source)
    return [
        sys.executable,
        *("-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "tests.services"),
        str(folder),
    ]


def _pytest(tmp_path: Path, source: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(tmp_path, source),
        cwd=tmp_path,
        env=_environment(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def _assert_gone(facts: dict) -> None:
    """Both servers stopped and their directories removed."""
    for url in (facts["postgres_url"], facts["redis_url"]):
        assert not answers(_port(url)), f"{url} still answers"
    assert not Path(facts["postgres"]["data_directory"]).exists()
    assert not Path(facts["redis"]["dir"]).exists()


def _assert_throwaway(facts: dict) -> None:
    """The servers the inner session got are its own, set up as tests/services.py promises."""
    assert facts["postgres_url"].startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    assert facts["redis_url"].startswith("redis://127.0.0.1:")
    assert facts["postgres_url"] != os.environ.get(POSTGRES_URL_VARIABLE)
    assert facts["redis_url"] != os.environ.get(REDIS_URL_VARIABLE)
    assert facts["postgres"] == {
        "data_directory": facts["postgres"]["data_directory"],
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "unix_socket_directories": "",
        "superuser": True,
    }
    assert facts["redis"] | {"dir": ""} == {
        "dir": "",
        "save": "",
        "appendonly": "no",
        "bind": "127.0.0.1",
    }


def test_without_urls_throwaway_servers_are_started_used_and_removed(tmp_path: Path) -> None:
    require_postgres_bindir()
    require_redis_server()
    run = _pytest(tmp_path, REPORT_FACTS, RADIX_TEST_NO_SKIP="1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    facts = json.loads((tmp_path / "facts.json").read_text())
    _assert_throwaway(facts)
    _assert_gone(facts)


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_still_stops_and_removes_the_throwaway_servers(tmp_path: Path) -> None:
    require_postgres_bindir()
    require_redis_server()
    # Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    session = subprocess.Popen(
        _command(tmp_path, REPORT_FACTS),
        cwd=tmp_path,
        env=_environment(tmp_path, THEN_WAIT="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A suite started in the background (`cmd &`, nohup) ignores SIGINT, and a child
        # inherits that: the session slept through Ctrl-C. A terminal's job does not ignore it.
        preexec_fn=_sigint_as_in_a_terminal,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "facts.json").exists():
            assert session.poll() is None, session.communicate()[0]
            assert time.monotonic() < deadline, "the inner session never reported its servers"
            time.sleep(0.05)
        time.sleep(0.2)  # the report is written whole before the test goes to sleep
        os.killpg(session.pid, signal.SIGINT)
        try:
            output = session.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            # pytest's faulthandler prints every thread's stack on SIGABRT: where the session
            # hung goes into the failure.
            session.send_signal(signal.SIGABRT)
            try:
                output = session.communicate(timeout=10)[0]
            except subprocess.TimeoutExpired:
                session.kill()
                output = session.communicate()[0]
            pytest.fail(f"the interrupted session had not ended after 60 s:\n{output[-4000:]}")
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    assert session.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    facts = json.loads((tmp_path / "facts.json").read_text())
    _assert_throwaway(facts)
    _assert_gone(facts)


def test_configured_urls_are_used_as_they_are_and_nothing_is_started(tmp_path: Path) -> None:
    # PATH is empty: had the plugin tried to start a server it would have skipped instead.
    run = _pytest(
        tmp_path,
        NEED_BOTH,
        PATH="",
        RADIX_TEST_NO_SKIP="1",
        RADIX_TEST_POSTGRES_URL="postgresql+asyncpg://radix@127.0.0.1:1/elsewhere",
        RADIX_TEST_REDIS_URL="redis://127.0.0.1:1/3",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_missing_server_binaries_skip_naming_them(tmp_path: Path) -> None:
    run = _pytest(tmp_path, NEED_BOTH, PATH="")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 skipped" in run.stdout
    skips = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) == 2, run.stdout
    assert any("initdb is not on PATH" in line for line in skips), skips
    assert any("redis-server is not on PATH" in line for line in skips), skips


def test_missing_server_binaries_fail_under_no_skip(tmp_path: Path) -> None:
    run = _pytest(tmp_path, NEED_BOTH, PATH="", RADIX_TEST_NO_SKIP="1")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "2 errors in" in run.stdout and "SKIPPED" not in run.stdout
    assert "initdb is not on PATH" in run.stdout
    assert "redis-server is not on PATH" in run.stdout
    assert "RADIX_TEST_NO_SKIP is set" in run.stdout
