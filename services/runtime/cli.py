"""The `fundwatch` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from typing import Any

from services.runtime.settings import get_settings

SERVICES = ("ingest", "ledger", "alerts", "notify", "access")  # the HTTP services
CONSOLE = ("console",)  # the operator console: web pages over the services' APIs, no store of its own
WORKERS = ("alerts-worker",)  # background roles without a public API (faust web on an internal port)
MIGRATED = ("ledger", "notify", "alerts", "ingest", "access")


def _cmd_up(args: argparse.Namespace) -> int:
    from services.runtime.supervisor import up

    return up(database_url=args.database_url, size=args.size, demo=not args.no_demo, keep=args.keep, fresh=args.fresh)


def _cmd_status(_args: argparse.Namespace) -> int:
    from services.runtime.supervisor import print_status

    return print_status()


def _cmd_log(args: argparse.Namespace) -> int:
    from pathlib import Path

    from services.runtime import archive

    if args.log_command == "backup":
        return archive.run_backup(get_settings(), Path(args.dir), follow=args.follow)
    return archive.run_restore(get_settings(), Path(args.dir))


def _cmd_serve(args: argparse.Namespace) -> int:
    from services.runtime.service import configure_logging

    configure_logging(os.environ.get("FUNDWATCH_LOG_LEVEL", "INFO"), service=args.service)
    package, _, role = args.service.partition("-")  # alerts-worker → services.alerts.worker
    module = importlib.import_module(f"services.{package}.{role or 'main'}")
    return module.main(get_settings()) or 0


def _cmd_broker(args: argparse.Namespace) -> int:
    import time

    from services.runtime.broker import EmbeddedBroker

    with EmbeddedBroker(args.port) as broker:
        print(f"embedded broker on {broker.bootstrap} (memory only; it dies with this process); Ctrl-C stops it",
              flush=True)
        try:
            while broker.process and broker.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


def _cmd_topics(args: argparse.Namespace) -> int:
    from services.runtime.kafka import ensure_topics, wait_for_broker

    settings = get_settings()
    if args.wait:  # an init container: wait for the topics (Strimzi's KafkaTopic), create nothing
        from services.runtime.metrics import wait_for_topics

        return asyncio.run(wait_for_topics(settings, args.timeout))

    async def run() -> list[str]:
        await wait_for_broker(settings.kafka_bootstrap, timeout_s=60)
        return await ensure_topics(settings)

    from services.runtime.kafka import TopicMismatch

    try:
        created = asyncio.run(run())
    except TopicMismatch as exc:
        print(str(exc), file=sys.stderr)
        return 2
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
        if not args.api_key:
            print("--send needs --api-key (or FUNDWATCH_API_KEY): ingest takes events from registered clients only",
                  file=sys.stderr)
            return 2
        sent = demo.send(demo.iter_events(size=args.size, seed=args.seed), args.send, api_key=args.api_key)
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
    from services import demo

    export.write_examples(demo.iter_events(size=40))
    return export.main()


def _cmd_token(args: argparse.Namespace) -> int:
    import datetime as dt

    from services.runtime.auth import issue_token

    token = issue_token(get_settings(), args.user, args.region, tuple(args.group or ()),
                        ttl=dt.timedelta(hours=args.hours), roles=tuple(args.role) if args.role else None)
    print(token)
    return 0


def _cmd_client(args: argparse.Namespace) -> int:
    """Register, rotate, revoke and list upstream clients (ingest's API keys) on the platform database."""
    import datetime as dt

    from contracts.audit import ActorKind
    from services.ingest import registry, store

    settings = get_settings()
    who: dict[str, Any] = {"actor": f"cli:{os.environ.get('USER', 'unknown')}", "actor_kind": ActorKind.system}
    try:
        if args.client_command == "create":
            client, made = registry.run(settings, lambda c: registry.create(
                c, settings, client_id=args.id, name=args.name, scope=args.scope,
                families=args.family or ["reference", "indicator", "payment", "performance"], **who))
            print(f"client {client.client_id}: scope {client.scope}, families {', '.join(client.families)}")
            print(f"API key (shown once, keep it secret): {made.api_key}")
        elif args.client_command == "rotate":
            made = registry.run(settings, lambda c: registry.rotate(
                c, settings, args.id, grace=dt.timedelta(hours=args.grace_hours), **who))
            print(f"new API key of {args.id} (shown once): {made.api_key}")
        elif args.client_command == "revoke":
            client = registry.run(settings, lambda c: registry.revoke(c, settings, args.id, **who))
            print(f"client {client.client_id} revoked at {client.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
        else:
            clients, total = registry.run(settings, lambda c: store.list_clients(c, "", 1000, 0))
            for c in clients:
                print(f"{c.client_id:<32} {c.scope} {'active ' if c.active else 'revoked'} {','.join(c.families)}  "
                      f"{c.name}")
            print(f"{total} client(s)")
    except (registry.NotFound, registry.Conflict, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_deadletters(args: argparse.Namespace) -> int:
    from services.ingest import deadletters

    replayed = {"open": False, "replayed": True, "all": None}[args.state] if args.dl_command == "list" else None
    return deadletters.command(get_settings(), args.dl_command, letter_id=getattr(args, "id", None),
                               fixed_path=getattr(args, "event", None), replayed=replayed,
                               consumer=getattr(args, "consumer", None))


def _cmd_import(args: argparse.Namespace) -> int:
    """Upload a filled template to ingest under a client's API key (what the API does, from a shell)."""
    import httpx

    from services.ingest import tables

    kind = tables.CSV if args.file.lower().endswith(".csv") else tables.XLSX
    url = f"{args.url or get_settings().url('ingest')}/v1/imports/{args.template}"
    with open(args.file, "rb") as fh:  # streamed: a 100k-row file is never read whole
        r = httpx.post(url, content=fh, timeout=1800,
                       headers={"Content-Type": kind, "Authorization": f"Bearer {args.api_key}"})
    answer = r.json() if r.headers.get("content-type", "").startswith("application/json") else {"detail": r.text}
    if r.status_code != 202:
        print(f"refused ({r.status_code}): {answer.get('detail')}", file=sys.stderr)
        for e in answer.get("errors") or []:
            if isinstance(e, dict):
                print(f"  {e.get('sheet') or ''} {e['message']}", file=sys.stderr)
        return 1
    print(f"imported {answer['accepted']} event(s) from {answer['rows']} row(s) of {args.file}")
    return 0


def _cmd_user(args: argparse.Namespace) -> int:
    """The first system administrator; everyone else goes through the art. 22 applications."""
    import getpass

    from services.access import admin
    from services.access.service import Denied
    from services.runtime.auth import Role

    password = os.environ.get("FUNDWATCH_ADMIN_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    try:
        user = admin.create_admin(get_settings(), args.username, args.name or args.username, args.region, password,
                                  force=args.force, role=Role(args.role))
    except Denied as exc:
        print(f"refused: {exc.reason}", file=sys.stderr)
        return 1
    print(f"{args.role} {user.username} ({user.region}) created; log in at "
          f"{get_settings().url('access')}/v1/login")
    return 0


def _cmd_ledger(args: argparse.Namespace) -> int:
    from services.ledger import rebuild

    settings = get_settings()
    if args.ledger_command == "rebuild":
        return rebuild.run_rebuild(settings, target_url=args.target_url, keep=args.keep, idle_timeout_s=args.timeout)
    return rebuild.run_verify(settings)


REPORT_FORMATS = {".xlsx": "xlsx", ".pdf": "pdf", ".html": "html", ".json": ""}


def _cmd_report(args: argparse.Namespace) -> int:
    """The monthly monitoring report through notify's API (what the console does), under the
    caller's token: FUNDWATCH_TOKEN / --token, else one issued here like `fundwatch token`."""
    import httpx

    from services.runtime.auth import Role, issue_token

    settings = get_settings()
    token = args.token
    if not token:
        if settings.auth_secret is None:
            print("no token: give --token (or FUNDWATCH_TOKEN), or set the auth secret to issue one", file=sys.stderr)
            return 2
        roles = (Role.member,) if args.group else (Role.treasury,)
        token = issue_token(settings, args.user, args.region, (args.group,) if args.group else (), roles=roles)
    base = args.url or settings.url("notify")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        if args.report_command == "list":
            r = client.get("/v1/reports")
            if r.status_code != 200:
                print(f"refused ({r.status_code}): {r.text[:500]}", file=sys.stderr)
                return 1
            for ref in r.json():
                print(f"{ref['report_id']:<32} {ref['generated_at']}  {ref['generated_by']}")
            return 0
        suffix = os.path.splitext(args.out)[1].lower()
        if suffix not in REPORT_FORMATS:
            print(f"--out: {args.out} ends in none of {', '.join(REPORT_FORMATS)}", file=sys.stderr)
            return 2
        r = client.post("/v1/reports", json={"month": args.month, "region": args.region, "group_code": args.group})
        if r.status_code != 201:
            detail = r.json().get("detail") if r.headers.get("content-type", "").startswith("application/json") \
                else r.text
            print(f"refused ({r.status_code}): {detail}", file=sys.stderr)
            return 1
        made = r.json()
        fmt = REPORT_FORMATS[suffix]
        if fmt:
            got = client.get(f"/v1/reports/{made['report_id']}/{fmt}")
            if got.status_code != 200:
                print(f"refused ({got.status_code}): {got.text[:500]}", file=sys.stderr)
                return 1
            body = got.content
        else:
            body = r.content
    with open(args.out, "wb") as fh:
        fh.write(body)
    print(f"report {made['report_id']}: raised {made['raised']['total']}, closed {made['closed']['total']}, "
          f"open at month end {made['open_at_end']['total']}, overdue {len(made['overdue'])}; wrote {args.out}")
    return 0


def _roles():
    from services.runtime.auth import Role

    return list(Role)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fundwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="start the whole platform on embedded defaults with demo data")
    p.add_argument("--database-url", help="PostgreSQL URL (postgresql+asyncpg://…); default SQLite under var/")
    p.add_argument("--size", type=int, default=2000, help="demo size (payments)")
    p.add_argument("--no-demo", action="store_true", help="do not load the demo data set")
    p.add_argument("--keep", action="store_true", help="keep the SQLite file of an earlier run (now the default)")
    p.add_argument("--fresh", action="store_true", help="start from nothing: delete var/ (store, archive, keys)")
    p.set_defaults(func=_cmd_up)

    sub.add_parser("status", help="the children of a running `fundwatch up`").set_defaults(func=_cmd_status)

    p = sub.add_parser("log", help="the platform's topics kept outside the broker (backup, restore)")
    log = p.add_subparsers(dest="log_command", required=True)
    q = log.add_parser("backup", help="copy every topic of the prefix to segment files in DIR (from where DIR ends)")
    q.add_argument("dir")
    q.add_argument("--follow", action="store_true", help="keep copying until SIGTERM (then copy up to the end)")
    q.set_defaults(func=_cmd_log)
    q = log.add_parser("restore", help="write DIR back into the broker's empty partitions, at the archived offsets")
    q.add_argument("dir")
    q.set_defaults(func=_cmd_log)

    p = sub.add_parser("serve", help="run one service process")
    p.add_argument("service", choices=SERVICES + WORKERS + CONSOLE)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker only")
    p.add_argument("--port", type=int, default=19092)
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("topics", help="create the topics of the registry")
    p.add_argument("--wait", action="store_true", help="create nothing: wait until they exist with the registry's "
                                                       "partitions and cleanup policy (exit 1 after --timeout)")
    p.add_argument("--timeout", type=float, default=600.0)
    p.set_defaults(func=_cmd_topics)

    p = sub.add_parser("migrate", help="upgrade service schemas to head")
    p.add_argument("services", nargs="*", metavar="SERVICE", help=f"any of {', '.join(MIGRATED)} (default all)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("demo", help="generate the deterministic demo data set")
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--out", help="directory for events.jsonl, ground_truth.json, summary.json")
    p.add_argument("--send", metavar="INGEST_URL", help="POST the events to ingest")
    p.add_argument("--api-key", default=os.environ.get("FUNDWATCH_API_KEY"),
                   help="API key of a client whose scope covers every event (e.g. the Ministry's)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("token", help="issue an API token for a user of a region (three-tier scope)")
    p.add_argument("--region", required=True, help="region code the user belongs to, e.g. 410324")
    p.add_argument("--user", default="operator")
    p.add_argument("--group", action="append", help="responsible group the user acts for (repeatable)")
    p.add_argument("--hours", type=float, default=12)
    p.add_argument("--role", action="append", choices=[r.value for r in _roles()],
                   help="role (repeatable); default: member with --group, else treasury")
    p.set_defaults(func=_cmd_token)

    p = sub.add_parser("client", help="upstream systems and their ingest API keys")
    client = p.add_subparsers(dest="client_command", required=True)
    q = client.add_parser("create", help="register a client; prints its API key once")
    q.add_argument("--id", required=True, help="client id, e.g. budget-execution-410324")
    q.add_argument("--name", required=True, help="display name, e.g. 栾川县预算执行系统")
    q.add_argument("--scope", required=True, help="region code it sends for (and below)")
    q.add_argument("--family", action="append", choices=["reference", "indicator", "payment", "performance"],
                   help="event family it may send (repeatable; default all four)")
    q.set_defaults(func=_cmd_client)
    q = client.add_parser("rotate", help="a new key; the old ones stop now or after --grace-hours")
    q.add_argument("--id", required=True)
    q.add_argument("--grace-hours", type=float, default=0.0)
    q.set_defaults(func=_cmd_client)
    q = client.add_parser("revoke", help="the client and all its keys stop now")
    q.add_argument("--id", required=True)
    q.set_defaults(func=_cmd_client)
    client.add_parser("list", help="every registered client").set_defaults(func=_cmd_client)

    p = sub.add_parser("deadletters", help="what consumers refused: list, and replay after a fix")
    dl = p.add_subparsers(dest="dl_command", required=True)
    q = dl.add_parser("list", help="dead letters, oldest first (who refused it, when, why)")
    q.add_argument("--state", choices=["open", "replayed", "all"], default="open")
    q.add_argument("--consumer", help="only those of this consumer, e.g. 'ingest intake'")
    q.set_defaults(func=_cmd_deadletters)
    q = dl.add_parser("replay", help="send one again through its checks (the stored copy, or --event)")
    q.add_argument("id", type=int, help="the dead letter's id (its offset, as listed)")
    q.add_argument("--event", help="a JSON file with the fixed copy of the event")
    q.set_defaults(func=_cmd_deadletters)

    p = sub.add_parser("import", help="upload a filled XLSX/CSV template to ingest (GET /v1/templates lists them)")
    p.add_argument("template", help="e.g. indicator-registered, subsidy-lines")
    p.add_argument("file", help="the filled .xlsx or .csv (UTF-8)")
    p.add_argument("--api-key", required=True, help="the API key of your registered client")
    p.add_argument("--url", help="ingest's base URL (default: from the settings)")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("report", help="the monthly monitoring report (月度监控情况报告) through notify's API")
    rep = p.add_subparsers(dest="report_command", required=True)
    make = rep.add_parser("make", help="make (or make again) a month's report and save it as .xlsx/.pdf/.html/.json")
    q = make
    q.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-05")
    q.add_argument("--region", required=True, help="region code, e.g. 410000")
    q.add_argument("--group", help="responsible group (业务组); omitted = the treasury group's overall report")
    q.add_argument("--out", required=True, help="file to write; its suffix picks the format")
    for q in (make, rep.add_parser("list", help="the reports in your scope")):
        q.add_argument("--token", default=os.environ.get("FUNDWATCH_TOKEN"),
                       help="your API token (default: FUNDWATCH_TOKEN, else one issued for --user of --region)")
        q.add_argument("--user", default=os.environ.get("USER", "operator"), help="who the issued token is for")
        q.add_argument("--url", help="notify's base URL (default: from the settings)")
        q.set_defaults(func=_cmd_report)
    rep.choices["list"].add_argument("--region", default="000000", help="scope of the issued token")
    rep.choices["list"].add_argument("--group", help="group of the issued token")

    p = sub.add_parser("user", help="users of the access service")
    user = p.add_subparsers(dest="user_command", required=True)
    q = user.add_parser("create-admin", help="create the first system administrator (password from "
                                             "FUNDWATCH_ADMIN_PASSWORD or a prompt)")
    q.add_argument("--username", required=True)
    q.add_argument("--name", help="display name")
    q.add_argument("--region", default="000000", help="the administrator's region (default 000000)")
    q.add_argument("--role", choices=["sysadmin", "treasury"], default="sysadmin",
                   help="sysadmin (default), or treasury: the first treasury operator, who confirms applications")
    q.add_argument("--force", action="store_true", help="even if an active user with that role exists")
    q.set_defaults(func=_cmd_user)

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
