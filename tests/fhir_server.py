"""Pytest plugin: a real FHIR R4 server (@medplum/fhir-router, in memory) for integration tests.

Provides the session-scoped ``fhir_server`` fixture, a ``FhirTestServer`` over the Node shim in
``tests/fhir-server/server.cjs``.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

SERVER_DIR = Path(__file__).parent / "fhir-server"
INSTALL_COMMAND = "npm ci --prefix tests/fhir-server"
FAULT_MODES = frozenset(
    {"status-500", "invalid-json", "hang", "operation-outcome-400", "ignore-patient"}
)

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0
_CONTROL_TIMEOUT = 30.0
_LISTENING = "listening "


class FhirServerError(RuntimeError):
    """The test FHIR server could not be started or refused a control call."""


class FhirTestServer:
    """Client for the test FHIR server: its FHIR base URL and its ``/__control/`` endpoints."""

    def __init__(self, base_url: str, client: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.root_url = self.base_url.removesuffix("/fhir")
        self._client = client

    def load(self, resources: list[dict[str, Any]]) -> dict[str, Any]:
        """Store resources under their own ids in one transaction; return the response Bundle."""
        response = self._client.post(
            self.base_url,
            json=transaction_bundle(resources),
            headers={"Content-Type": "application/fhir+json"},
        )
        bundle = _json_or_raise(response, "load")
        failed = [
            entry.get("response", {}).get("status")
            for entry in bundle.get("entry", [])
            if not str(entry.get("response", {}).get("status", "")).startswith("2")
        ]
        if failed:
            raise FhirServerError(f"load: transaction entries failed with {failed}")
        return bundle

    def reset(self) -> None:
        """Empty the repository (faults, token and the request log are left as they are)."""
        self._control("POST", "reset")

    def requests(self) -> list[dict[str, Any]]:
        """FHIR requests since the last clear: ``method``, ``url`` (path+query), ``authorization``.

        ``authorization`` is the header exactly as received, or ``None`` when it was absent.
        """
        return self._control("GET", "requests")

    def clear_requests(self) -> None:
        self._control("DELETE", "requests")

    def set_faults(self, faults: dict[str, str]) -> None:
        """Make every request for each resource type misbehave; replaces the previous faults."""
        unknown = {mode for mode in faults.values() if mode not in FAULT_MODES}
        if unknown:
            raise ValueError(f"unknown fault modes {sorted(unknown)}; use {sorted(FAULT_MODES)}")
        self._control("PUT", "faults", faults)

    def clear_faults(self) -> None:
        """Remove all faults; requests held by ``hang`` are then answered normally."""
        self._control("DELETE", "faults")

    def require_token(self, token: str | None) -> None:
        """Demand ``Authorization: Bearer <token>`` on FHIR requests; ``None`` lifts it."""
        self._control("PUT", "auth", {"token": token})

    def _control(self, method: str, name: str, body: Any = None) -> Any:
        response = self._client.request(method, f"{self.root_url}/__control/{name}", json=body)
        return _json_or_raise(response, f"{method} /__control/{name}")


def transaction_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle that PUTs each resource at its own id."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
            for resource in resources
        ],
    }


def node_arguments(version: str) -> list[str]:
    """Node flags for the shim: @medplum/core needs WebSocket, flagged before Node 22."""
    major = int(version.strip().removeprefix("v").split(".")[0])
    return ["--experimental-websocket"] if major < 22 else []


def _json_or_raise(response: httpx.Response, action: str) -> Any:
    if response.status_code >= 400:
        raise FhirServerError(f"{action}: HTTP {response.status_code}: {response.text[:500]}")
    return response.json()


def _node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("The test FHIR server needs Node.js (>= 20) on PATH; `node` was not found.")
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.fail(
            f"The test FHIR server's Node packages are not installed in {SERVER_DIR}/node_modules. "
            f"Install them from the repository root with: {INSTALL_COMMAND}"
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return [node, *node_arguments(version), "server.cjs"]


def _read_base_url(process: subprocess.Popen[str], deadline: float) -> str:
    # The shim binds PORT=0 (a free port chosen by the OS) and prints the URL it got.
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = process.stdout.readline()
                if line.startswith(_LISTENING):
                    return line.removeprefix(_LISTENING).strip()
                if line == "" and process.poll() is not None:
                    break
            elif process.poll() is not None:
                break
    raise FhirServerError("the server did not report its address")


def _wait_until_answering(client: httpx.Client, base_url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if client.get(f"{base_url}/metadata", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise FhirServerError(f"{base_url}/metadata did not answer 200 in time")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _tail(log: IO[str]) -> str:
    log.seek(0)
    return log.read()[-4000:]


@contextmanager
def running_fhir_server() -> Iterator[FhirTestServer]:
    """Start the shim, wait until it answers, yield a client, and always stop the process."""
    command = _node_command()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        process = subprocess.Popen(
            command,
            cwd=SERVER_DIR,
            env={**os.environ, "PORT": "0"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            with httpx.Client(timeout=_CONTROL_TIMEOUT) as client:
                deadline = time.monotonic() + _START_TIMEOUT
                try:
                    base_url = _read_base_url(process, deadline)
                    _wait_until_answering(client, base_url, deadline)
                except FhirServerError as error:
                    pytest.fail(
                        f"Test FHIR server did not start ({error}); command {command}, "
                        f"exit code {process.poll()}, stderr:\n{_tail(log)}"
                    )
                yield FhirTestServer(base_url, client)
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirTestServer]:
    """A real FHIR R4 server for the whole session; tests reset what they change."""
    with running_fhir_server() as server:
        yield server
