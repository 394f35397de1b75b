"""Chinese wording of findings (issue 11 §3): money as ¥1,234.50, the seeds' terms for codes.

Pure and cheap (string formatting only): the rules call these on the hot path, once per finding."""

from __future__ import annotations

from decimal import Decimal

ACCOUNT_KINDS = {"designated": "指定账户", "special": "财政专户", "unit": "单位账户", "personal": "个人账户"}
ACCOUNT_STATUS = {"closed": "已销户", "frozen": "已冻结", "active": "正常"}
ACCOUNT_SIDES = {"payer": "付款", "payee": "收款", "card": "一卡通"}
FUND_LEVELS = {"central": "中央", "provincial": "省级", "city": "市级", "county": "县级"}
CHANNELS = {"direct": "国库集中支付（直接支付）", "authorised": "授权支付", "subsidy_card": "惠民补贴一卡通",
            "special_account": "财政专户"}
RECORDS = {"deed_tax": "缴纳房屋契税", "vehicle": "车辆登记", "public_employee": "财政供养人员（公职人员）",
           "death": "死亡登记", "business_registration": "工商登记", "business_status": "经营状态"}
STATUSES = {"deregistered": "注销", "revoked": "吊销", "abnormal": "经营异常", "dishonest": "失信被执行人"}


def fen(amount: int) -> str:
    """Fen as ¥1,234.50 (exact: integer arithmetic)."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def yuan(amount: Decimal | str | int) -> str:
    """A yuan amount (Decimal or its text) as ¥1,234.50."""
    d = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    sign = "-" if d < 0 else ""
    return f"{sign}¥{abs(d):,.2f}"


def pct(share: Decimal) -> str:
    return f"{share:.1%}"


def word(table: dict[str, str], key: str | None) -> str:
    return table.get(key or "", key or "—")
