"""How bureaus read the data: money as ¥1,234.50 (or 万元), times in Asia/Shanghai, names and
Chinese words instead of codes and English keys. Pure functions over plain values."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from contracts.accounts import NAMES as ACCOUNT_NAMES
from services.runtime.auth import ROLE_NAMES_ZH, Role

SHANGHAI = ZoneInfo("Asia/Shanghai")

ALERT_LEVELS = {"bell": "黄色警铃", "yellow": "黄灯", "red": "红灯", "green": "绿灯"}
FUND_LEVELS = {"central": "中央", "provincial": "省级", "city": "市级", "county": "县级"}
REGION_LEVELS = {"central": "中央", "province": "省", "city": "市", "county": "县（区）", "township": "乡镇"}
ALERT_STATUS = {"open": "未办结", "closed": "已办结"}
PAYMENT_STATUS = {"counted": "有效支付", "invalid": "无效支付", "undated": "未填支付日期",
                  "special_transfer": "转入专户", "cancelled": "已撤销"}
TRANSITIONS = {"raised": "触发预警", "escalated": "升级", "verified_normal": "核实正常", "verified_violation": "核实违规",
               "rectified": "整改纠正", "cleared": "按时办结，自动解除"}
ACTIONS = {"verify_normal": "核实正常（黄灯→绿灯）", "verify_violation": "核实违规（黄灯→红灯）",
           "rectify": "整改纠正（红灯→绿灯）"}
METHODS = {"phone": "电话核实", "documents": "调阅材料", "interview": "约谈", "visit": "实地走访"}
CORRECTIVE = {"recover": "收回资金", "suspend": "暂缓拨付", "notice": "通报", "referral": "移交相关部门"}
DISPOSITION_STATUS = {"filed": "已提交，待状态机处理", "applied": "已生效", "refused": "被拒绝"}
SOURCES = {"own_arrangement": "本级安排", "upper_transfer": "上级转移支付", "carry_over": "上年结转"}
TRANSFER_STATES = {"in_transit": "在途", "matched": "已咬合", "mismatch": "金额不一致"}
CHAIN_KINDS = {"indicator": "指标", "transfer": "转移支付下达"}
SETTLEMENT = {"transfer": "转账", "cash": "现金", "cheque": "支票"}
CHANNELS = {"direct": "国库集中支付（直接支付）", "authorised": "授权支付", "subsidy_card": "惠民补贴一卡通",
            "special_account": "财政专户"}
PAYEE_KINDS = {"enterprise": "企业", "individual": "个人", "unit": "单位"}
PARAM_KINDS = {"int": "整数", "decimal": "金额/小数", "words": "词语（逗号分隔）", "regex": "正则表达式",
               "mmdd": "月-日（MM-DD）", "period": "期间", "bool": "是/否"}
ROLES = {r.value: ROLE_NAMES_ZH[r] for r in Role}


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: object, unit: str = "yuan") -> str:
    """¥1,234.50; in 万元 with four decimals (exact to the fen) when unit == "wan"."""
    d = _decimal(value)
    if d is None:
        return "—"
    if unit == "wan":
        return f"{(d / 10000).quantize(Decimal('0.0001'), ROUND_HALF_UP):,}万元"
    sign = "-" if d < 0 else ""
    return f"{sign}¥{abs(d).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def percent(value: object) -> str:
    d = _decimal(value)
    return "—" if d is None else f"{(d * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def local_time(value: object) -> str:
    """An ISO timestamp (UTC or with offset) as Beijing time, 2026-06-01 08:00:00."""
    if not value:
        return "—"
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def shanghai_bound(day: str | None, end: bool = False) -> str | None:
    """A date picked in the page (Beijing) as the ISO instant starting it (or the next day)."""
    if not day:
        return None
    d = dt.date.fromisoformat(day) + dt.timedelta(days=1 if end else 0)
    return dt.datetime.combine(d, dt.time(), SHANGHAI).isoformat()


def word(table: dict[str, str], key: object) -> str:
    return "—" if key is None or key == "" else table.get(str(key), str(key))


def account(code: str) -> str:
    name = ACCOUNT_NAMES.get(code)  # type: ignore[call-overload]
    return f"{name}（{code}）" if name else code
