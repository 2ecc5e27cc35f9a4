"""The metrics endpoint of ``cds-service serve``: one port, the sum of every process's values.

Several processes, one set of numbers: ``serve`` runs prometheus-client's multiprocess mode.
Before the app is built (and with it ``cds_service.metrics``' families), ``prepare_multiprocess``
points ``PROMETHEUS_MULTIPROC_DIR`` at a private folder; every process serving requests then
keeps its values in memory-mapped files there, and the endpoint, a thread of the process that
owns the folder, sums them at each scrape (``start_exporter``). With one process, that process
is both. With worker processes the supervisor runs the endpoint and the workers, which inherit
the variable, write; a supervisor that replaces a dead worker calls ``worker_exited`` so the
dead one's gauges stop counting. A dead worker's counters keep counting: a total does not go
down when a worker is replaced.

The endpoint listens on ``RADIX_METRICS_HOST:RADIX_METRICS_PORT``, never on the port EHRs call;
it answers every path with the metrics (``/metrics`` is what scrapers ask for).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(parent: Path | None = None) -> tuple[Path, bool]:
    """Make every metric created from now on shared through a folder; return it and whether it
    is ours to remove.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is used as it is (and kept); otherwise a private
    folder is made under ``parent`` (the system's temporary folder by default: a tmpfs or an
    emptyDir in a container with a read-only root).
    """
    existing = os.environ.get(MULTIPROC_VARIABLE, "").strip()
    if existing:
        folder, owned = Path(existing), False
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder, owned = Path(tempfile.mkdtemp(prefix="radix-metrics-", dir=parent)), True
        os.environ[MULTIPROC_VARIABLE] = str(folder)
    from prometheus_client import values

    # prometheus-client chooses its value class when first imported; if that was before the
    # variable was set, choose again, so every metric created from now on is shared.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return folder, owned


def shared_values() -> bool:
    """Whether ``cds_service.metrics``' families keep their values in the shared folder."""
    from cds_service import metrics

    return type(metrics.AUDIT_LOST._value).__name__ == "MmapedValue"


@dataclass
class Exporter:
    """The running endpoint."""

    folder: Path
    owned: bool
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        if self.owned:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_exporter(host: str, port: int, folder: Path, owned: bool) -> Exporter:
    """Serve the sum of the values of every process writing to ``folder`` on ``host:port``."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    if not shared_values():
        raise RuntimeError(
            "cds_service.metrics was imported before prepare_multiprocess(): "
            "its values would not be shared between processes"
        )
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return Exporter(folder, owned, server, thread)


def worker_exited(pid: int) -> None:
    """For a supervisor of worker processes: a dead worker's live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
