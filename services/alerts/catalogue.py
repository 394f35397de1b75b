"""The rule catalogue (DESIGN §6): 47 rules in 7 categories, as data.

Each rule names its category, Chinese and English title, the seed passage or law it rests
on, its default level and kind, and its parameters. Levels, lead times, thresholds and
checkpoints can be changed per budget year by the upper bureau (seed 000 art. 18) through
`rule.configured` events; these are the defaults.

Kinds: `event` rules decide on an event and the state it meets; `deadline` rules raise a
bell a lead time before a deadline and escalate when it passes (seed 000 art. 17(1));
`checkpoint` rules look at progress on given dates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from contracts.alert import AlertLevel

BELL, YELLOW, RED = AlertLevel.bell, AlertLevel.yellow, AlertLevel.red

CATEGORIES: dict[str, str] = {
    "indicator": "指标接收",
    "allocation": "资金分配",
    "progress": "拨付进度",
    "usage": "资金使用",
    "account": "账户管理",
    "recipients": "收款企业和受益贫困户",
    "performance": "绩效目标",
}


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    category: str
    title_zh: str
    title_en: str
    basis: str
    default_level: AlertLevel
    kind: str = "event"  # event | deadline | checkpoint
    escalate_to: AlertLevel | None = None  # deadline rules: level once the deadline has passed
    lead_time_days: int = 0  # deadline rules: the bell rings this many working days before
    params: Mapping[str, Any] = field(default_factory=dict)
    checkpoints: tuple[str, ...] = ()  # MM-DD
    needs: str = ""  # the data the rule reads

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if self.kind == "deadline" and (self.default_level != BELL or self.escalate_to is None):
            raise ValueError(f"{self.rule_id}: a deadline rule starts as a bell and names its escalation level")


_ART7_USE = "《沣西新城财政扶贫资金动态监控工作规程》第七条（一）2：扶贫项目支出是否符合相关预算管理制度规定的范围、标准；是否符合财政国库管理制度规定；是否符合财政财务管理和现金管理有关规定"
_SEED003_ACCOUNTS = "《河南省财政扶贫资金动态监控系统建设》：动态实现对扶贫资金安排使用进度、资金使用不规范行为、资金收款账户管理等风险监控预警"
_SEED003_TRACE = "《河南省财政扶贫资金动态监控系统建设》：实时呈现付款单位、账号、时间、支付用途，以及收款人、收款账号等具体信息"
_SEED003_EXTERNAL = "《河南省财政扶贫资金动态监控系统建设》：财政外部，包括扶贫、工商、住建、税务等其他职能部门提供的企业和个人信用信息相关数据"
_BUDGET_LAW_13 = "《预算法》第十三条：各级政府、各部门、各单位的支出必须以经批准的预算为依据，未列入预算的不得支出"
_NEGATIVE_LIST = ("《中央财政衔接推进乡村振兴补助资金管理办法》（财农〔2021〕19号）第十八条：不得用于发放工资、津贴补贴、奖金和福利，"
                  "购置交通工具，修建楼堂馆所，偿还债务等")
_PERF_ART7 = "《沣西新城财政扶贫资金动态监控工作规程》第七条（一）3：是否按照有关制度规定填报扶贫项目资金绩效目标和绩效指标及其执行情况；绩效结果与目标是否存在严重偏差"

_SPECS = (
    # ------------------------------------------------------------------ indicator receipt (指标接收)
    RuleSpec("IND-01", "indicator", "上级转移支付指标未在5个工作日内登记接收",
             "Upper transfer not registered by the receiver within 5 working days",
             "《沣西新城财政扶贫资金动态监控工作规程》第二十三条（一）：财政扶贫资金预算指标下达5个工作日内，将指标导入或录入监控平台；"
             "第十七条（一）黄色警铃：在规定工作时限到期前的一定时间内进行提醒",
             BELL, "deadline", YELLOW, 2, {"working_days": 5},
             needs="indicator.issued and the receiver's indicator.registered naming it (upper_indicator_id)"),
    RuleSpec("IND-02", "indicator", "接收指标金额与上级下达金额不一致（咬合关系断裂）",
             "Received amount differs from the issued amount (interlock break)",
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：上下级转移支付指标之间相互“咬合”，能够反映和追踪每笔指标的来源和安排情况",
             YELLOW, needs="ledger.interlock_checked (state mismatch)"),
    RuleSpec("IND-03", "indicator", "未上传预算指标文件扫描件", "No document scan attached to the indicator",
             "《沣西新城财政扶贫资金动态监控工作规程》第七条（一）1：是否上传预算指标文件扫描件；第十二条（二）：通过监控平台将预算指标文件扫描件随同指标一并下发",
             YELLOW, needs="indicator.registered / indicator.issued (doc_scan_ref)"),
    RuleSpec("IND-04", "indicator", "指标文号不规范", "Irregular document number",
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：使用请示报告纪要等标题代替文号；使用数字代替文号：2-14-80、177、523",
             YELLOW, params={"pattern": r"^[^\s〔〕\[\]【】()（）]+〔(19|20)\d{2}〕\d+号$"},
             needs="indicator.registered / indicator.issued (doc_no)"),
    RuleSpec("IND-05", "indicator", "下级专项资金未与指定的上级专项资金关联（自行录入或打捆录入）",
             "Lower fund not linked to its designated upper fund (self-entered or bundled)",
             "《河南省扶贫资金监控系统应用情况》：未按要求通过预算执行系统指标上下级贯通模块审核接收上级资金预算指标，或者在接收上级指标后，为了工作方便，"
             "自行再录入或打捆录入预算指标；财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：地方各级财政部门在设立专项资金时，指定与上级专项资金的对应关系",
             YELLOW, needs="indicator.issued + indicator.registered, fund catalogue (upper_fund_code, level)"),
    RuleSpec("IND-06", "indicator", "上年结转资金作为本年预算指标登记", "Prior-year carry-over registered as a current-year indicator",
             "《河南省扶贫资金监控系统应用情况》：个别县区预算指标录具体操作不规范，将上年结转资金直接作为本年预算指标录入预算执行系统",
             YELLOW, needs="indicator.issued (budget_year) + indicator.registered (budget_year, doc_no, source)"),
    RuleSpec("IND-07", "indicator", "一项本级专项资金关联多项上级专项资金", "One local fund linked to more than one upper fund",
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：一项专项资金只能对应上级一项专项资金。多个专项资金可以对应上级的同一个专项资金",
             YELLOW, needs="fund.registered / fund.linked, ledger.fund_link_conflict"),
    # ------------------------------------------------------------------ allocation (资金分配)
    RuleSpec("ALC-01", "allocation", "接收上级转移支付后30日内未分配下达", "Received transfer not allocated within 30 days",
             "《预算法》第五十二条：省、自治区、直辖市政府接到中央一般性转移支付和专项转移支付后，应当在三十日内正式下达到本行政区域县级以上各级政府",
             BELL, "deadline", YELLOW, 5, {"days": 30},
             needs="indicator.registered (upper transfer), ledger.posting_applied (first allocation or issue from 5001)"),
    RuleSpec("ALC-02", "allocation", "分配金额超过待分配指标余额", "Allocation beyond the pending balance",
             _BUDGET_LAW_13 + "；财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：按照会计借贷的方式记录指标增减变动情况",
             RED, needs="ledger.balance_exceeded (allocation_beyond_pending)"),
    RuleSpec("ALC-03", "allocation", "项目名称缺失、为数字或未细化", "Project name missing, numeric or generic",
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：无项目名称；使用数字代替项目名称：53、877；项目名称未细化：水利专项、扶贫专项、林业专项；"
             "使用专项资金名称代替项目名称",
             YELLOW, params={"generic": "水利专项,扶贫专项,林业专项,农业专项,扶贫项目,产业项目,基础设施建设,项目,本级追加",
                             "min_length": 4},
             needs="indicator.allocated (project_name)"),
    RuleSpec("ALC-04", "allocation", "分配项目不在项目库中", "Project not in the project library",
             "《河南省财政扶贫资金动态监控系统建设》：指导县级建立统一完善的县级项目库管理制度；财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：内置项目库，采用统一编码规则，记录专项资金与项目的关系",
             YELLOW, needs="indicator.allocated (project_code), project.registered"),
    RuleSpec("ALC-05", "allocation", "支出功能科目超出资金使用范围或用扶贫资金安排基本支出",
             "Functional class outside the fund's scope, or basic expenditure from poverty funds",
             "《河南省扶贫资金监控系统应用情况》：资金规模统计…除基本支出外的“21305”科目预算指标；" + _ART7_USE,
             YELLOW, params={"basic_prefixes": "301,302"},
             needs="indicator.allocated (functional/economic class), the indicator's fund, fund catalogue (functional_classes)"),
    RuleSpec("ALC-06", "allocation", "提前下达的转移支付未编入年度预算", "Advance-issued transfer not compiled into the budget year",
             "《预算法》第三十八条：地方各级政府应当将上级政府提前下达的转移支付预计数编入本级预算；"
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：支持转移支付提前下达，并自动编入年度预算",
             BELL, "deadline", YELLOW, 10, {"due": "03-31"},
             needs="indicator.registered (advance_issue), indicator.compiled"),
    # ------------------------------------------------------------------ disbursement progress (拨付进度)
    RuleSpec("PRG-01", "progress", "检查点支出进度低于序时进度", "Spending below the schedule at a checkpoint",
             "《沣西新城财政扶贫资金动态监控工作规程》第七条（二）2：扶贫资金支付总体情况，包括支出进度；《河南省财政扶贫资金动态监控系统建设》：实时呈现资金分配和支付进度",
             YELLOW, "checkpoint", params={"factor": "0.4", "min_age_days": 60, "min_amount": "100000"},
             checkpoints=("06-30", "09-30"), needs="ledger.posting_applied balances (4001, 1001, 500202, 500203, 5201)"),
    RuleSpec("PRG-02", "progress", "资金闲置：长期无支付", "Idle funds: no payment for a long time",
             "《河南省财政扶贫资金动态监控系统建设》：一些地方还存在违规使用、套取骗取、资金滞留等问题",
             YELLOW, "checkpoint", params={"idle_days": 120, "min_amount": "100000"},
             needs="ledger.posting_applied (allocation and payment postings, balances)"),
    RuleSpec("PRG-03", "progress", "年末结余比例过高", "High unspent share at year end",
             "《沣西新城财政扶贫资金动态监控工作规程》第七条（二）2：扶贫资金支付总体情况，包括支出进度；《河南省财政扶贫资金动态监控系统建设》：扶贫资金支出进度逐年提高",
             YELLOW, "checkpoint", params={"max_unspent_share": "0.3", "min_amount": "100000"},
             checkpoints=("12-15",), needs="ledger.posting_applied balances"),
    RuleSpec("PRG-04", "progress", "资金转入财政专户列为支出", "Transfer into a fiscal special account booked as spending",
             "《河南省扶贫资金监控系统应用情况》：部分县区直接一笔将扶贫资金转入财政专户，也统计在支出进度内…不再将转入专户资金列入支出统计范围",
             YELLOW, needs="payment.made (payee account), account.registered (kind special)"),
    RuleSpec("PRG-05", "progress", "资金滞留：指标长期未分配", "Funds held up at a level (unallocated)",
             "《河南省财政扶贫资金动态监控系统建设》：资金滞留；《沣西新城财政扶贫资金动态监控工作规程》第七条（一）1：是否在有关法律法规规定的时限内及时足额下达扶贫资金",
             YELLOW, "checkpoint", params={"held_days": 60, "min_share": "0.1", "min_amount": "50000"},
             needs="indicator.registered, ledger.posting_applied (5001 balance)"),
    RuleSpec("PRG-06", "progress", "年末突击支出", "Year-end spending surge",
             "《河南省财政扶贫资金动态监控系统建设》：促使各市县扶贫项目早谋划、早实施、早见效，扶贫资金支出进度逐年提高",
             YELLOW, "checkpoint", params={"window_start": "11-15", "max_share": "0.3", "min_amount": "100000"},
             needs="ledger.posting_applied (payment postings with booked_on, 5201 balance)"),
    # ------------------------------------------------------------------ fund usage (资金使用)
    RuleSpec("USE-01", "usage", "支付金额超过可用指标余额", "Payment beyond the available indicator balance",
             _BUDGET_LAW_13, RED, needs="ledger.balance_exceeded (payment_beyond_balance)"),
    RuleSpec("USE-02", "usage", "支付日期缺失或无效", "Missing or invalid payment date",
             "《河南省扶贫资金监控系统应用情况》：扶贫系统统计支出资金时…限定支付记录为有效并且支付日期不能为空",
             YELLOW, params={"max_ahead_days": 1}, needs="payment.made (payment_date, valid)"),
    RuleSpec("USE-03", "usage", "支出经济分类属于禁止范围（接待、车辆、楼堂馆所、工资福利）",
             "Prohibited economic class (hospitality, vehicles, buildings, salaries)",
             _NEGATIVE_LIST, YELLOW, params={"prohibited": "301,30217,30231,31001,31013"},
             needs="payment.made (economic_class)"),
    RuleSpec("USE-04", "usage", "现金支付超过限额", "Cash payment above the limit",
             "《沣西新城财政扶贫资金动态监控工作规程》第七条（一）2：是否符合财政财务管理和现金管理有关规定；《现金管理暂行条例》",
             YELLOW, params={"cash_limit": "50000"}, needs="payment.made (settlement, amount)"),
    RuleSpec("USE-05", "usage", "重复支付", "Duplicate payment",
             "《河南省财政扶贫资金动态监控系统建设》：扶贫资金一笔一笔审核，扶贫资金使用管理零差错",
             YELLOW, params={"window_days": 30}, needs="payment.made (payee account, amount, purpose, date)"),
    RuleSpec("USE-06", "usage", "拆分支付规避审批", "Split payments under an approval threshold",
             "《政府采购法》第二十八条：不得将应当以公开招标方式采购的货物或者服务化整为零或者以其他任何方式规避公开招标采购；" + _ART7_USE,
             YELLOW, params={"threshold": "100000", "window_days": 7, "min_part_share": "0.2"},
             needs="payment.made (payer unit, payee account, amount, date)"),
    RuleSpec("USE-07", "usage", "到人到户补助未通过“一卡通”发放", "Per-person subsidy not paid through the subsidy card",
             "《河南省扶贫资金监控系统应用情况》：《河南省扶贫资金管理办法》要求，涉及贫困人口个人的补助类资金应通过财政“一卡通”系统直接发放到个人账户",
             YELLOW, needs="payment.made (subsidy_lines, channel)"),
    RuleSpec("USE-08", "usage", "支付日期不在项目实施期内", "Payment outside the project's implementation period",
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：项目库采取多年度，单一数据库；《河南省财政扶贫资金动态监控系统建设》：项目立项储备、项目实施、资金支付等关键环节",
             YELLOW, needs="payment.made (project_code, payment_date), project.registered (start/end)"),
    RuleSpec("USE-09", "usage", "支付用途与资金使用范围不符", "Purpose inconsistent with the fund's scope",
             _NEGATIVE_LIST + "；" + _ART7_USE, YELLOW,
             params={"keywords": "接待,宴请,招待费,工资,奖金,津贴,福利费,慰问品,公务用车,购置车辆,楼堂馆所,办公楼,偿还债务,还贷,罚款"},
             needs="payment.made (purpose)"),
    # ------------------------------------------------------------------ account management (账户管理)
    RuleSpec("ACC-01", "account", "付款账户不是指定账户", "Payer account is not a designated account",
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：加强相关账户信息监控；《河南省财政扶贫资金动态监控系统建设》：扶贫资金账户与支付管理",
             YELLOW, needs="payment.made (payer account), account.registered (kind designated / special)"),
    RuleSpec("ACC-02", "account", "同一收款账户对应多个收款人", "One payee account shared by several beneficiaries",
             _SEED003_ACCOUNTS, YELLOW, needs="payment.made (payee account and identity), across regions"),
    RuleSpec("ACC-03", "account", "账户户名与收款人不一致", "Account holder differs from the payee",
             _SEED003_TRACE, YELLOW, needs="payment.made (payee name, account holder), account.registered (holder_name)"),
    RuleSpec("ACC-04", "account", "项目资金支付至个人账户", "Project payment to a personal account",
             _SEED003_TRACE, YELLOW, needs="payment.made (project_code, payee kind), account.registered (kind personal)"),
    RuleSpec("ACC-05", "account", "账户已销户或冻结", "Closed or frozen account",
             _SEED003_ACCOUNTS, YELLOW, needs="payment.made (payer and payee accounts), account.registered (status)"),
    RuleSpec("ACC-06", "account", "资金回流付款单位", "Money flowing back to the paying unit",
             "《河南省财政扶贫资金动态监控系统建设》：一些地方还存在违规使用、套取骗取、资金滞留等问题；" + _SEED003_TRACE,
             YELLOW, needs="payment.made (payer unit and account, payee account), account.registered (unit_code)"),
    # ------------------------------------------------------------------ recipients (收款企业和受益贫困户)
    RuleSpec("BEN-01", "recipients", "受益对象不在建档立卡贫困人口名单", "Beneficiary not in the poor-household registry",
             "《沣西新城财政扶贫资金动态监控工作规程》第七条（一）2：到人到户的扶贫项目资金发放对象与建档立卡贫困人口信息是否匹配",
             YELLOW, needs="payment.made (subsidy lines / individual payee), household.registered"),
    RuleSpec("BEN-02", "recipients", "受益对象有不符合条件的外部记录（如契税）", "Disqualifying external record (e.g. deed tax)",
             "《河南省财政扶贫资金动态监控系统建设》：某县曹某2017年申请到户增收项目8000元,但系统预警显示曹某2016年有缴纳房屋契税记录,"
             "经县级扶贫部门再次核实,将8000元补贴资金追回",
             YELLOW, params={"kinds": "deed_tax,vehicle,public_employee", "lookback_days": 1095},
             needs="payment.made, external.recorded (person)"),
    RuleSpec("BEN-03", "recipients", "受益对象支付前已死亡", "Beneficiary deceased before payment",
             _SEED003_EXTERNAL, YELLOW, needs="payment.made, external.recorded (kind death)"),
    RuleSpec("BEN-04", "recipients", "同一补贴同一期间重复享受（含跨地区）", "Same subsidy paid twice in a period (also across regions)",
             "《沣西新城财政扶贫资金动态监控工作规程》第七条（一）2：到人到户的扶贫项目资金发放对象与建档立卡贫困人口信息是否匹配；《河南省财政扶贫资金动态监控系统建设》：实现省市县三级扶贫资金使用联动监管",
             YELLOW, params={"period": "year"}, needs="payment.made (subsidy lines: person, subsidy_type), all regions"),
    RuleSpec("BEN-05", "recipients", "应发金额与实发金额不一致", "Payable differs from paid",
             "财政部《加快推进财政扶贫资金动态监控平台部署实施的有关要求》：对于标识为全部用于贫困人员的指标，相关单位（乡镇）应当导入贫困人员明细信息，以及每个贫困人员应发和实发金额",
             YELLOW, needs="payment.made (subsidy lines payable/paid)"),
    RuleSpec("BEN-06", "recipients", "收款企业已注销、吊销或列入经营异常、失信名单",
             "Enterprise deregistered, revoked, abnormal or on the dishonest-debtor list",
             _SEED003_EXTERNAL, YELLOW,
             params={"statuses": "注销,吊销,撤销,经营异常,严重违法失信,失信被执行人,deregistered,revoked,abnormal,dishonest"},
             needs="payment.made (enterprise_code), external.recorded (business_status)"),
    RuleSpec("BEN-07", "recipients", "企业成立不久即获得大额资金", "Enterprise founded shortly before a large award",
             "《河南省财政扶贫资金动态监控系统建设》：一些地方还存在违规使用、套取骗取、资金滞留等问题；" + _SEED003_EXTERNAL,
             YELLOW, params={"max_age_days": 180, "min_amount": "200000"},
             needs="payment.made (enterprise_code, amount), external.recorded (business_registration date)"),
    RuleSpec("BEN-08", "recipients", "关联交易：收款企业法定代表人为付款单位工作人员",
             "Related party: the legal representative is staff of the paying office",
             "《沣西新城财政扶贫资金动态监控工作规程》第二十六条：相关业务组应加强财政扶贫资金动态监控内部控制管理，制定内部风险防控措施",
             YELLOW, needs="payment.made (payer unit, enterprise), external.recorded (business_registration related_person, "
                           "public_employee unit_code)"),
    RuleSpec("BEN-09", "recipients", "已标注“稳定脱贫（不再享受政策）”仍享受补贴",
             "Household marked stable (no longer eligible) still receiving a targeted subsidy",
             "《河南省财政扶贫资金动态监控系统建设》：将8000元补贴资金追回，并按程序将曹某标注“稳定脱贫（不再享受政策）”名单",
             YELLOW, needs="payment.made, household.registered (status stable, since)"),
    # ------------------------------------------------------------------ performance (绩效)
    RuleSpec("PERF-01", "performance", "指标下达后未按时设定绩效目标", "Performance targets not set in time",
             "《沣西新城财政扶贫资金动态监控工作规程》第二十三条（一）：财政扶贫资金预算指标下达5个工作日内，将指标导入或录入监控平台，设定扶贫项目资金绩效目标和指标；" + _PERF_ART7,
             BELL, "deadline", YELLOW, 2, {"working_days": 5},
             needs="indicator.allocated (project), performance.targets_set"),
    RuleSpec("PERF-02", "performance", "绩效目标执行进度严重滞后", "Progress far behind target at a checkpoint",
             _PERF_ART7, YELLOW, params={"factor": "0.5", "min_expected_share": "0.2"},
             needs="performance.targets_set, performance.progress_reported"),
    RuleSpec("PERF-03", "performance", "绩效运行监控情况未按时报送", "Monitoring report not submitted by the deadline",
             "《沣西新城财政扶贫资金动态监控工作规程》第十条（四）：组织开展绩效管理工作，包括绩效目标和指标填报、运行监控及自评等工作；" + _PERF_ART7,
             BELL, "deadline", YELLOW, 2, {"working_days": 10, "min_age_days": 30},
             checkpoints=("06-30", "09-30"),
             needs="indicator.allocated (project), performance.targets_set, performance.progress_reported (period_end)"),
    RuleSpec("PERF-04", "performance", "绩效自评结果低于目标", "Self-evaluation below target",
             "《沣西新城财政扶贫资金动态监控工作规程》第七条（一）3：绩效结果与目标是否存在严重偏差；第十条（四）：运行监控及自评",
             YELLOW, params={"tolerance_share": "0"}, needs="performance.self_evaluated (score, target_score, scale)"),
)

CATALOGUE: dict[str, RuleSpec] = {spec.rule_id: spec for spec in _SPECS}
assert len(CATALOGUE) == 47, len(CATALOGUE)

WAITS_FOR: dict[str, str] = {
    # event rules that decide an absence or judge the books: they wait until that source family is complete
    # up to the event (docs/alerts.md); every other event rule decides when its event arrives
    "BEN-01": "reference", "ACC-01": "reference", "ALC-04": "reference", "ALC-05": "reference",
    "ACC-04": "reference", "USE-07": "reference", "IND-05": "reference",
    "USE-01": "ledger", "ALC-02": "ledger", "IND-02": "ledger",
}
"""Rule → the source family whose completeness an event rule waits for (deadline and checkpoint
rules name theirs in their items)."""
