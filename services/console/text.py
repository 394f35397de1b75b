"""How bureaus read the data: money as ¥1,234.50 (or 万元), times in Asia/Shanghai, names and
Chinese words instead of codes and English keys. Pure functions over plain values."""

from __future__ import annotations

import datetime as dt
import re
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
EVENT_TYPES = {"payment.made": "支付", "indicator.registered": "指标登记", "indicator.issued": "指标下达",
               "indicator.allocated": "指标分配", "indicator.compiled": "编入年度预算", "ledger.posting_applied": "台账记账",
               "ledger.interlock_checked": "上下级咬合校验", "ledger.balance_exceeded": "余额超出",
               "ledger.fund_link_conflict": "资金关联冲突", "external.recorded": "外部数据", "household.registered":
                   "建档立卡登记", "account.registered": "账户登记", "project.registered": "项目入库",
               "performance.targets_set": "绩效目标设定", "performance.progress_reported": "绩效运行监控",
               "performance.self_evaluated": "绩效自评", "fund.registered": "专项资金登记", "fund.linked": "专项资金关联"}
FACTS = {  # the evidence's field names as the seeds call them
    "payment_id": "支付单号", "indicator_id": "指标编号", "amount": "金额", "payment_date": "支付日期", "purpose": "支付用途",
    "settlement": "结算方式", "channel": "支付方式", "economic_class": "经济分类", "functional_class": "功能分类",
    "project_code": "项目编码", "project_name": "项目名称", "payer_unit": "付款单位", "payer_account": "付款账号",
    "payee": "收款人", "payee_kind": "收款人类型", "payee_account": "收款账号", "record_id": "记录编号", "kind": "类型",
    "record_date": "记录日期", "status": "状态", "details": "详情", "doc_no": "文号", "fund_code": "专项资金",
    "fund": "专项资金", "budget_year": "预算年度", "allocation_id": "分配单号", "to_region": "下达地区", "date": "日期",
    "source": "指标来源", "source_event_type": "来源业务", "booked_on": "记账日期", "upper_fund_code": "上级专项资金",
    "upper_indicator_id": "上级指标", "transfer_indicator_id": "转移支付指标", "state": "咬合状态", "score": "得分",
    "target_score": "目标得分", "scale": "满分", "evaluated_on": "自评日期", "period_end": "期末", "metric": "绩效指标",
    "reported_on": "报送日期", "set_on": "设定日期", "household": "户编号", "since": "起始日期", "unit_code": "单位编码",
    "advance_issue": "提前下达", "compiled_on": "编入日期", "enterprise": "统一社会信用代码", "name": "姓名",
}
_FACT_VALUES = {"settlement": SETTLEMENT, "channel": CHANNELS, "payee_kind": PAYEE_KINDS, "source": SOURCES,
                "state": TRANSFER_STATES, "source_event_type": EVENT_TYPES,
                "kind": {"deed_tax": "契税", "vehicle": "车辆登记", "business_registration": "工商登记",
                         "business_status": "经营状态", "public_employee": "财政供养人员", "death": "死亡登记"}}


def fact(key: str, value: str) -> tuple[str, str]:
    """An evidence field as (Chinese label, value in words): balance_<account> names the account."""
    if key.startswith("balance_"):
        return f"余额·{account(key[8:])}", money(value)
    if key == "amount":
        return FACTS[key], money(value)
    return FACTS.get(key, key), _FACT_VALUES.get(key, {}).get(value, value)


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


_SUBJECT_WORDS = {"payment": "支付", "indicator": "指标", "transfer": "转移支付", "allocation": "分配", "account": "账户",
                  "enterprise": "企业", "fund": "专项资金", "project": "项目", "person": "人员", "unit": "付款单位",
                  "checkpoint": "检查点", "metric": "绩效指标", "period": "期间", "targets": "绩效目标",
                  "evaluation": "绩效自评", "held": "资金滞留", "idle": "资金闲置", "surge": "年末突击支出",
                  "year-end": "年末结余", "overallocated": "超额分配", "overpaid": "超额支付"}


def subject(value: str | None) -> str:
    """An alert's subject (payment/ZF1/person/x) in words: 支付 ZF1 · 人员 x."""
    if not value:
        return "—"
    parts, out = value.split("/"), []
    for i, part in enumerate(parts):
        w = _SUBJECT_WORDS.get(part)
        if w is None:
            out.append(part)
        elif i + 1 < len(parts) and parts[i + 1] not in _SUBJECT_WORDS:
            out.append(f"{w} ")
        else:
            out.append(w)
    text, sep = "", ""
    for piece in out:  # a word before its id stays with it; the pieces are joined by a middle dot
        text += sep + piece
        sep = "" if piece.endswith(" ") else " · "
    return text


_REFUSALS = (  # the state machine's refusals (services/alerts/lifecycle.py), in the order they are checked
    (re.compile(r"alert (\S+) does not exist"), "预警 {0} 不存在"),
    (re.compile(r"alert (\S+) is superseded by (\S+)"), "预警 {0} 已被预警 {1} 取代"),
    (re.compile(r"alert (\S+) is closed \((\w+)\); nothing more can be filed on it"), "预警 {0} 已办结（{1}），不能再提交处理单"),
    (re.compile(r"cannot (\w+) a (\w+) alert: only a yellow"), "{1}预警不能“{0}”：只有黄灯预警可核实（核实正常转绿灯，核实违规转红灯）"),
    (re.compile(r"cannot (\w+) a (\w+) alert: only a red"), "{1}预警不能“{0}”：只有红灯预警可整改为绿灯"),
)


def refusal(message: str) -> str:
    """A refusal in Chinese, the state machine's own words kept after it (原文)."""
    for pattern, zh in _REFUSALS:
        m = pattern.search(message)
        if m:
            words = [ACTIONS.get(g, ALERT_LEVELS.get(g, g)).split("（")[0] for g in m.groups()]
            return f"{zh.format(*words)}（原文：{message}）"
    return message
