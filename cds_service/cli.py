"""``cds-service``: serve, evaluate one request, and look after the store."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cds_service.errors import ServiceError
from cds_service.settings import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    import socket

    import uvicorn

    from cds_service.cards import CdsResponse
    from cds_service.metrics_endpoint import Exporter
    from cds_service.store import Store, Summary

Command = Callable[[argparse.Namespace, Settings], int]

#: Most worker processes ``serve --workers`` starts (as ``RADIX_WORKERS`` allows).
_MAX_WORKERS = 256

#: The youngest generation's collection threshold in a serving process (CPython's default: 700).
#: A hook call leaves no reference cycle behind (tests/app/test_gc.py), so what the cyclic GC
#: would find is start-up's, not the requests'; the count is of allocations net of
#: deallocations, so a pass comes only when the live young set grows this much.
GEN0_THRESHOLD = 100_000


def settle_gc() -> None:
    """Set the cyclic GC for serving: ``serve`` calls this once its app is up, and
    ``bench/instructions.py`` once warmed up, so that it counts what ``serve`` runs."""
    # What start-up loaded (modules, value sets, schemas, FHIR models) lives as long as the
    # process: exempt it from the cyclic GC. Every full collection walked it all, inside
    # whatever C call allocated, holding the GIL: decoding one 1 MiB body of small arrays took
    # 0.75 s instead of 0.12 s, and the event loop waited as long.
    gc.freeze()
    # A hook call decodes tens of thousands of short-lived objects, freed by reference counting;
    # at the default threshold (700) the youngest generation was collected dozens of times a
    # call, each pass walking the requests still in flight, to free nothing (at 10,000: 4-6 %
    # of the CPU under load, for the same nothing).
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])


#: What ``_store_call`` returns when the database could not be used (the reason is printed).
_FAILED: Any = object()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.start is not None and args.end is not None and args.start >= args.end:
        # The sub-command's parser, so the usage shown is the one of the command that was typed.
        args.usage_error("--from must be earlier than --to")
    settings = _configured()
    if settings is None:
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # Alembic says at INFO which database dialect it found and each migration it runs; the
    # commands say what they did in one line of their own instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command: Command = args.command
    return command(args, settings)


def _configured() -> Settings | None:
    """The settings from RADIX_*; None, once the problem is printed, if a value is unusable."""
    try:
        return load_settings()
    except ConfigurationError as exc:
        # A mistyped RADIX_* variable is the operator's to fix: say which, without a traceback.
        for problem in str(exc).splitlines():
            print(f"cds-service: invalid configuration: {problem}", file=sys.stderr)
        return None


class _VersionAction(argparse.Action):
    """``--version``: the package and the knowledge version this configuration would serve."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser.exit(_print_version())


