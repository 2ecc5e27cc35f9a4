"""``cds-service serve`` in a process of its own on a free 127.0.0.1 port, as operators run it.

For tests where the server's own process matters: its event loop apart from the test's, its
memory (RSS read from /proc), and the uvicorn options the command sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.live_server import free_port

CLI = Path(sys.executable).with_name("cds-service")


@dataclass(frozen=True)
class Served:
    base_url: str
    port: int
    pid: int
    log: Path

    def rss_bytes(self) -> int:
        """The server process's resident memory now."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without its RADIX_* settings, plus ``settings`` (auth off)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIX_")}
    env.update(RADIX_DATA_DIR=str(data_dir), RADIX_LOG_LEVEL="WARNING", RADIX_AUTH_REQUIRED="false")
    env.update({f"RADIX_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def served(data_dir: Path, **settings: str) -> Iterator[Served]:
    """Start ``cds-service serve`` with ``RADIX_*`` ``settings``; stop it (SIGTERM) afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(CLI), "serve", "--port", str(port)],
            env=environment(data_dir, **settings),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(process, port, log)
        yield Served(f"http://127.0.0.1:{port}", port, process.pid, log)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cds-service serve exited: {log.read_text()[-4000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"cds-service serve was not ready in 60 s: {log.read_text()[-4000:]}")
