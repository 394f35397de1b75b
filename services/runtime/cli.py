"""The `fundwatch` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys

from services.runtime.settings import get_settings

SERVICES = ("ingest", "ledger", "alerts", "notify")  # the HTTP services
WORKERS = ("alerts-worker",)  # background roles without a public API (faust web on an internal port)
MIGRATED = ("ledger", "notify", "alerts")


def _cmd_up(args: argparse.Namespace) -> int:
    from services.runtime.supervisor import up

    return up(database_url=args.database_url, size=args.size, demo=not args.no_demo, keep=args.keep)


def _cmd_serve(args: argparse.Namespace) -> int:
    from services.runtime.service import configure_logging

    configure_logging(os.environ.get("FUNDWATCH_LOG_LEVEL", "INFO"))
    package, _, role = args.service.partition("-")  # alerts-worker → services.alerts.worker
    module = importlib.import_module(f"services.{package}.{role or 'main'}")
    return module.main(get_settings()) or 0


def _cmd_broker(args: argparse.Namespace) -> int:
    import time

    from services.runtime.broker import EmbeddedBroker

    with EmbeddedBroker(args.port) as broker:
        print(f"embedded broker on {broker.bootstrap} (memory only); Ctrl-C stops it", flush=True)
        try:
            while broker.process and broker.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


def _cmd_topics(_args: argparse.Namespace) -> int:
    from services.runtime.kafka import ensure_topics, wait_for_broker

    settings = get_settings()

    async def run() -> list[str]:
        await wait_for_broker(settings.kafka_bootstrap, timeout_s=60)
        return await ensure_topics(settings)

    created = asyncio.run(run())
    print(f"topics created: {', '.join(created) or 'none (all existed)'}")
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from services.runtime.db import migrate

    url = get_settings().database_url
    unknown = set(args.services) - set(MIGRATED)
    if unknown:
        print(f"no schema for: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for service in args.services or MIGRATED:
        migrate(url, service)
        print(f"{service}: schema at head")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from services import demo

    if args.out:
        paths = demo.write(args.out, size=args.size, seed=args.seed)
        for p in paths:
            print(f"wrote {p}")
    if args.send:
        sent = demo.send(demo.iter_events(size=args.size, seed=args.seed), args.send)
        print(f"sent {sent} events to {args.send}")
    if not args.out and not args.send:
        print("nothing to do: give --out DIR and/or --send INGEST_URL", file=sys.stderr)
        return 2
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from contracts import export

    if args.check:
        stale = [n for n, text in export.rendered().items()
                 if not (export.SCHEMA_DIR / n).exists() or (export.SCHEMA_DIR / n).read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale schemas: {', '.join(stale)}; run `fundwatch schemas`", file=sys.stderr)
            return 1
        print("schemas up to date")
        return 0
    return export.main()


def _cmd_token(args: argparse.Namespace) -> int:
    import datetime as dt

    from services.runtime.auth import issue_token

    token = issue_token(get_settings(), args.user, args.region, tuple(args.group or ()),
                        ttl=dt.timedelta(hours=args.hours))
    print(token)
    return 0


def _cmd_ledger(args: argparse.Namespace) -> int:
    from services.ledger import rebuild

    settings = get_settings()
    if args.ledger_command == "rebuild":
        return rebuild.run_rebuild(settings, target_url=args.target_url, keep=args.keep, idle_timeout_s=args.timeout)
    return rebuild.run_verify(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fundwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="start the whole platform on embedded defaults with demo data")
    p.add_argument("--database-url", help="PostgreSQL URL (postgresql+asyncpg://…); default SQLite under var/")
    p.add_argument("--size", type=int, default=2000, help="demo size (payments)")
    p.add_argument("--no-demo", action="store_true", help="do not load the demo data set")
    p.add_argument("--keep", action="store_true", help="keep the SQLite file of an earlier run")
    p.set_defaults(func=_cmd_up)

    p = sub.add_parser("serve", help="run one service process")
    p.add_argument("service", choices=SERVICES + WORKERS)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker only")
    p.add_argument("--port", type=int, default=19092)
    p.set_defaults(func=_cmd_broker)

    sub.add_parser("topics", help="create the topics of the registry").set_defaults(func=_cmd_topics)

    p = sub.add_parser("migrate", help="upgrade service schemas to head")
    p.add_argument("services", nargs="*", metavar="SERVICE", help=f"any of {', '.join(MIGRATED)} (default all)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("demo", help="generate the deterministic demo data set")
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--out", help="directory for events.jsonl, ground_truth.json, summary.json")
    p.add_argument("--send", metavar="INGEST_URL", help="POST the events to ingest")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("token", help="issue an API token for a user of a region (three-tier scope)")
    p.add_argument("--region", required=True, help="region code the user belongs to, e.g. 410324")
    p.add_argument("--user", default="operator")
    p.add_argument("--group", action="append", help="responsible group the user acts for (repeatable)")
    p.add_argument("--hours", type=float, default=12)
    p.set_defaults(func=_cmd_token)

    p = sub.add_parser("ledger", help="ledger replay and audit")
    ledger = p.add_subparsers(dest="ledger_command", required=True)
    q = ledger.add_parser("rebuild", help="reproject the log into fresh tables and compare with the live ones "
                                          "(exit 1 on a mismatch)")
    q.add_argument("--target-url", help="empty database to rebuild into (default: a temporary database on the "
                                        "live PostgreSQL server, or a new SQLite file beside the live one)")
    q.add_argument("--keep", action="store_true", help="keep the rebuilt database")
    q.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds without records")
    q.set_defaults(func=_cmd_ledger)
    q = ledger.add_parser("verify", help="recompute the journal's hash chain; exit 1 at the first broken link")
    q.set_defaults(func=_cmd_ledger)

    p = sub.add_parser("schemas", help="export contract JSON Schemas")
    p.add_argument("--check", action="store_true", help="fail when the exported files are stale")
    p.set_defaults(func=_cmd_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
