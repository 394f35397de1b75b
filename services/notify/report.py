"""The monthly monitoring report (月度监控情况报告, seed 000 art. 21): each responsible group's
to the treasury group, and the treasury group's overall one, for a month and a region.

`summarise` is pure: alert transitions (as the alerts API lists them, with the amounts their
dispositions recovered or suspended) and the ledger's spending figures in, the report's numbers
out. `to_xlsx` and `to_html` render them (Chinese, with charts; the HTML prints on A4).
`alert_transitions` and `ledger_figures` read the alerts and ledger APIs (I/O)."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from html import escape
from typing import Any

import httpx
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify import store
from services.notify.channels import LEVEL_ZH, TRANSITION_ZH
from services.runtime.calendar import CST, add_working_days, is_working_day, working_days_between

CATEGORY_ZH = {"indicator receipt": "指标接收", "allocation": "指标分配", "disbursement progress": "支出进度",
               "fund usage": "资金使用", "account management": "账户管理", "recipients": "资金对象",
               "performance": "绩效管理"}
ACTION_ZH = {"recover": "追回资金", "suspend": "暂停拨付", "notice": "通报", "referral": "移送"}
DISPOSED = ("verified_normal", "verified_violation", "rectified")


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a Beijing calendar month, aware."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=CST)
    nxt = dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=CST)
    return start, nxt


def first_working_day(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    return day if is_working_day(day) else add_working_days(day, 1)


def previous_month(day: dt.date) -> dt.date:
    first = day.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def _amount(facts: Mapping[str, str]) -> Decimal:
    try:
        return Decimal(facts.get("amount", "0"))
    except ArithmeticError:
        return Decimal(0)


def _money(value: str | None) -> Decimal:
    return Decimal(value) if value else Decimal(0)


def summarise(month: dt.date, region: str, group: str | None, transitions: Iterable[Mapping[str, Any]],
              ledger: Mapping[str, Any], *, overdue_after: int = 5) -> dict[str, Any]:
    """`transitions`: the alerts API's `/v1/transitions` rows (`alert.transitioned` data with the
    alert's region and the disposition's `amount_recovered` / `amount_suspended`), any order. An alert
    counts as overdue when it is open at month end and has been yellow or red for more than
    `overdue_after` working days (the escalation threshold), or its deadline (`due`) has passed."""
    start, end = month_bounds(month)
    by_alert: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for t in transitions:
        by_alert[t["alert_id"]].append(t)
    raised = Counter[str]()
    raised_cat = Counter[str]()
    raised_rule = Counter[str]()
    closed = Counter[str]()
    closed_cat = Counter[str]()
    closed_rule = Counter[str]()
    disposed = Counter[str]()
    actions = Counter[str]()
    action_amounts: dict[str, Decimal] = defaultdict(Decimal)
    # exact money the dispositions state, summed per rule and per group (seed 000 art. 21's 追回/暂停)
    money_rule: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"recovered": Decimal(0),
                                                                     "suspended": Decimal(0)})
    money_group: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"recovered": Decimal(0),
                                                                      "suspended": Decimal(0)})
    per_region = Counter[str]()
    open_by_level = Counter[str]()
    overdue: list[dict[str, Any]] = []
    end_day = (end - dt.timedelta(seconds=1)).date()
    for alert_id, ts in by_alert.items():
        ts.sort(key=lambda t: (t["at"], t["transition_id"]))
        first = ts[0]
        amount = sum((_amount(e.get("facts", {})) for t in ts for e in t.get("evidence", [])), Decimal(0))
        for t in ts:
            at = t["at"]
            if not start <= at < end:
                continue
            if t["transition"] == "raised":
                raised[t["level"]] += 1
                raised_cat[t["category"]] += 1
                raised_rule[t["rule_id"]] += 1
                per_region[t["region"]] += 1
            if not t.get("open", True):
                closed[t.get("from_level") or t["level"]] += 1
                closed_cat[t["category"]] += 1
                closed_rule[t["rule_id"]] += 1
            if t["transition"] in DISPOSED:
                disposed[t["transition"]] += 1
            for action in t.get("corrective_actions", []):
                actions[action] += 1
                action_amounts[action] += amount
            recovered, suspended = _money(t.get("amount_recovered")), _money(t.get("amount_suspended"))
            if recovered or suspended:
                for cell in (money_rule[t["rule_id"]], money_group[t.get("group_code") or ""]):
                    cell["recovered"] += recovered
                    cell["suspended"] += suspended
        upto = [t for t in ts if t["at"] < end]
        if not upto or not upto[-1].get("open", True):
            continue
        last = upto[-1]
        open_by_level[last["level"]] += 1
        since = max((t["at"] for t in upto if t["level"] == last["level"]
                     and (t.get("from_level") != last["level"])), default=first["at"])
        days = working_days_between(since.astimezone(CST).date(), end_day)
        due = last.get("due")
        late = (due is not None and dt.date.fromisoformat(str(due)) < end_day) or (
            last["level"] in ("yellow", "red") and days > overdue_after)
        if late:
            overdue.append({"alert_id": alert_id, "rule_id": last["rule_id"], "title_zh": last["title_zh"],
                            "region": last["region"], "level": last["level"], "working_days": days,
                            "subject": last["subject"]})
    overdue.sort(key=lambda o: (-o["working_days"], o["alert_id"]))
    return {
        "month": month.strftime("%Y-%m"), "region": region, "group": group,
        "raised": {"total": sum(raised.values()), "by_level": dict(raised), "by_category": dict(raised_cat),
                   "by_rule": dict(sorted(raised_rule.items()))},
        "closed": {"total": sum(closed.values()), "by_level": dict(closed), "by_category": dict(closed_cat),
                   "by_rule": dict(sorted(closed_rule.items()))},
        "open_at_end": {"total": sum(open_by_level.values()), "by_level": dict(open_by_level)},
        "overdue": overdue,
        "dispositions": {"by_kind": dict(disposed),
                         "corrective_actions": {a: {"count": n, "amount": str(action_amounts[a])}
                                                for a, n in sorted(actions.items())},
                         "recovered": str(sum((m["recovered"] for m in money_rule.values()), Decimal("0.00"))),
                         "suspended": str(sum((m["suspended"] for m in money_rule.values()), Decimal("0.00"))),
                         "by_rule": {k: {n: str(v) for n, v in m.items()} for k, m in sorted(money_rule.items())},
                         "by_group": {k: {n: str(v) for n, v in m.items()} for k, m in sorted(money_group.items())}},
        "spending": ledger,
        "ranking": {"by_alerts_raised": [{"region": r, "raised": n} for r, n in
                                         sorted(per_region.items(), key=lambda kv: (-kv[1], kv[0]))],
                    "by_progress": sorted(ledger.get("regions", []), key=lambda r: r.get("rank") or 0)},
    }


async def alert_transitions(client: httpx.AsyncClient, region: str, group: str | None, before: dt.datetime,
                            headers: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every transition of the region's (and group's) alerts before `before`, from the alerts API,
    page by page (it is the authority on alert state; notify's inbox only holds what was routed)."""
    params: dict[str, Any] = {"region": region, "until": before.isoformat(), "limit": 1000}
    if group:
        params["group"] = group
    out: list[dict[str, Any]] = []
    while True:
        page = (await client.get("/v1/transitions", params={**params, "offset": len(out)}, headers=dict(headers or {}))
                ).raise_for_status().json()
        for item in page["items"]:
            item["at"] = dt.datetime.fromisoformat(item["at"].replace("Z", "+00:00"))
        out.extend(page["items"])
        if not page["items"] or len(out) >= page["total"]:
            return out


