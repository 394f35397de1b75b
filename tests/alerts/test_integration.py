"""The alerts service on the embedded broker, with the real ingest, ledger, faust worker and API
processes: the demo's ground truth against the alerts raised (per-rule precision and recall),
replaying the log, dispositions and configuration through the API, and a worker killed -9
mid-stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager

import httpx
import pytest

from contracts.control import DispositionFiled
from contracts.envelope import make_event
from contracts.types import keyed_hash
from services import demo
from services.runtime.auth import Role, issue_token
from services.runtime.broker import free_port
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.settings import Settings
from tests import factories as f
from tests.alerts.harness import with_ledger
from tests.clients import api_key
from tests.conftest import TEST_SECRET
from tests.platform import ServiceProcess, wait_for

pytestmark = pytest.mark.integration
SIZE = 600
WORKER_ENV = {"FUNDWATCH_ALERTS_IDLE_S": "3", "FUNDWATCH_ALERTS_TICK_S": "0.3"}


@contextmanager
def environ(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def new_settings(broker, tmp) -> Settings:
    return Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}",
                    database_url=f"sqlite+aiosqlite:///{tmp / 'fundwatch.db'}", ingest_port=free_port(),
                    ledger_port=free_port(), alerts_port=free_port(), notify_port=free_port(),
                    access_port=free_port(), auth_secret=TEST_SECRET)


def headers(settings: Settings, region: str = "000000", groups: tuple[str, ...] = (),
            roles: tuple[Role, ...] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, 'tester', region, groups, roles=roles)}"}


def all_alerts(settings: Settings, **params) -> list[dict]:
    items, offset = [], 0
    while True:
        page = httpx.get(f"{settings.url('alerts')}/v1/alerts", params={**params, "limit": 500, "offset": offset},
                         headers=headers(settings), timeout=10).json()
        items += page["items"]
        offset += 500
        if offset >= page["total"]:
            return items


def alert_keys(alerts: list[dict]) -> dict[str, set[str]]:
    """rule → natural keys of the alerts that are, or were, yellow or red (a bell cleared in time is a reminder)."""
    got: dict[str, set[str]] = defaultdict(set)
    for a in alerts:
        if a["level"] in ("yellow", "red") or (a["transitions"] > 1 and a["last_transition"] != "cleared"):
            got[a["rule_id"]].add(a["subject"].split("/person/")[0])
    return got


def truth_keys(dataset, pii_key: bytes) -> dict[str, set[str]]:
    want: dict[str, set[str]] = defaultdict(set)
    for t in dataset.ground_truth:
        subject = t["refs"]["subject"]
        if t["rule_id"] == "ACC-02":
            subject = "account/" + keyed_hash(pii_key, t["refs"]["account"])
        want[t["rule_id"]].add(subject)
    return want


def worker_counter(port: int, name: str) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=2).json()["counters"].get(name, 0)
    except (httpx.HTTPError, ValueError):
        return -1


def worker_events(port: int) -> int:
    return worker_counter(port, "events")


def decided_up_to(port: int, events: list[dict]) -> bool:
    """Has every work partition's ledger watermark reached the newest event time of `events`? (The
    input has been quiet for the idle time: every deadline and checkpoint up to then is decided.)"""
    from services.alerts.clock import event_key

    newest = max(event_key(e["time"]) for e in events)
    try:
        marks = httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=2).json()["watermarks"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return bool(marks) and all(m.get("ledger", "") >= newest for m in marks.values())


def api_caught_up(settings: Settings) -> bool:
    """Has the alert API stored everything on the alert topic? (Its consumer has joined and has
    no lag.)"""
    try:
        lag = httpx.get(f"{settings.url('alerts')}/v1/status", headers=headers(settings), timeout=5).json()["lag"]
    except (httpx.HTTPError, KeyError, ValueError):
        return False
    return bool(lag) and not any(lag.values())


def settled(settings: Settings, quiet_s: float, timeout_s: float, *procs: ServiceProcess) -> list[dict]:
    """The alerts once the API has stored all the worker published and nothing has changed for
    `quiet_s` (the worker's end-of-input flush included)."""
    state = {"last": None, "since": 0.0}

    def check():
        if not api_caught_up(settings):
            state["last"] = None
            return None
        alerts = all_alerts(settings, shadow=True)
        snapshot = sorted((a["alert_id"], a["transitions"]) for a in alerts)
        if snapshot != state["last"]:
            state["last"], state["since"] = snapshot, time.monotonic()
            return None
        return alerts if time.monotonic() - state["since"] >= quiet_s else None

    return wait_for(check, timeout_s, "alerts settled", *procs)


def publish(settings: Settings, events: list) -> None:
    """Events (or (event, explicit partition) pairs) to their topics, in order."""
    async def run() -> None:
        await ensure_topics(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            futures = []
            for item in events:
                e, partition = item if isinstance(item, tuple) else (item, None)
                futures.append(await producer.send(settings.topic(e.family), e.to_json(), key=e.key,
                                                   partition=partition))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


# ---------------------------------------------------------------------- the platform, fed through ingest


@pytest.fixture(scope="module")
def platform(broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts-platform")
    settings = new_settings(broker, tmp)
    worker_port = free_port()
    dataset = demo.generate(size=SIZE)
    with environ({**WORKER_ENV, "FUNDWATCH_ALERTS_WORKER_PORT": str(worker_port)}):
        procs = [ServiceProcess(n, settings, tmp).start() for n in ("ledger", "alerts-worker", "alerts", "ingest")]
    try:
        for p in procs:
            if p.name != "alerts-worker":
                p.wait_healthy()
        wait_for(lambda: worker_events(worker_port) >= 0, 60, "worker status page", *procs)
        demo.send_by_source(dataset.events, settings.url("ingest"), api_key=api_key(settings))  # any order
        wait_for(lambda: decided_up_to(worker_port, dataset.events), 180, "the year decided", *procs)
        alerts = settled(settings, 4, 60, *procs)
        yield {"settings": settings, "dataset": dataset, "alerts": alerts, "procs": procs, "worker_port": worker_port,
               "tmp": tmp}
    finally:
        for p in procs:
            p.stop()


def test_every_injected_case_is_raised_by_its_rule_and_nothing_else(platform):
    settings, dataset = platform["settings"], platform["dataset"]
    got, want = alert_keys([a for a in platform["alerts"] if not a["shadow"]]), truth_keys(dataset, settings.pii_key_bytes)
    assert len(want) == 47
    report = {rule: (round(len(got[rule] & want[rule]) / len(got[rule]), 3) if got[rule] else 0.0,
                     round(len(got[rule] & want[rule]) / len(want[rule]), 3)) for rule in sorted(want)}
    print("per-rule (precision, recall):", report)
    assert {r: pr for r, pr in report.items() if pr != (1.0, 1.0)} == {}
    assert set(got) <= set(want), f"alerts of rules with no injected case: {set(got) - set(want)}"
    per_subject = Counter((a["rule_id"], a["subject"]) for a in platform["alerts"])
    assert max(per_subject.values()) == 1  # one alert per (rule, subject)


def test_api_filters_and_scope(platform):
    settings = platform["settings"]
    url = settings.url("alerts")
    county = "410324"
    total = httpx.get(f"{url}/v1/alerts", headers=headers(settings)).json()["total"]
    mine = httpx.get(f"{url}/v1/alerts", headers=headers(settings, county)).json()
    assert 0 < mine["total"] < total and all(a["region"].startswith(county) for a in mine["items"])
    assert httpx.get(f"{url}/v1/alerts", params={"region": "410325"}, headers=headers(settings, county)).status_code == 403
    city = httpx.get(f"{url}/v1/alerts", params={"region": county}, headers=headers(settings, "410300")).json()
    assert city["total"] == mine["total"]
    for params, check in (
        ({"level": "red"}, lambda a: a["level"] == "red"),
        ({"category": "recipients"}, lambda a: a["rule_id"].startswith("BEN")),
        ({"rule_id": "BEN-04"}, lambda a: a["rule_id"] == "BEN-04"),
        ({"status": "open"}, lambda a: a["open"]),
        ({"group": "agri-410324"}, lambda a: a["group_code"] == "agri-410324"),
        ({"since": "2026-06-01T00:00:00+08:00"}, lambda a: a["raised_at"] >= "2026-05-31T16:00:00"),
    ):
        page = httpx.get(f"{url}/v1/alerts", params={**params, "limit": 500}, headers=headers(settings)).json()
        assert page["items"] and all(check(a) for a in page["items"]), params
    assert httpx.get(f"{url}/v1/alerts").status_code == 401


def test_alert_detail_history_and_evidence(platform):
    settings = platform["settings"]
    url = settings.url("alerts")
    bell = next(a for a in platform["alerts"] if a["rule_id"] == "IND-01" and a["level"] == "yellow")
    detail = httpx.get(f"{url}/v1/alerts/{bell['alert_id']}", headers=headers(settings)).json()
    assert [t["kind"] for t in detail["history"]] == ["raised", "escalated"]
    assert [t["level"] for t in detail["history"]] == ["bell", "yellow"]
    assert detail["history"][0]["at"] < detail["history"][1]["at"] and "5个工作日" in detail["basis"]
    assert {e["type"] for e in detail["evidence"]} >= {"indicator.issued"}
    ben04 = next(a for a in platform["alerts"] if a["rule_id"] == "BEN-04")
    detail = httpx.get(f"{url}/v1/alerts/{ben04['alert_id']}", headers=headers(settings)).json()
    assert len(detail["evidence"]) == 2 and all(e["facts"]["payment_id"] for e in detail["evidence"])
    other = "410325" if not ben04["region"].startswith("410325") else "410326"
    assert httpx.get(f"{url}/v1/alerts/{ben04['alert_id']}", headers=headers(settings, other)).status_code == 404


def _poll_detail(settings, alert_id: str, predicate, what: str, *procs) -> dict:
    return wait_for(lambda: (d := httpx.get(f"{settings.url('alerts')}/v1/alerts/{alert_id}",
                                            headers=headers(settings)).json()) and predicate(d) and d,
                    30, what, *procs)


def test_dispositions_verify_rectify_and_refusals(platform):
    settings, procs = platform["settings"], platform["procs"]
    url = settings.url("alerts")
    yellows = [a for a in platform["alerts"] if a["level"] == "yellow" and a["rule_id"] == "BEN-01" and a["open"]]
    alert, other = yellows[0], yellows[1]
    group, region = alert["group_code"], alert["region"]
    me = headers(settings, region, (group,))
    body = {"action": "verify_violation", "method": "visit", "findings": "走访核实：非建档立卡户"}
    # not the responsible group → 403; another county → 404; an obviously illegal action → 409
    assert httpx.post(f"{url}/v1/alerts/{alert['alert_id']}/dispositions", json=body,
                      headers=headers(settings, region, ("edu-x",))).status_code == 403
    elsewhere = "410325" if not region.startswith("410325") else "410326"
    assert httpx.post(f"{url}/v1/alerts/{alert['alert_id']}/dispositions", json=body,
                      headers=headers(settings, elsewhere, (group,))).status_code == 404
    conflict = httpx.post(f"{url}/v1/alerts/{alert['alert_id']}/dispositions", headers=me,
                          json={"action": "rectify", "corrective_actions": ["recover"], "findings": "追回"})
    assert conflict.status_code == 409 and "only a red" in conflict.json()["detail"]
    assert httpx.post(f"{url}/v1/alerts/{alert['alert_id']}/dispositions", headers=me,
                      json={"action": "verify_normal", "findings": "no method"}).status_code == 422

    accepted = httpx.post(f"{url}/v1/alerts/{alert['alert_id']}/dispositions", json=body, headers=me)
    assert accepted.status_code == 202
    first = accepted.json()["disposition_id"]
    _poll_detail(settings, alert["alert_id"], lambda d: d["alert"]["level"] == "red", "verified violation", *procs)
    rectify = {"action": "rectify", "corrective_actions": ["recover", "notice"], "findings": "已追回8000元并通报",
               "attachments": ["oss://dispositions/处理单-001.pdf"]}
    second = httpx.post(f"{url}/v1/alerts/{alert['alert_id']}/dispositions", json=rectify, headers=me).json()
    detail = _poll_detail(settings, alert["alert_id"], lambda d: d["alert"]["level"] == "green", "rectified", *procs)
    assert [t["kind"] for t in detail["history"]] == ["raised", "verified_violation", "rectified"]
    last = detail["history"][-1]
    assert last["actor"] == "tester" and last["corrective_actions"] == ["recover", "notice"]
    assert last["attachments"] == ["oss://dispositions/处理单-001.pdf"] and not detail["alert"]["open"]
    statuses = {d["disposition_id"]: d["status"] for d in detail["dispositions"]}
    assert statuses == {first: "applied", second["disposition_id"]: "applied"}
    closed = httpx.get(f"{url}/v1/alerts", params={"status": "closed", "region": region}, headers=me).json()["items"]
    assert alert["alert_id"] in {a["alert_id"] for a in closed} and all(not a["open"] for a in closed)

    # what the API cannot see coming is refused by the state machine, visibly
    command = DispositionFiled(disposition_id="D-direct-1", alert_id=other["alert_id"], action="rectify",
                               actor="someone", group_code=other["group_code"], corrective_actions=["recover"],
                               findings="rectify a yellow alert")
    publish(settings, [make_event("alert.disposition_filed", command, id="D-direct-1", region=other["region"],
                                  time=dt.datetime.now(dt.UTC))])
    refused = wait_for(lambda: (r := httpx.get(f"{url}/v1/dispositions/D-direct-1", headers=headers(settings))).status_code
                       == 200 and r.json()["status"] == "refused" and r.json(), 30, "refusal", *procs)
    assert "only a red" in refused["reason"]


def test_configuration_applies_without_restart_and_shadow_records_only(platform):
    settings, procs = platform["settings"], platform["procs"]
    url = settings.url("alerts")
    body = {"rule_id": "USE-04", "budget_year": 2026, "scope": "410000", "shadow": True, "params": {"cash_limit": "1000"}}
    put = lambda b, region: httpx.put(f"{url}/v1/rules/USE-04/config", json=b, headers=headers(settings, region, roles=(Role.rule_admin,)))  # noqa: E731
    assert put(body, "410324").status_code == 403  # a county does not set rules
    national = put({**body, "scope": "000000"}, "410000")
    assert national.status_code == 403 and "outside your region 410000" in national.json()["detail"]
    assert put({**body, "scope": "420000"}, "410000").status_code == 403  # nor another province's
    bad = put({**body, "params": {"cash_limit": "abc"}}, "410000")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "params", "cash_limit"]
    assert put(body, "410000").status_code == 202
    wait_for(lambda: any(r["rule_id"] == "USE-04" and r["configured"] for r in
                         httpx.get(f"{url}/v1/rules", headers=headers(settings)).json()), 20, "config projected", *procs)
    cash = f.payment("ZF-CFG-1", "IND-x", "2000.00", settlement="cash", region="410324", payment_date="2026-12-20")
    cash["time"] = "2026-12-20T10:00:00+08:00"
    # the worker reads the config topic on its own: keep sending until the new limit shows
    def shadow_alert():
        alerts = all_alerts(settings, rule_id="USE-04", shadow=True)
        return next((a for a in alerts if a["subject"].startswith("payment/ZF-CFG")), None)

    found = None
    key = api_key(settings, "410324")
    for n in range(1, 20):
        cash["data"]["payment_id"] = cash["id"] = f"ZF-CFG-{n}"
        demo.send([cash], settings.url("ingest"), api_key=key)
        deadline = time.monotonic() + 3
        while found is None and time.monotonic() < deadline:
            found = shadow_alert()
            time.sleep(0.25)
        if found:
            break
    assert found is not None and found["shadow"] is True
    assert all(a["subject"] != found["subject"] for a in all_alerts(settings, rule_id="USE-04"))  # hidden by default


def test_replaying_the_log_raises_no_duplicate(platform):
    settings, dataset, procs, port = platform["settings"], platform["dataset"], platform["procs"], platform["worker_port"]
    before = settled(settings, 3, 60, *procs)
    routed = worker_events(port)
    assert demo.send(dataset.events, settings.url("ingest"), api_key=api_key(settings)) == len(dataset.events)
    wait_for(lambda: worker_events(port) >= routed + len(dataset.events), 90, "replay routed", *procs)
    after = settled(settings, 6, 90, *procs)
    assert sorted((a["alert_id"], a["transitions"]) for a in after) == \
        sorted((a["alert_id"], a["transitions"]) for a in before)


# ---------------------------------------------------------------------- a worker killed mid-stream


def test_killing_the_worker_mid_stream_loses_no_alert(broker, tmp_path):
    """The whole year on the broker — the input and the ledger's derived stream (the real
    recorder's, computed in order beforehand: the worker is under test here, not the ledger) —
    one worker reading it, killed -9 a third of the way and restarted: its state comes back from
    the state topic, the router and the agent resume from their committed offsets, and the result
    is the clean run's: every injected case, nothing else, one alert per (rule, subject)."""
    settings = new_settings(broker, tmp_path)
    worker_port = free_port()
    dataset = demo.generate(size=SIZE)
    events = with_ledger(dataset.events, str(tmp_path / "ledger.db"), settings.topic)
    publish(settings, events)
    with environ({**WORKER_ENV, "FUNDWATCH_ALERTS_WORKER_PORT": str(worker_port),
                  "FUNDWATCH_ALERTS_ROUTER_BATCH": "200"}):
        api = ServiceProcess("alerts", settings, tmp_path).start()
        worker = ServiceProcess("alerts-worker", settings, tmp_path).start()
    procs = [api, worker]
    try:
        api.wait_healthy()
        wait_for(lambda: worker_events(worker_port) > len(events) // 3, 90, "worker mid-stream", *procs)
        worker.kill()
        with environ({**WORKER_ENV, "FUNDWATCH_ALERTS_WORKER_PORT": str(worker_port)}):
            worker.start()
        # the restarted worker recovers its state, works off the backlog and, once the input has been
        # quiet for the idle time, the year is decided
        wait_for(lambda: decided_up_to(worker_port, dataset.events), 180, "the year decided", *procs)
        alerts = settled(settings, 4, 60, *procs)
        got, want = alert_keys(alerts), truth_keys(dataset, settings.pii_key_bytes)
        missing = {r: want[r] - got[r] for r in want if want[r] - got[r]}
        extra = {r: got[r] - want[r] for r in got if got[r] - want[r]}
        assert missing == {} and extra == {}, \
            f"missing {missing}\nextra {extra}\nworker {httpx.get(f'http://127.0.0.1:{worker_port}/v1/status').json()}"
        per_subject = Counter((a["rule_id"], a["subject"]) for a in alerts)
        assert max(per_subject.values()) == 1
    finally:
        for p in procs:
            p.stop()


def test_two_workers_share_the_partitions_and_one_takes_over_from_the_other_killed(broker, tmp_path):
    """Two workers share the work partitions (and their routers the input partitions); one is
    killed -9 mid-stream. The survivor takes over its partitions — state from the state topic, input
    from the committed offsets — and the year ends as the clean run's: every injected case, nothing
    else, one alert per (rule, subject)."""
    settings = new_settings(broker, tmp_path)
    ports = [free_port(), free_port()]
    dataset = demo.generate(size=SIZE)
    events = with_ledger(dataset.events, str(tmp_path / "ledger.db"), settings.topic)
    publish(settings, events)
    api = ServiceProcess("alerts", settings, tmp_path).start()
    workers = []
    for n, port in enumerate(ports):
        (tmp_path / f"w{n}").mkdir()
        with environ({**WORKER_ENV, "FUNDWATCH_ALERTS_WORKER_PORT": str(port), "FUNDWATCH_ALERTS_ROUTER_BATCH": "200"}):
            workers.append(ServiceProcess("alerts-worker", settings, tmp_path / f"w{n}").start())
    procs = [api, *workers]
    try:
        api.wait_healthy()

        def both_working() -> bool:
            held = [httpx.get(f"http://127.0.0.1:{p}/v1/status", timeout=2).json()["watermarks"] for p in ports]
            return all(held) and sum(max(worker_events(p), 0) for p in ports) > len(events) // 3

        wait_for(lambda: _quietly(both_working), 120, "both workers holding partitions, mid-stream", *procs)
        workers[0].kill()
        survivor = ports[1]
        wait_for(lambda: _quietly(lambda: len(httpx.get(f"http://127.0.0.1:{survivor}/v1/status", timeout=2)
                                              .json()["watermarks"]) == 2), 120, "the survivor holding every partition",
                 api, workers[1])
        wait_for(lambda: decided_up_to(survivor, dataset.events), 180, "the year decided", api, workers[1])
        alerts = settled(settings, 4, 60, api, workers[1])
        got, want = alert_keys(alerts), truth_keys(dataset, settings.pii_key_bytes)
        missing = {r: want[r] - got[r] for r in want if want[r] - got[r]}
        extra = {r: got[r] - want[r] for r in got if got[r] - want[r]}
        assert missing == {} and extra == {}, f"missing {missing}\nextra {extra}"
        per_subject = Counter((a["rule_id"], a["subject"]) for a in alerts)
        assert max(per_subject.values()) == 1
    finally:
        for p in procs:
            p.stop()


def _quietly(predicate) -> bool:
    """A predicate over status pages, False while a page does not answer (a worker still starting)."""
    try:
        return bool(predicate())
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def test_the_state_comes_back_whole_after_a_restart(broker, tmp_path):
    """A restarted worker reads its state back from the state topic. The embedded broker reports
    a partition's end offset as the last record batch's base offset + 1, so a message's state
    sent as one batch of several records partly lies beyond the reported end — it must come back
    all the same."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.alerts.config import AlertsSettings
    from services.alerts.engine import ENTITIES, decode_state, encode_state
    from services.alerts.worker.app import Worker, ensure_state_topic

    settings = new_settings(broker, tmp_path)
    written = {f"I:IND-{n}-{i}": ENTITIES["I"](region=f"4103{n:02d}", received_on=f"2026-0{i + 1}-01")
               for n in range(3) for i in range(5)}

    async def run() -> tuple[int, dict]:
        worker = Worker(settings, AlertsSettings())
        await ensure_state_topic(settings, worker.state_topic_name, worker.partitions)
        worker.producer = worker.public_producer = make_producer(settings, linger_ms=0)
        await worker.producer.start()
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        await consumer.start()
        try:
            for n in range(3):
                await worker.deliver(0, [], {k: encode_state(v) for k, v in written.items() if k.startswith(f"I:IND-{n}-")})
            tp = TopicPartition(worker.state_topic_name, 0)
            end = (await consumer.end_offsets([tp]))[tp]
            restarted = Worker(settings, AlertsSettings())
            await restarted.recover(0)
            return end, {k: decode_state(k, v) for k, v in restarted.store.items()}
        finally:
            await consumer.stop()
            await worker.producer.stop()

    end, recovered = asyncio.run(run())
    assert end <= len(written)  # on the embedded broker: less (the last batch's base offset + 1)
    assert recovered == written


def test_a_restarted_worker_sends_the_outbox_again(broker, tmp_path):
    """Output and state go out together; a crash may leave the state without the output. The
    state holds the partition's last output, and a worker taking the partition sends it again."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.alerts.config import AlertsSettings
    from services.alerts.engine import Tracking
    from services.alerts.worker.app import Worker, ensure_state_topic
    from services.runtime.kafka import Record

    settings = new_settings(broker, tmp_path)
    out_topic = f"{settings.topic_prefix}.outbox-check"

    async def run() -> list[bytes]:
        worker = Worker(settings, AlertsSettings())
        await ensure_state_topic(settings, worker.state_topic_name, worker.partitions)
        worker.producer = make_producer(settings, linger_ms=0)
        await worker.producer.start()
        try:
            output = [Record(out_topic, b'{"transition":"t-1"}', b"410324", 0)]
            dirty = worker.with_outbox(0, {"I:IND-1": {"seq": 1}, "G0:track": Tracking(work=3)}, output)
            assert list(dirty) == ["I:IND-1", "G0:out", "G0:track"]  # the tracking record stays last
            await worker.deliver(0, [], dirty)  # as if the output had been lost on the way
            restarted = Worker(settings, AlertsSettings())
            restarted.producer = restarted.public_producer = worker.producer
            await restarted.recover(0)
            assert restarted.counters["outputs_resent"] == 1
        finally:
            await worker.producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            tp = TopicPartition(out_topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            batches = await consumer.getmany(tp, timeout_ms=2000)
            return [r.value for r in batches.get(tp, [])]
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [b'{"transition":"t-1"}']


def test_send_and_wait_says_where_the_records_landed(broker, tmp_path):
    """The router paces its rounds by the work-topic offsets it wrote: `send_and_wait` returns
    the offset of the last record per partition, across record batches."""
    from aiokafka import TopicPartition
    from aiokafka.admin import NewTopic

    from services.runtime.kafka import Record, create_missing_topics, send_and_wait

    settings = new_settings(broker, tmp_path)
    topic = f"{settings.topic_prefix}.offsets-check"

    async def run() -> list[dict]:
        await create_missing_topics(settings, [NewTopic(topic, 2, 1)])
        producer = make_producer(settings, linger_ms=0, max_batch_size=1024)
        await producer.start()
        try:
            first = await send_and_wait(producer, [Record(topic, b"x" * 300, partition=p) for p in (0, 0, 0, 1, 1)])
            second = await send_and_wait(producer, [Record(topic, b"y", partition=0)])
            return [first, second]
        finally:
            await producer.stop()

    first, second = asyncio.run(run())
    assert first == {TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 1}  # three batches of ≤ 1 KB on 0
    assert second == {TopicPartition(topic, 0): 3}


def test_the_router_waits_for_the_agent_only_on_partitions_it_holds(tmp_path):
    """Rounds follow the agent: the router waits until the agent has processed what the worker
    wrote to the partitions the agent holds, at most until the linger's end."""
    from aiokafka import TopicPartition

    from services.alerts.config import AlertsSettings
    from services.alerts.worker.router import Router

    async def run() -> tuple[Counter, Counter, float]:
        router = Router(Settings(kafka_bootstrap="127.0.0.1:9", topic_prefix="pace"), AlertsSettings(), "pace-alerts")
        work = router.work_topic_name
        router.assigned = {0, 1}
        router.sent({TopicPartition(work, 0): 4, TopicPartition(work, 2): 9, TopicPartition("elsewhere", 0): 50})
        router.sent_to(1, 2)  # a forward the agent wrote
        router.worked(0, 4)
        await router.wait_for_agent(time.time() + 0.2)  # partition 1 is behind: waits out the linger
        lingered = Counter(router.counters)

        async def agent() -> None:
            await asyncio.sleep(0.05)
            router.worked(1, 2)

        started = time.time()
        task = asyncio.create_task(agent())
        await router.wait_for_agent(time.time() + 30)  # returns when the agent is done (2 is another's)
        await task
        return lingered, Counter(router.counters), time.time() - started

    lingered, after, took = asyncio.run(run())
    assert lingered["router_lingered_out"] == 1
    assert after["router_lingered_out"] == 1
    assert took < 30


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has died
    except FileNotFoundError:
        return True


def test_the_worker_and_its_router_process_die_together(broker, tmp_path):
    """The router runs in a process of the worker's own: a worker whose router died exits (as a
    crash: the supervisor starts it again), and a router whose worker was killed -9 dies with it
    instead of routing on for nobody."""
    settings = new_settings(broker, tmp_path)
    worker_port = free_port()

    def router_pid() -> int | None:
        try:
            return httpx.get(f"http://127.0.0.1:{worker_port}/v1/status", timeout=2).json().get("router_pid")
        except (httpx.HTTPError, ValueError):
            return None

    with environ({**WORKER_ENV, "FUNDWATCH_ALERTS_WORKER_PORT": str(worker_port)}):
        worker = ServiceProcess("alerts-worker", settings, tmp_path).start()
    try:
        router = wait_for(router_pid, 60, "the router process", worker)
        os.kill(router, signal.SIGKILL)
        wait_for(lambda: worker.process.poll() is not None or None, 30, "the worker to stop")
        assert worker.process.returncode == 70
        assert "the alerts router process exited" in worker.tail()

        with environ({**WORKER_ENV, "FUNDWATCH_ALERTS_WORKER_PORT": str(worker_port)}):
            worker.start()
        router = wait_for(router_pid, 60, "the router process", worker)
        os.kill(worker.process.pid, signal.SIGKILL)  # the worker alone, not its process group
        worker.process.wait()
        wait_for(lambda: _gone(router), 30, "the router to die with its worker")
    finally:
        worker.stop()
