"""``cds-service``: serve, evaluate one request, and look after the store."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from cds_service.errors import ServiceError
from cds_service.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=Settings().log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return int(args.command(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-service", description="Radix CDS Hooks service")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the HTTP service (uvicorn)")
    serve.add_argument("--host", help="bind address (default: RADIX_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: RADIX_PORT or 8080)")
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
        help="evaluate as of this ISO date-time instead of the clock (e.g. a vignette's asOf)",
    )
    evaluate.set_defaults(command=_evaluate)

    migrate = commands.add_parser("migrate", help="bring the database schema to the newest version")
    migrate.set_defaults(command=_migrate)

    report = commands.add_parser("report", help="card acceptance and override analytics")
    report.add_argument("--from", dest="start", help="ISO date or date-time (inclusive)")
    report.add_argument("--to", dest="end", help="ISO date or date-time (exclusive)")
    report.add_argument("--csv", action="store_true", help="CSV instead of text tables")
    report.set_defaults(command=_report)

    purge = commands.add_parser("purge", help="delete audit rows older than N days")
    purge.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    purge.set_defaults(command=_purge)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cds_service.app import create_app

    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
        server_header=False,
        timeout_graceful_shutdown=20,
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from cds_service.app.application import build_advisor, new_http_client

    body = sys.stdin.buffer.read() if str(args.request) == "-" else args.request.read_bytes()
    settings = Settings()
    now = _instant(args.now) if args.now else None

    async def run() -> dict:
        async with new_http_client(settings) as http:
            advisor = build_advisor(settings, http, (lambda: now) if now else _utc_now)
            service_id = args.service or _service_for(advisor, body)
            return (await advisor.advise(service_id, body)).response

    try:
        response = asyncio.run(run())
    except ServiceError as exc:
        sys.stdout.buffer.write(orjson.dumps(exc.operation_outcome(), option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
        return 1
    sys.stdout.buffer.write(orjson.dumps(response, option=orjson.OPT_INDENT_2))
    sys.stdout.write("\n")
    return 0


def _service_for(advisor: object, body: bytes) -> str:
    from cds_service.advisor import Advisor
    from cds_service.protocol.request_parser import decode_json

    assert isinstance(advisor, Advisor)
    doc = decode_json(body)
    hook = doc.get("hook") if isinstance(doc, dict) else None
    for service in advisor.catalogue.services.values():
        if service.hook == hook:
            return service.id
    raise ServiceError(400, "invalid", f"No service answers the hook {hook!r}.", kind="wrong-hook")


def _migrate(args: argparse.Namespace) -> int:
    from cds_service.store.migration import migrate

    asyncio.run(migrate(Settings()))
    print("database schema is at the newest version")
    return 0


def _report(args: argparse.Namespace) -> int:
    from cds_service.store.report import render_report
    from cds_service.store.store import Store

    start = _instant(args.start) if args.start else None
    end = _instant(args.end) if args.end else None

    async def run() -> dict:
        store = Store.from_settings(Settings())
        await store.open()
        try:
            return await store.summary(start, end)
        finally:
            await store.close()

    sys.stdout.write(render_report(asyncio.run(run()), csv=args.csv))
    return 0


def _purge(args: argparse.Namespace) -> int:
    from cds_service.store.store import Store

    async def run() -> int:
        store = Store.from_settings(Settings())
        await store.open()
        try:
            return await store.purge(timedelta(days=args.older_than))
        finally:
            await store.close()

    print(f"deleted {asyncio.run(run())} audit rows older than {args.older_than} days")
    return 0


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":
    raise SystemExit(main())