async def ledger_figures(client: httpx.AsyncClient, region: str,
                         headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Spending progress from the ledger API: by fund (overview) and by the region's children
    (regions/tree, with the ledger's ranking by progress)."""
    h = dict(headers or {})
    overview = (await client.get("/v1/overview", params={"region": region}, headers=h)).raise_for_status().json()
    tree = (await client.get("/v1/regions/tree", params={"region": region, "limit": 500}, headers=h)
            ).raise_for_status().json()
    keep = ("available", "allocated", "paid", "progress")
    return {
        "totals": {k: overview["totals"][k] for k in keep},
        "funds": [{"fund_code": f["fund_code"], "fund_name": f["fund_name"], **{k: f[k] for k in keep}}
                  for f in overview["by_fund"]],
        "regions": [{"code": r["code"], "name": r["name"], "rank": r["rank"], **{k: r[k] for k in keep}}
                    for r in tree["children"]["items"]],
    }


# ---------------------------------------------------------------- rendering

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def title_of(s: Mapping[str, Any]) -> str:
    return _title(s)


def _title(s: Mapping[str, Any]) -> str:
    who = f"{s['group']}业务组" if s["group"] else "国库业务组（汇总）"
    return f"{s['month'][:4]}年{int(s['month'][5:])}月财政扶贫资金动态监控情况报告 — {who} — 区划{s['region']}"


def _tables(s: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(sheet/section title, header, rows) — shared by the workbook and the HTML."""
    levels = ("bell", "yellow", "red", "green")
    out: list[tuple[str, list[str], list[list[Any]]]] = [
        ("预警概况", ["项目", *(LEVEL_ZH[lv] for lv in levels), "合计"], [
            ["本月新发", *(s["raised"]["by_level"].get(lv, 0) for lv in levels), s["raised"]["total"]],
            ["本月办结", *(s["closed"]["by_level"].get(lv, 0) for lv in levels), s["closed"]["total"]],
            ["月末未办结", *(s["open_at_end"]["by_level"].get(lv, 0) for lv in levels), s["open_at_end"]["total"]],
        ]),
        ("按类别", ["类别", "新发", "办结"], [
            [CATEGORY_ZH.get(c, c), s["raised"]["by_category"].get(c, 0), s["closed"]["by_category"].get(c, 0)]
            for c in sorted(set(s["raised"]["by_category"]) | set(s["closed"]["by_category"]))]),
        ("按规则", ["规则", "新发", "办结"], [
            [r, s["raised"]["by_rule"].get(r, 0), s["closed"]["by_rule"].get(r, 0)]
            for r in sorted(set(s["raised"]["by_rule"]) | set(s["closed"]["by_rule"]))]),
        ("超期未办结", ["预警编号", "规则", "名称", "区划", "等级", "已历工作日", "对象"], [
            [o["alert_id"], o["rule_id"], o["title_zh"], o["region"], LEVEL_ZH.get(o["level"], o["level"]),
             o["working_days"], o["subject"]] for o in s["overdue"]]),
        ("处理情况", ["处理结果/整改措施", "件数", "涉及金额（元）", "追回/暂停金额（元）"], [
            *([TRANSITION_ZH.get(k, k), n, "", ""] for k, n in sorted(s["dispositions"]["by_kind"].items())),
            *([ACTION_ZH.get(a, a), v["count"], Decimal(v["amount"]),
               Decimal(s["dispositions"]["recovered"]) if a == "recover" else
               Decimal(s["dispositions"]["suspended"]) if a == "suspend" else ""]
              for a, v in s["dispositions"]["corrective_actions"].items())]),
        ("追回与暂停拨付金额", ["按规则/业务组", "代码", "追回资金（元）", "暂停拨付（元）"], [
            *(["规则", k, Decimal(m["recovered"]), Decimal(m["suspended"])]
              for k, m in s["dispositions"]["by_rule"].items()),
            *(["业务组", k or "（未指定）", Decimal(m["recovered"]), Decimal(m["suspended"])]
              for k, m in s["dispositions"]["by_group"].items()),
            ["合计", "", Decimal(s["dispositions"]["recovered"]), Decimal(s["dispositions"]["suspended"])]]),
        ("资金支出进度（按资金）",
         ["资金代码", "资金名称", "可用指标（元）", "已分配（元）", "已支付（元）", "支出进度"], [
            [f["fund_code"], f["fund_name"] or "", Decimal(f["available"]), Decimal(f["allocated"]),
             Decimal(f["paid"]), Decimal(f["progress"])] for f in s["spending"].get("funds", [])]),
        ("资金支出进度排名（按区划）", ["排名", "区划代码", "区划名称", "可用指标（元）", "已支付（元）", "支出进度"], [
            [r["rank"], r["code"], r["name"] or "", Decimal(r["available"]), Decimal(r["paid"]),
             Decimal(r["progress"])] for r in s["ranking"]["by_progress"]]),
        ("预警数量排名（按区划）", ["排名", "区划代码", "本月新发预警"], [
            [i, r["region"], r["raised"]] for i, r in enumerate(s["ranking"]["by_alerts_raised"], 1)]),
    ]
    return out


def to_xlsx(s: Mapping[str, Any]) -> bytes:
    book = Workbook()
    first = True
    for title, header, rows in _tables(s):
        sheet = book.active if first else book.create_sheet()
        first = False
        sheet.title = title[:31]
        sheet.append([_title(s)])
        sheet["A1"].font = Font(bold=True, size=13)
        sheet.append(header)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center")
        for row in rows:
            sheet.append(row)
        for column in sheet.columns:
            sheet.column_dimensions[column[1].column_letter].width = 16
        if title == "预警概况" or (title.startswith("资金支出进度排名") and rows):
            chart = BarChart()
            chart.title = "本月预警（按等级）" if title == "预警概况" else "支出进度（按区划）"
            if title == "预警概况":
                data = Reference(sheet, min_col=2, max_col=len(header) - 1, min_row=3, max_row=3)
                chart.add_data(data, from_rows=True, titles_from_data=False)
                chart.set_categories(Reference(sheet, min_col=2, max_col=len(header) - 1, min_row=2))
            else:
                chart.add_data(Reference(sheet, min_col=6, min_row=2, max_row=2 + len(rows)), titles_from_data=True)
                chart.set_categories(Reference(sheet, min_col=3, min_row=3, max_row=2 + len(rows)))
            sheet.add_chart(chart, f"A{len(rows) + 5}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _svg_bars(pairs: list[tuple[str, float]], unit: str = "") -> str:
    if not pairs:
        return ""
    top = max(v for _k, v in pairs) or 1
    bar_h, width = 22, 420
    rows = []
    for i, (label, value) in enumerate(pairs):
        w = int(width * value / top)
        y = i * (bar_h + 6)
        rows.append(f'<text x="0" y="{y + 16}" font-size="12">{escape(label)}</text>'
                    f'<rect x="120" y="{y}" width="{w}" height="{bar_h}" fill="#c0392b"/>'
                    f'<text x="{125 + w}" y="{y + 16}" font-size="12">{value:g}{unit}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="620" height="{len(pairs) * (bar_h + 6)}" '
            f'role="img">{"".join(rows)}</svg>')


def to_html(s: Mapping[str, Any]) -> str:
    sections = []
    for title, header, rows in _tables(s):
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        chart = ""
        if title == "预警概况":
            chart = _svg_bars([(LEVEL_ZH[lv], float(s["raised"]["by_level"].get(lv, 0)))
                               for lv in ("bell", "yellow", "red", "green")], "条")
        elif title.startswith("资金支出进度排名"):
            chart = _svg_bars([(r["name"] or r["code"], float(Decimal(r["progress"]) * 100))
                               for r in s["ranking"]["by_progress"]], "%")
        empty = "" if rows else '<p class="none">本月无</p>'
        sections.append(f"<section><h2>{escape(title)}</h2>{chart}<table><thead><tr>{head}</tr></thead>"
                        f"<tbody>{body}</tbody></table>{empty}</section>")
    return ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{escape(_title(s))}</title><style>"
            "@page{size:A4;margin:18mm}body{font-family:'Noto Sans CJK SC','Source Han Sans SC',sans-serif;"
            "font-size:12px}h1{font-size:18px;text-align:center}h2{font-size:14px;border-left:4px solid #c0392b;"
            "padding-left:6px}table{border-collapse:collapse;width:100%;margin-bottom:8px}"
            "th,td{border:1px solid #999;padding:3px 6px}th{background:#eee}section{page-break-inside:avoid}"
            "</style></head><body>"
            f"<h1>{escape(_title(s))}</h1>{''.join(sections)}</body></html>")


# ---------------------------------------------------------------- generation (I/O)

ALL_GROUPS = "all"  # the treasury group's overall report


def report_id(month: dt.date, region: str, group: str | None) -> str:
    return f"{month:%Y-%m}.{region}.{group or ALL_GROUPS}"


async def generate(engine: AsyncEngine, ledger: httpx.AsyncClient, alerts: httpx.AsyncClient, month: dt.date,
                   region: str, group: str | None, user: str, headers: Mapping[str, str] | None = None
                   ) -> dict[str, Any]:
    """Compute, render and keep one report (a second generation replaces the first)."""
    _start, end = month_bounds(month)
    transitions = await alert_transitions(alerts, region, group, end, headers)
    summary = summarise(month, region, group, transitions, await ledger_figures(ledger, region, headers))
    rid = report_id(month, region, group)
    await store.save_report(engine, {
        "report_id": rid, "month": month, "region": region, "group_code": group or ALL_GROUPS,
        "generated_at": store.utcnow(), "generated_by": user, "summary": json.dumps(summary, ensure_ascii=False),
        "xlsx": to_xlsx(summary), "html": to_html(summary)})
    return {"report_id": rid, **summary}
