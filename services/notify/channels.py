"""Each channel's wire format (pure functions over plain data) and its one send call (I/O).

A grouped message lists alert transitions of one rule and region (`Listed`); `format_message`
turns such a list into the body each receiver documents, split so that every part fits the
receiver's size limit. Signatures (钉钉's timestamp + HMAC, Standard Webhooks') are made at
send time, because receivers refuse stale timestamps."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from html import escape
from typing import Any

import aiosmtplib
import httpx
from standardwebhooks.webhooks import Webhook

from contracts.alert import DeliveryChannel
from services.runtime.settings import Settings

ROBOT_BYTES = 4096  # 企业微信 markdown content: at most 4,096 bytes (UTF-8); 钉钉 kept to the same
MAX_LISTED = 200  # alerts per Alertmanager / e-mail message (a flood becomes a few messages, none truncated)
GROUPED = frozenset({DeliveryChannel.email, DeliveryChannel.wecom, DeliveryChannel.dingtalk,
                     DeliveryChannel.alertmanager})

LEVEL_ZH = {"bell": "黄色警铃", "yellow": "黄灯", "red": "红灯", "green": "绿灯"}
TRANSITION_ZH = {"raised": "新发", "escalated": "升级", "cleared": "解除", "verified_normal": "核实正常",
                 "verified_violation": "核实违规", "rectified": "整改完成", "reminder": "催办",
                 "escalation": "督办", "tracking": "跟踪提醒"}
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end" for a firing alert


@dataclass(frozen=True)
class Listed:
    """One alert transition (or reminder) as a message lists it."""

    alert_id: str
    transition_id: str
    transition: str
    rule_id: str
    category: str
    title_zh: str
    subject: str
    level: str
    open: bool
    region: str
    group_code: str
    at: dt.datetime
    findings: str = ""
    note: str = ""  # a reminder's text

    @classmethod
    def from_event(cls, envelope: dict[str, Any]) -> Listed:
        """From an `alert.transitioned` or `alert.reminded` envelope (its JSON form)."""
        d = envelope["data"]
        at = dt.datetime.fromisoformat(str(d["at"]).replace("Z", "+00:00"))
        if envelope["type"] == "alert.reminded":
            return cls(d["alert_id"], d["reminder_id"], d["kind"], d["rule_id"], d.get("category", ""),
                       d.get("title_zh", ""), d.get("subject", ""), d["level"], True, envelope["region"],
                       d["group_code"], at, note=d["text_zh"])
        return cls(d["alert_id"], d["transition_id"], d["transition"], d["rule_id"], d["category"], d["title_zh"],
                   d["subject"], d["level"], d.get("open", True), envelope["region"],
                   d.get("group_code") or "", at,
                   findings=d.get("findings_zh") or d.get("findings", ""))  # Chinese when the alert carries it


def _headline(listed: Sequence[Listed]) -> str:
    first = listed[0]
    levels = "、".join(dict.fromkeys(LEVEL_ZH.get(x.level, x.level) for x in listed))
    return f"【{levels}】{first.rule_id} {first.title_zh}（{first.region}）共{len(listed)}条"


def _line_md(x: Listed, console: str) -> str:
    text = x.note or x.findings
    tail = f"：{text[:60]}" if text else ""
    return (f"- {TRANSITION_ZH.get(x.transition, x.transition)}·{LEVEL_ZH.get(x.level, x.level)} "
            f"[{x.subject}]({console}/alerts/{urllib.parse.quote(x.alert_id)}){tail}\n")


def _robot_parts(listed: Sequence[Listed], console: str, limit: int) -> list[tuple[str, str, int]]:
    """(title, markdown, alerts listed) per part, each part's markdown within `limit` bytes."""
    parts: list[tuple[str, str, int]] = []
    i = 0
    while i < len(listed):
        rest = listed[i:]
        title = _headline(listed)
        head = f"### {title}\n> 类别：{rest[0].category}　区划：{rest[0].region}\n\n"
        body, n = head, 0
        for x in rest:
            line = _line_md(x, console)
            footer = f"\n第{len(parts) + 1}部分，列{n + 1}条；请登录平台处理：{console}\n"
            if len((body + line + footer).encode()) > limit and n:
                break
            body += line
            n += 1
        body += f"\n第{len(parts) + 1}部分，列{n}条；请登录平台处理：{console}\n"
        if len(body.encode()) > limit:  # one line alone too long: cut at a character boundary
            body = body.encode()[:limit].decode(errors="ignore")
        parts.append((title, body, n))
        i += n
    return parts


