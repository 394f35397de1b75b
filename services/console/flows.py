"""资金追溯 as a Sankey: the ledger's chain (top document → province → city → county indicator →
payment, or an indicator down to its lower indicators and payees) as nodes and links for ECharts;
the transfer document (下达文件) between two levels' indicators is named on the receiving level.
Pure functions over the APIs' answers; every text shown is formatted here (text.py), the numbers
are only the links' widths."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from services.console import text

MAX_PAYEES = 12  # more payees than this are drawn as one node "其余 N 位收款人"
KIND_WORDS = {"indicator": "指标", "transfer": "下达文件", "payment": "支付", "payee": "收款人"}


def _amount(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class _Flow:
    def __init__(self, region: Callable[[str | None], str], unit: str) -> None:
        self.region, self.unit = region, unit
        self.nodes: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, Any]] = []

    def node(self, key: str, kind: str, region: str | None, doc_no: str | None, amount: object, *,
             title: str | None = None, top: bool = False, href: str | None = None) -> str:
        if key not in self.nodes:
            head = title or f"{self.region(region)}{KIND_WORDS[kind]}"
            lines = [head + ("（最上级文件）" if top else "")]
            if doc_no is not None or kind in ("indicator", "transfer"):
                lines.append(f"文号 {doc_no or '—'}")
            lines.append(text.money(amount, self.unit))
            self.nodes[key] = {"name": key, "kind": "top" if top else kind, "text": "\n".join(lines),
                               "doc_no": doc_no, "amount": text.money(amount, self.unit), "href": href}
        return key

    def link(self, source: str, target: str, amount: object, via: dict[str, Any] | None = None) -> None:
        """A flow; `via` the transfer document that carried it (named on the target, not a node)."""
        value = _amount(amount) or Decimal(0)
        label = None
        if via is not None:
            label = f"下达文件 {via.get('doc_no') or '—'}\n下达金额 {text.money(via.get('amount'), self.unit)}"
            below = self.nodes[target]
            if label not in below["text"]:  # the receiving level's label says what brought the money
                below["text"] += "\n" + label
        self.links.append({"source": source, "target": target, "value": float(value),
                           "text": text.money(value, self.unit), "label": label})

    def chain_up(self, chain: list[dict[str, Any]], below: str, below_amount: object) -> None:
        """Link each indicator of an upward chain (nearest first) to the one below it, through the
        transfer between them; a transfer whose issuing indicator is not known stays a node."""
        lower, lower_amount, via = below, below_amount, None
        for i, c in enumerate(chain):
            last = i == len(chain) - 1
            if c["kind"] == "transfer" and not last:
                via = c
                continue
            kind = "transfer" if c["kind"] == "transfer" else "indicator"
            key = self.node(f"{kind}:{c['id']}", kind, c.get("region"), c.get("doc_no"), c.get("amount"),
                            top=last and kind == "indicator",
                            href=f"/trace/indicator/{c['id']}" if kind == "indicator" and not c.get("missing") else None)
            self.link(key, lower, lower_amount, via)
            lower, lower_amount, via = key, c.get("amount") if c.get("amount") is not None else lower_amount, None

    def out(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes.values()), "links": self.links}


def payment_flow(trace: dict[str, Any], region: Callable[[str | None], str], unit: str) -> dict[str, Any]:
    """The payment and the chain above it, top document first in the drawing."""
    f = _Flow(region, unit)
    p = trace["payment"]
    pay = f.node(f"payment:{p['payment_id']}", "payment", p["region"], None, p["amount"],
                 title=f"支付 {p['payment_id']}\n收款人 {p['payee_name']}")
    f.chain_up(trace["chain"], pay, p["amount"])
    return f.out()


def indicator_flow(detail: dict[str, Any], region: Callable[[str | None], str], unit: str) -> dict[str, Any]:
    """The indicator: the chain above it, the transfers and lower indicators below it, its payees
    (the payments on the page, summed per payee)."""
    f = _Flow(region, unit)
    i = detail["indicator"]
    me = f.node(f"indicator:{i['indicator_id']}", "indicator", i["region"], i.get("doc_no"), i["amount"],
                top=not detail["upstream"])
    f.chain_up(detail["upstream"], me, i["amount"])

    def down(parent: str, nodes: list[dict[str, Any]]) -> None:
        for n in nodes:
            t = n["transfer"]
            via = {"doc_no": t.get("doc_no"), "amount": t.get("issued") if t.get("issued") is not None else t.get("received")}
            if not n["receipts"]:  # issued, not (yet) received below: the transfer itself is the end
                key = f.node(f"transfer:{t['transfer_id']}", "transfer", t["to_region"], t.get("doc_no"), via["amount"],
                             title=f"下达{region(t['to_region'])}（{text.word(text.TRANSFER_STATES, t.get('state'))}）")
                f.link(parent, key, via["amount"])
            for r in n["receipts"]:
                ri = r["indicator"]
                rkey = f.node(f"indicator:{ri['indicator_id']}", "indicator", ri["region"], ri.get("doc_no"),
                              ri["amount"], href=f"/trace/indicator/{ri['indicator_id']}")
                f.link(parent, rkey, ri["amount"], via)
                down(rkey, r["transfers"])

    down(me, detail["downstream"])
    payees: dict[str, Decimal] = {}
    for p in detail["payments"]["items"]:
        payees[p["payee_name"]] = payees.get(p["payee_name"], Decimal(0)) + Decimal(str(p["amount"]))
    ranked = sorted(payees.items(), key=lambda kv: (-kv[1], kv[0]))
    for name, amount in ranked[:MAX_PAYEES]:
        f.link(me, f.node(f"payee:{name}", "payee", None, None, amount, title=f"收款人 {name}"), amount)
    rest = ranked[MAX_PAYEES:]
    if rest:
        amount = sum((a for _, a in rest), Decimal(0))
        f.link(me, f.node("payee:*", "payee", None, None, amount, title=f"其余 {len(rest)} 位收款人"), amount)
    return f.out()