def _print_version() -> int:
    from importlib.metadata import PackageNotFoundError, version

    from cds_service.clinical import KnowledgeError, load_knowledge

    # The knowledge version covers the thresholds and site-local codes, which come from RADIX_*.
    settings = _configured()
    if settings is None:
        return 2
    try:
        # Reads the value sets and hashes them with the rules (tens of ms): no app, no store.
        knowledge = load_knowledge(settings.local_codes_dir, settings.clinical).version
    except (KnowledgeError, OSError) as exc:
        print(f"cds-service: cannot load the clinical knowledge: {exc}", file=sys.stderr)
        return 1
    try:
        package = version("radix-cds")
    except PackageNotFoundError:
        package = "unknown (not installed)"
    print(f"radix-cds {package}\nknowledge {knowledge}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-service", description="Radix CDS Hooks service")
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the package version and the knowledge version, and exit",
    )
    parser.set_defaults(start=None, end=None)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the HTTP service (uvicorn)")
    serve.add_argument("--host", help="bind address (default: RADIX_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: RADIX_PORT or 8080)")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        metavar="N",
        help="worker processes, each with its own event loop (default: RADIX_WORKERS, else one "
        "per core on PostgreSQL and 1 on SQLite; more than 1 with authentication on needs "
        "RADIX_REDIS_URL)",
    )
    serve.set_defaults(command=_serve)

    evaluate = commands.add_parser(
        "evaluate", help="print the response to one hook request, through the same engine"
    )
    evaluate.add_argument("request", type=Path, help="hook request JSON file (- for stdin)")
    evaluate.add_argument(
        "--service", help="service id (default: the service of the request's hook)"
    )
    evaluate.add_argument(
        "--now",
        type=_instant,
        help="evaluate as of this ISO date-time instead of the clock (e.g. a vignette's asOf)",
    )
    evaluate.set_defaults(command=_evaluate)

    migrate = commands.add_parser("migrate", help="bring the database schema to the newest version")
    migrate.set_defaults(command=_migrate)

    report = commands.add_parser("report", help="card acceptance and override analytics")
    report.add_argument(
        "--from",
        dest="start",
        type=_start_bound,
        metavar="DATE",
        help="ISO date (from its UTC midnight) or date-time, inclusive",
    )
    report.add_argument(
        "--to",
        dest="end",
        type=_end_bound,
        metavar="DATE",
        help="ISO date (that whole UTC day included) or date-time, exclusive",
    )
    report.add_argument("--csv", action="store_true", help="CSV instead of text tables")
    report.set_defaults(command=_report, usage_error=report.error)

    purge = commands.add_parser("purge", help="delete audit and feedback rows older than N days")
    purge.add_argument("--older-than", type=_days, required=True, metavar="DAYS")
    purge.set_defaults(command=_purge)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.log_format import configure_logging
    from cds_service.store import is_sqlite
    from cds_service.workers import WorkersRefused, available_cores, plan_workers

    # JSON lines with the request id; uvicorn's loggers go through the same handler, and the
    # app writes its own access line (without uvicorn's, which would duplicate it).
    configure_logging(settings.log_level, settings.log_format)
    # The command line wins over the environment, and the default JWT audiences follow the port.
    overrides = {"host": args.host, "port": args.port, "workers": args.workers}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    try:
        workers, why = plan_workers(
            settings.workers,
            sqlite=is_sqlite(settings.sqlalchemy_url),
            auth_required=settings.auth_required,
            redis=bool(settings.redis_url),
            cores=available_cores(),
        )
    except WorkersRefused as exc:
        print(f"cds-service serve: {exc}", file=sys.stderr)
        return 2
    if why:
        logging.getLogger("radix.app").warning(why)
    problem = _unusable_files(settings)
    if problem is not None:
        for line in problem.splitlines():  # a value set's validation error spans lines
            print(f"cds-service serve: {line}", file=sys.stderr)
        return 2
    # Bound before anything starts: a port in use is one line, not a started app that then fails.
    try:
        sock = _bound_socket(settings.host, settings.port)
    except OSError as exc:
        address = _address(settings.host, settings.port)
        print(f"cds-service serve: cannot listen on {address}: {exc.strerror}", file=sys.stderr)
        return 1
    # Before the app and its metrics exist, so every process's numbers add up at one endpoint.
    try:
        exporter = _metrics_exporter(settings)
    except OSError as exc:
        sock.close()
        address = _address(settings.metrics_host, settings.metrics_port)
        print(
            f"cds-service serve: cannot serve metrics on {address}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    if workers > 1:
        return _serve_workers(settings, sock, exporter, workers)
    from cds_service.app import create_app

    app = create_app(settings)
    # The metrics endpoint stops with the server (uvicorn then re-raises SIGTERM: no finally).
    server = _ready_server(
        _uvicorn_config(app, settings), lambda: _about(app), exporter.close if exporter else None
    )
    with sock:
        server.run(sockets=[sock])
    # A failed lifespan has logged why and exited (3); as uvicorn.run, a server stopped before
    # it started (a signal during start-up) is a start-up failure too.
    return 0 if server.started else 3


def _unusable_files(settings: Settings) -> str | None:
    """Why the files the app starts from (the trusted clients, the clinical knowledge) cannot be
    used, or None. Read before anything is bound or forked, so that a mistake in them is said in
    plain lines with exit code 2, not as a traceback from each worker's start-up; the app reads
    them again as it starts (a few milliseconds)."""
    from cds_service.clinical import KnowledgeError, load_knowledge

    try:
        load_knowledge(settings.local_codes_dir, settings.clinical)
    except (KnowledgeError, OSError) as exc:
        return f"cannot load the clinical knowledge: {exc}"
    if settings.auth_required and settings.trusted_clients_file is not None:
        from cds_service.auth import TrustFileError, load_trusted_clients

        try:
            load_trusted_clients(settings.trusted_clients_file)
        except TrustFileError as exc:
            return str(exc)
    return None


def _serve_workers(
    settings: Settings, sock: socket.socket, exporter: Exporter | None, count: int
) -> int:
    """``count`` worker processes on ``sock`` (``cds_service.workers``); this one supervises."""
    from cds_service.app import create_app  # imported once here, shared by every worker
    from cds_service.workers import Supervisor

    def run_worker(index: int, ready: Callable[[str], None]) -> int:
        if exporter is not None:
            exporter.server.socket.close()  # the supervisor's listener, not this worker's
        # One daily retention purge for the service, not one per worker.
        own = settings if index == 0 else settings.model_copy(update={"audit_retention_days": 0})
        app = create_app(own)
        server = _ready_server(_uvicorn_config(app, own), lambda: _about(app), ready=ready)
        server.run(sockets=[sock])
        return 0 if server.started else 3

    def announce(about: str) -> None:
        host, port = sock.getsockname()[:2]
        logging.getLogger("radix.app").info(
            "Radix ready: listening on http://%s, %s, %d workers",
            _address(host, port),
            about,
            count,
        )

    supervisor = Supervisor(
        count,
        run_worker,
        sock,
        worker_exited=_forget_worker_metrics if exporter is not None else None,
        ready=announce,
    )
    try:
        return supervisor.run()
    finally:
        if exporter is not None:
            exporter.close()


def _forget_worker_metrics(pid: int) -> None:
    from cds_service.metrics_endpoint import worker_exited

    worker_exited(pid)


def _about(app: Any) -> str:
    """What the app serves with; read once started (the lifespan builds ``app.state.runtime``)."""
    runtime = app.state.runtime
    store = "SQLite" if runtime.store.sqlite else "PostgreSQL"
    return f"knowledge {runtime.advisor.knowledge.version}, store {store}"


def _uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn with the connection limits of ``connection_limits`` (h11, head size and time,
    connection count), keep-alive and proxy-header trust from the settings."""
    import uvicorn

    from cds_service.app.connection_limits import ConnectionLimits, limited_h11

    limits = ConnectionLimits(settings.max_connections, settings.header_timeout_seconds)
    trusted = settings.forwarded_allow_ips.strip()
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=20,
        http=limited_h11(limits),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=settings.keep_alive_seconds,
        ws="none",  # no WebSocket route: an upgrade is not even attempted
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


def _metrics_exporter(settings: Settings) -> Exporter | None:
    """The metrics endpoint, started (None when RADIX_METRICS_PORT is 0)."""
    if not settings.metrics_port:
        return None
    from cds_service.metrics_endpoint import prepare_multiprocess, start_exporter

    return start_exporter(settings.metrics_host, settings.metrics_port, *prepare_multiprocess())


def _bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, not yet listening (uvicorn listens once the app is up)."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        # As uvicorn does: a restart may rebind while the last run's connections linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ready_server(
    config: uvicorn.Config,
    about: Callable[[], str],
    stopped: Callable[[], None] | None = None,
    ready: Callable[[str], None] | None = None,
) -> uvicorn.Server:
    """A uvicorn server that says when it serves: "Radix ready" in the log, or, in a worker,
    ``ready(about())`` for the supervisor to say it once for all."""
    import uvicorn

    class ReadyServer(uvicorn.Server):
        """Logs "Radix ready" once the app has started and the socket listens, not before;
        calls ``stopped`` once the app has shut down."""

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().shutdown(sockets)
            finally:
                if stopped is not None:
                    stopped()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            settle_gc()
            if not (self.started and sockets):
                return
            if ready is not None:
                ready(about())
                return
            host, port = sockets[0].getsockname()[:2]
            logging.getLogger("radix.app").info(
                "Radix ready: listening on http://%s, %s", _address(host, port), about()
            )

    return ReadyServer(config)


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.app import build_advisor, new_fhir_client
    from cds_service.protocol import decode_json

    try:
        body = sys.stdin.buffer.read() if str(args.request) == "-" else args.request.read_bytes()
    except OSError as exc:
        print(f"cds-service evaluate: cannot read {args.request}: {exc.strerror}", file=sys.stderr)
        return 2
    now: datetime | None = args.now

    async def run() -> CdsResponse:
        async with new_fhir_client(settings) as fhir:
            advisor = build_advisor(settings, fhir, (lambda: now) if now else _utc_now)
            if advisor.notes is not None and b"DocumentReference" in body:
                # A tool waits for the note reader to start, where a hook call has a deadline.
                await asyncio.to_thread(advisor.notes.wait_ready)
            if args.service:
                service_id = args.service
            else:
                doc = decode_json(body)
                hook = doc.get("hook") if isinstance(doc, dict) else None
                service_id = advisor.service_for_hook(hook).id
            return (await advisor.advise(service_id, body)).response

    try:
        response = asyncio.run(run())
    except ServiceError as exc:
        _print_json(exc.operation_outcome())
        return 1
    _print_json(response)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.store import migrate

    revisions = _store_call(lambda: migrate(settings), "migrate")
    if revisions is _FAILED:
        return 1
    before, after = revisions
    if before == after:
        print(f"database at revision {after}, already the newest")
    else:
        print(f"database at revision {after} (was: {before or 'none'})")
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.store import render_report

    async def run() -> Summary:
        async with _opened_store(settings) as store:
            return await store.summary(args.start, args.end)

    summary = _store_call(run, "report")
    if summary is _FAILED:
        return 1
    sys.stdout.write(render_report(summary, csv=args.csv))
    return 0


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> int:
        async with _opened_store(settings) as store:
            return await store.purge(timedelta(days=args.older_than))

    removed = _store_call(run, "purge")
    if removed is _FAILED:
        return 1
    print(
        f"deleted {removed} hook calls older than {args.older_than} days, with their cards, "
        "and the feedback received before then"
    )
    return 0


@contextlib.asynccontextmanager
async def _opened_store(settings: Settings) -> AsyncIterator[Store]:
    from cds_service.store import Store, sqlite_path

    path = sqlite_path(settings.sqlalchemy_url)
    if path is not None and not path.exists():
        # Opening would create an empty database and report zeros for a mistyped folder.
        raise RuntimeError(f"no database at {path}: check RADIX_DATA_DIR")
    # Not Store.from_settings: a report or a purge must not also start the daily retention
    # purge, which would delete by RADIX_AUDIT_RETENTION_DAYS instead of what was asked.
    async with Store(settings.sqlalchemy_url) as store:
        yield store


def _store_call(run: Callable[[], Any], command: str) -> Any:
    """``asyncio.run(run())``; a database that is unreachable or stale is a message, not a trace."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        result = asyncio.run(run())
    except (RuntimeError, OSError, SQLAlchemyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"cds-service {command}: {reason}", file=sys.stderr)
        return _FAILED
    return result


def _print_json(document: Mapping[str, object]) -> None:
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _bound(text: str, *, end: bool) -> datetime:
    from cds_service.app import parse_bound

    # The same reading as GET /analytics/summary, so the report and the endpoint agree.
    try:
        return parse_bound(text, end=end)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date (2026-03-01) or date-time (2026-03-01T08:00:00Z): {text!r}"
        ) from None


def _start_bound(text: str) -> datetime:
    return _bound(text, end=False)


def _end_bound(text: str) -> datetime:
    return _bound(text, end=True)


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= _MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"N must be a whole number from 1 to {_MAX_WORKERS}: {text!r}"
        )
    return count


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        # 0 or less would put the cut-off at or after now and delete the whole trail.
        raise argparse.ArgumentTypeError(f"DAYS must be a whole number of at least 1: {text!r}")
    return days


def _utc_now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":
    raise SystemExit(main())