def wecom_bodies(listed: Sequence[Listed], console: str, mobiles: Sequence[str] = ()) -> list[tuple[dict, int]]:
    """企业微信 group robot: `{"msgtype": "markdown", "markdown": {"content": …}}`, content ≤ 4,096 bytes.
    Robots' markdown cannot @ by mobile; `<@userid>` mentions would need user ids, so mobiles go in text."""
    mention = ("\n" + " ".join(f"@{m}" for m in mobiles)) if mobiles else ""
    limit = ROBOT_BYTES - len(mention.encode())
    return [({"msgtype": "markdown", "markdown": {"content": md + mention}}, n)
            for _title, md, n in _robot_parts(listed, console, limit)]


def dingtalk_bodies(listed: Sequence[Listed], console: str, mobiles: Sequence[str] = ()) -> list[tuple[dict, int]]:
    """钉钉 robot: `{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles", "isAtAll"}}`;
    a mobile is @-ed by naming it in the text as well."""
    mention = ("\n" + " ".join(f"@{m}" for m in mobiles)) if mobiles else ""
    limit = ROBOT_BYTES - len(mention.encode())
    return [({"msgtype": "markdown", "markdown": {"title": title[:60], "text": md + mention},
              "at": {"atMobiles": list(mobiles), "isAtAll": False}}, n)
            for title, md, n in _robot_parts(listed, console, limit)]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    if not secret:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"


def _fingerprint(alert_id: str) -> str:
    return hashlib.sha256(alert_id.encode()).hexdigest()[:16]


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def alertmanager_bodies(listed: Sequence[Listed], *, receiver: str, console: str) -> list[tuple[dict, int]]:
    """The Alertmanager webhook payload, version 4 (prometheus/alertmanager notify/webhook):
    one group (same rule and region), its alerts with labels and annotations."""
    out: list[tuple[dict, int]] = []
    first = listed[0]
    group_labels = {"alertname": first.rule_id, "region": first.region}
    for i in range(0, len(listed), MAX_LISTED):
        chunk = listed[i:i + MAX_LISTED]
        alerts: list[dict[str, Any]] = []
        for x in chunk:
            firing = x.open and x.level != "green"
            labels = {"alertname": x.rule_id, "rule_id": x.rule_id, "region": x.region, "severity": x.level,
                      "category": x.category, "group": x.group_code, "alert_id": x.alert_id,
                      "transition": x.transition}
            alerts.append({
                "status": "firing" if firing else "resolved", "labels": labels,
                "annotations": {"summary": x.title_zh, "subject": x.subject,
                                "description": x.note or x.findings or x.title_zh},
                "startsAt": _rfc3339(x.at), "endsAt": _ZERO_TIME if firing else _rfc3339(x.at),
                "generatorURL": f"{console}/alerts/{urllib.parse.quote(x.alert_id)}",
                "fingerprint": _fingerprint(x.alert_id),
            })
        common = {k: v for k, v in alerts[0]["labels"].items()
                  if all(a["labels"].get(k) == v for a in alerts)}
        common_ann = {k: v for k, v in alerts[0]["annotations"].items()
                      if all(a["annotations"].get(k) == v for a in alerts)}
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
        out.append(({
            "version": "4", "groupKey": f'{{}}:{{alertname="{first.rule_id}", region="{first.region}"}}',
            "truncatedAlerts": 0, "status": status, "receiver": receiver, "groupLabels": group_labels,
            "commonLabels": common, "commonAnnotations": common_ann, "externalURL": console, "alerts": alerts,
        }, len(chunk)))
    return out


def email_bodies(listed: Sequence[Listed], *, to: Sequence[str], console: str) -> list[tuple[dict, int]]:
    """An e-mail per at most MAX_LISTED alerts: Chinese subject, a text and an HTML part."""
    out = []
    for i in range(0, len(listed), MAX_LISTED):
        chunk = listed[i:i + MAX_LISTED]
        subject = f"[fundwatch预警] {_headline(chunk)}"
        lines = [f"{TRANSITION_ZH.get(x.transition, x.transition)}\t{LEVEL_ZH.get(x.level, x.level)}\t"
                 f"{x.subject}\t{x.note or x.findings}\t{console}/alerts/{x.alert_id}" for x in chunk]
        text = (f"{_headline(chunk)}\n类别：{chunk[0].category}\n\n" + "\n".join(lines)
                + f"\n\n请登录平台核实处理：{console}\n")
        rows = "".join(
            f"<tr><td>{escape(TRANSITION_ZH.get(x.transition, x.transition))}</td>"
            f"<td>{escape(LEVEL_ZH.get(x.level, x.level))}</td>"
            f'<td><a href="{escape(console)}/alerts/{escape(x.alert_id)}">{escape(x.subject)}</a></td>'
            f"<td>{escape(x.note or x.findings)}</td></tr>" for x in chunk)
        html = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><body>'
                f"<h3>{escape(_headline(chunk))}</h3><p>类别：{escape(chunk[0].category)}</p>"
                f'<table border="1" cellpadding="4"><tr><th>变化</th><th>等级</th><th>对象</th><th>说明</th></tr>'
                f'{rows}</table><p>请登录平台核实处理：<a href="{escape(console)}">{escape(console)}</a></p>'
                f"</body></html>")
        out.append(({"to": list(to), "subject": subject, "text": text, "html": html}, len(chunk)))
    return out


def format_message(channel: str, listed: Sequence[Listed], *, target: str, receiver: str, console: str,
                   recipients: Sequence[str] = ()) -> list[tuple[dict, int]]:
    """The bodies of one grouped message on `channel` (more than one when a size limit splits it)."""
    if channel == DeliveryChannel.wecom:
        return wecom_bodies(listed, console, recipients)
    if channel == DeliveryChannel.dingtalk:
        return dingtalk_bodies(listed, console, recipients)
    if channel == DeliveryChannel.alertmanager:
        return alertmanager_bodies(listed, receiver=receiver, console=console)
    if channel == DeliveryChannel.email:
        return email_bodies(listed, to=[a.strip() for a in target.split(",") if a.strip()], console=console)
    raise ValueError(f"channel {channel} is not grouped")


def webhook_secret(settings: Settings) -> str:
    """The Standard Webhooks secret of the settings' webhooks: the configured whsec_…, else one
    derived from the PII key (stable across restarts, never that key itself)."""
    if settings.notify_webhook_secret:
        return settings.notify_webhook_secret.get_secret_value()
    base = settings.pii_key.get_secret_value().encode()
    key = hmac.new(base, b"fundwatch notify webhook", hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()


def standard_webhook_headers(secret: str, msg_id: str, body: str, now: dt.datetime | None = None) -> dict[str, str]:
    """webhook-id (the same on every attempt: receivers de-duplicate by it), webhook-timestamp,
    webhook-signature (v1, HMAC-SHA256 over "id.timestamp.body")."""
    moment = now or dt.datetime.now(dt.UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, moment, body)}


# ---------------------------------------------------------------- sending (I/O)

def _robot_error(response: httpx.Response) -> str | None:
    """Robots answer HTTP 200 with {"errcode": 0} on success and a non-zero errcode otherwise."""
    if not response.is_success:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    try:
        answer = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}"
    if answer.get("errcode", 0) != 0:
        return f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}"
    return None


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    sender: str
    timeout_s: float


async def send(client: httpx.AsyncClient, smtp: Smtp, *, channel: str, target: str, secret: str | None,
               body: str, msg_id: str) -> str | None:
    """One attempt; None on success, else a short reason."""
    try:
        if channel == DeliveryChannel.email:
            mail = json.loads(body)
            message = EmailMessage()
            message["From"] = smtp.sender
            message["To"] = ", ".join(mail["to"])
            message["Subject"] = mail["subject"]
            message["Message-ID"] = f"<{hashlib.sha256(msg_id.encode()).hexdigest()[:32]}@fundwatch>"
            message.set_content(mail["text"])
            message.add_alternative(mail["html"], subtype="html")
            for a in mail.get("attachments", []):  # the monthly report's workbook
                maintype, subtype = a["mime"].split("/", 1)
                message.add_attachment(base64.b64decode(a["content_b64"]), maintype=maintype, subtype=subtype,
                                       filename=a["filename"])
            await aiosmtplib.send(message, hostname=smtp.host, port=smtp.port, timeout=smtp.timeout_s)
            return None
        headers = {"content-type": "application/json"}
        url = target
        if channel == DeliveryChannel.dingtalk:
            url = dingtalk_url(target, secret, int(time.time() * 1000))
        if channel == DeliveryChannel.webhook:
            headers |= standard_webhook_headers(secret or "", msg_id, body)
            headers["X-Fundwatch-Delivery"] = msg_id
        response = await client.post(url, content=body.encode(), headers=headers)
        if channel in (DeliveryChannel.wecom, DeliveryChannel.dingtalk):
            return _robot_error(response)
        if response.is_success:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"
    except (httpx.HTTPError, aiosmtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
