"""Static catalogue of the demo: geography (GB/T 2260), the fund lists of seed 001,
responsible groups, paying units, the programmes that drive the indicator chains and
the 2026 working calendar. Everything here is data; nothing depends on size or seed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

YEAR = 2026
CENTRAL = "000000"
PROVINCE = "410000"

# ------------------------------------------------------------------ geography

CITIES: dict[str, str] = {"410300": "洛阳市", "410400": "平顶山市", "411600": "周口市", "411300": "南阳市"}
CITY_DOC_PREFIX = {"410300": "洛财", "410400": "平财", "411600": "周财", "411300": "宛财"}

# county code -> (name, city code)
COUNTIES: dict[str, tuple[str, str]] = {
    "410324": ("栾川县", "410300"),
    "410325": ("嵩县", "410300"),
    "410326": ("汝阳县", "410300"),
    "410423": ("鲁山县", "410400"),
    "411624": ("沈丘县", "411600"),
    "411622": ("西华县", "411600"),
    "411603": ("淮阳区", "411600"),
    "411625": ("郸城县", "411600"),
    "411326": ("淅川县", "411300"),
}
COUNTY_CODES = list(COUNTIES)

# townships: 街道 0xx, 镇 1xx, 乡 2xx (GB/T 10114 convention)
TOWNSHIPS: dict[str, list[tuple[str, str]]] = {
    "410324": [("100", "城关镇"), ("101", "赤土店镇"), ("102", "合峪镇"), ("103", "潭头镇"), ("106", "陶湾镇"), ("200", "秋扒乡")],
    "410325": [("100", "城关镇"), ("101", "田湖镇"), ("102", "车村镇"), ("103", "旧县镇"), ("200", "九店乡"), ("201", "黄庄乡")],
    "410326": [("100", "城关镇"), ("101", "上店镇"), ("102", "付店镇"), ("103", "三屯镇"), ("200", "柏树乡"), ("201", "十八盘乡")],
    "410423": [("001", "鲁阳街道"), ("100", "下汤镇"), ("101", "梁洼镇"), ("102", "尧山镇"), ("103", "赵村镇"), ("200", "四棵树乡")],
    "411624": [("100", "槐店回族镇"), ("101", "刘庄店镇"), ("102", "留福镇"), ("103", "老城镇"), ("200", "卞路口乡"), ("201", "大邢庄乡")],
    "411622": [("001", "娲城街道"), ("100", "西夏镇"), ("101", "逍遥镇"), ("102", "奉母镇"), ("200", "田口乡"), ("201", "迟营乡")],
    "411603": [("100", "城关回族镇"), ("101", "白楼镇"), ("102", "新站镇"), ("103", "鲁台镇"), ("200", "豆门乡"), ("201", "王店乡")],
    "411625": [("001", "洺南街道"), ("100", "吴台镇"), ("101", "南丰镇"), ("102", "白马镇"), ("200", "虎岗乡"), ("201", "汲水乡")],
    "411326": [("001", "龙城街道"), ("100", "荆紫关镇"), ("101", "老城镇"), ("102", "香花镇"), ("103", "厚坡镇"), ("200", "西簧乡")],
}


def county_name(code: str) -> str:
    return COUNTIES[code][0]


def city_of(county: str) -> str:
    return COUNTIES[county][1]


def township_codes(county: str) -> list[str]:
    return [county + suffix for suffix, _ in TOWNSHIPS[county]]


def township_name(code: str) -> str:
    return dict(TOWNSHIPS[code[:6]])[code[6:]]


# ------------------------------------------------------------------ funds (seed 001, annexes 1 and 2)

CENTRAL_FUND_NAMES = [
    "重点生态功能区转移支付", "县级基本财力保障机制奖补资金", "老少边地区转移支付（不含专项扶贫资金）",
    "城乡义务教育补助经费", "农村义务教育薄弱学校改造补助资金", "改善普通高中办学条件补助资金",
    "现代职业教育质量提升计划专项资金", "新疆西藏等少数民族地区教育特殊补助", "学生资助补助经费", "旅游发展基金",
    "中央补助地方公共服务体系建设专项资金（中央部门部分重点项目）", "土地整治工作专项资金", "农村环境连片整治示范资金",
    "车辆购置税收入补助地方用于一般公路建设项目资金（支持农村公路部分）", "产粮大县奖励资金",
    "生猪（牛羊）调出大县奖励资金（省级统筹部分）", "服务业发展专项资金（支持新农村现代流通服务网络工程部分）",
    "中央基建投资用于“三农”建设部分（不包括重大引调水工程、重点水源工程、江河湖泊治理骨干重大工程、跨界河流开发治理工程、"
    "新建大型灌区、大中型灌区续建配套和节水改造、大中型病险水库水闸除险加固、生态建设方面的支出）",
    "电信普遍服务补助资金", "中央基建投资用于易地扶贫搬迁部分", "可再生能源电价附加用于光伏扶贫部分",
    "中央财政专项扶贫资金", "水利发展资金", "农业生产发展资金", "林业改革发展资金", "农业综合开发补助资金",
    "农村综合改革转移支付", "中央专项彩票公益金支持扶贫资金", "农业资源及生态保护补助资金（对农民的直接补贴除外）",
    "林业生态保护恢复资金", "中央水库移民扶持基金", "大中型水库移民后期扶持资金", "农村危房改造补助资金",
    "城乡居民基本养老保险补助经费", "城乡居民医疗保险转移支付", "困难群众救助补助资金", "就业补助资金",
    "残疾人事业发展补助资金", "公共卫生服务补助资金", "基本药物制度补助资金", "医疗救助补助资金", "农业保险保费补助",
]
PROVINCIAL_FUND_NAMES = [
    "义务教育保障经费", "农村义务教育薄弱学校改造专项资金", "改善高中办学条件资金", "职业教育专项资金", "学生资助补助经费",
    "旅游发展专项引导资金", "农业保险保费补贴", "农业综合开发补助资金", "财政扶贫资金", "水利发展资金", "林业改革发展资金",
    "农村综合改革转移支付", "农业发展资金", "扶持村集体经济发展资金", "大中型水库移民后期扶持基金", "农村危旧房改造补助资金",
    "基本养老金补助资金", "城乡居民基本医疗保险补助资金", "困难群众救助补助资金", "就业补助资金", "残疾人事业发展补助资金",
    "公共卫生服务补助资金", "基本药物制度补助资金", "医疗救助补助资金", "土地整治专项资金", "农村连片整治专项资金",
    "生猪（牛羊）调出大县奖励资金", "农村饮水安全资金",
]
assert len(CENTRAL_FUND_NAMES) == 42 and len(PROVINCIAL_FUND_NAMES) == 28

# central fund number -> (functional classes (scope), group, paid per person/household)
_CENTRAL_ATTRS: dict[int, tuple[list[str], str, bool]] = {
    1: (["23002"], "econ", False), 2: (["23002"], "econ", False), 3: (["23002"], "econ", False),
    4: (["20502", "2050202", "2050203"], "edu", False), 5: (["2050202", "2050203"], "edu", False),
    6: (["2050204"], "edu", False), 7: (["20503", "2050302"], "edu", False), 8: (["20599"], "edu", False),
    9: (["20502", "2050202", "2050203", "2050204", "2050302"], "edu", True), 10: (["20701"], "edu", False),
    11: (["20799"], "edu", False), 12: (["22001"], "econ", False), 13: (["21104", "2110402"], "agri", False),
    14: (["21406", "2140601"], "econ", False), 15: (["21301", "2130199"], "agri", False),
    16: (["21301", "2130199"], "agri", False), 17: (["21602"], "econ", False),
    18: (["21305", "2130504", "21303"], "econ", False), 19: (["21505"], "econ", False),
    20: (["21305", "2130504"], "econ", False),
    21: (["21160"], "econ", False), 22: (["21305", "2130504", "2130505", "2130506", "2130599"], "agri", False),
    23: (["21303", "2130305", "2130399"], "agri", False), 24: (["21301", "2130122"], "agri", False),
    25: (["21302"], "agri", False), 26: (["21301", "2130199"], "agri", False),
    27: (["21307", "2130701", "2130705", "2130706"], "agri", False), 28: (["22960"], "agri", False),
    29: (["21301", "2130135"], "agri", False), 30: (["21302"], "agri", False), 31: (["21369"], "agri", False),
    32: (["21369"], "agri", False), 33: (["22101", "2210105"], "econ", True),
    34: (["20826", "2082602"], "social", False),
    35: (["21012", "2101202"], "social", False), 36: (["20819", "2081902", "20820"], "social", True),
    37: (["20807", "2080705", "2080799"], "social", False), 38: (["20811", "2081107"], "social", True),
    39: (["21004"], "social", False), 40: (["21004"], "social", False), 41: (["21013", "2101301"], "social", True),
    42: (["21308", "2130803"], "agri", False),
}
# provincial fund number -> designated central fund number (指定关联)
_PROVINCIAL_UPPER = {
    1: 4, 2: 5, 3: 6, 4: 7, 5: 9, 6: 10, 7: 42, 8: 26, 9: 22, 10: 23, 11: 25, 12: 27, 13: 24, 14: 27,
    15: 32, 16: 33, 17: 34, 18: 35, 19: 36, 20: 37, 21: 38, 22: 39, 23: 40, 24: 41, 25: 12, 26: 13, 27: 16, 28: 23,
}


@dataclass(frozen=True)
class Fund:
    code: str
    name: str
    level: str  # central / provincial / city / county
    region: str
    upper: str | None
    classes: tuple[str, ...]
    group: str
    for_households: bool


def _build_funds() -> dict[str, Fund]:
    funds: dict[str, Fund] = {}
    for n, name in enumerate(CENTRAL_FUND_NAMES, start=1):
        classes, group, households = _CENTRAL_ATTRS[n]
        funds[f"C{n:02d}"] = Fund(f"C{n:02d}", name, "central", CENTRAL, None, tuple(classes), group, households)
    for n, name in enumerate(PROVINCIAL_FUND_NAMES, start=1):
        upper = funds[f"C{_PROVINCIAL_UPPER[n]:02d}"]
        funds[f"P{n:02d}"] = Fund(f"P{n:02d}", f"河南省{name}", "provincial", PROVINCE, upper.code,
                                  upper.classes, upper.group, upper.for_households)
    for code, name, level, region, upper_code in LOCAL_FUNDS:
        upper = funds[upper_code]
        funds[code] = Fund(code, name, level, region, upper_code, upper.classes, upper.group, upper.for_households)
    return funds


# local funds: (code, name, level, region, designated upper fund)
LOCAL_FUNDS = [
    ("410300-F01", "洛阳市财政扶贫资金", "city", "410300", "P09"),
    ("410324-F01", "栾川县财政衔接推进乡村振兴补助资金", "county", "410324", "C22"),
    ("410423-F01", "鲁山县财政专项扶贫资金", "county", "410423", "C22"),
    ("411624-F01", "沈丘县财政扶贫资金", "county", "411624", "P09"),
    ("411326-F01", "淅川县水利发展资金", "county", "411326", "C23"),
]
# (receiving region, fund received) -> local fund the receiver registers it under
LOCAL_FUND_OF: dict[tuple[str, str], str] = {
    ("410300", "P09"): "410300-F01",
    ("410324", "C22"): "410324-F01",
    ("410423", "C22"): "410423-F01",
    ("411624", "P09"): "411624-F01",
    ("411326", "C23"): "411326-F01",
}
FUNDS = _build_funds()

# ------------------------------------------------------------------ responsible groups

GROUPS = {
    "agri": ("农业组", "农业股"),
    "social": ("社保组", "社保股"),
    "edu": ("教科文组", "教科文股"),
    "econ": ("经济建设组", "经建股"),
    "treasury": ("国库组", "国库股"),
}
GROUP_DOC_CHAR = {"agri": "农", "social": "社", "edu": "教", "econ": "建", "treasury": "库"}

# ------------------------------------------------------------------ paying units of a county

# unit suffix -> name suffix (the county name is prepended)
UNITS = {
    "001": "财政局", "002": "乡村振兴局", "003": "农业农村局", "004": "水利局", "005": "交通运输局",
    "006": "教育局", "007": "人力资源和社会保障局", "008": "残疾人联合会", "009": "住房和城乡建设局",
}
FINANCE_UNIT = "001"

# ------------------------------------------------------------------ programmes (what the indicator chains carry)


@dataclass(frozen=True)
class Subsidy:
    type: str
    amounts: tuple[tuple[int, int], ...]  # (yuan, weight)
    per_household: bool  # paid to the household head (到户) or to the person (到人)
    purpose: str
    born: tuple[int, int] = (1900, 2002)  # eligible birth years (students, working age …)


@dataclass(frozen=True)
class Program:
    key: str
    fund: str
    title: str
    functional_class: str
    economic_class: str
    unit: str  # paying unit suffix (project payments)
    tranches: tuple[int, ...]
    weight: float
    subsidy: Subsidy | None = None
    items: tuple[str, ...] = ()  # project name items
    cooperative: bool = False  # project contractors are cooperatives rather than companies
    payment_yuan: tuple[int, int] = (40_000, 300_000)  # project installment range
    metric: tuple[str, str, int, int] = ("建设规模", "处", 1, 3)  # output quantity (name, unit, lo, hi)
    counties: tuple[str, ...] = field(default_factory=lambda: tuple(COUNTY_CODES))

    @property
    def kind(self) -> str:
        return "subsidy" if self.subsidy else "project"


_MOUNTAIN = ("410324", "410325", "410326", "410423", "411326")

PROGRAMS: list[Program] = [
    Program("C22A", "C22", "农村基础设施建设", "2130504", "31005", "002", (1, 2, 3), 3.0,
            items=("道路硬化", "产业路建设", "村内排水沟渠改造", "便民桥建设", "安全饮水巩固提升"),
            payment_yuan=(60_000, 380_000), metric=("硬化道路长度", "公里", 2, 12)),
    Program("C22Y", "C22", "雨露计划", "2130506", "30308", "001", (1, 3), 0.9,
            subsidy=Subsidy("雨露计划", ((1500, 7), (3000, 3)), False, "雨露计划职业教育补助", (2004, 2011))),
    Program("C33S", "C33", "农村危房改造", "2210105", "30399", "009", (1, 2), 0.5,
            subsidy=Subsidy("农村危房改造补助", ((14000, 3), (18000, 3), (20000, 2), (25000, 1)), True, "农村危房改造补助")),
    Program("C22B", "C22", "产业发展", "2130505", "31299", "003", (1, 2), 2.0,
            items=("香菇种植基地建设", "核桃产业提升", "肉牛养殖场建设", "中药材种植基地建设", "扶贫车间设备购置"),
            cooperative=True, payment_yuan=(30_000, 200_000), metric=("带动脱贫户数", "户", 20, 120)),
    Program("C22H", "C22", "到户增收", "2130505", "30310", "001", (1, 2), 1.2,
            subsidy=Subsidy("到户增收", ((2000, 3), (3000, 4), (5000, 2), (8000, 1)), True, "到户增收项目补助")),
    Program("P09A", "P09", "省级财政扶贫基础设施", "2130504", "31005", "002", (1, 2), 2.0,
            items=("通村道路提升", "文化广场建设", "村级服务中心配套", "饮水管网延伸"),
            payment_yuan=(50_000, 300_000), metric=("建设项目数", "个", 1, 4)),
    Program("C09S", "C09", "学生资助", "2050203", "30308", "001", (1, 3), 0.8,
            subsidy=Subsidy("学生资助", ((1000, 4), (1250, 4), (2000, 2)), False, "家庭经济困难学生生活补助", (2008, 2020))),
    Program("C23A", "C23", "水利发展", "2130305", "31005", "004", (1, 2), 1.5,
            items=("农村供水工程", "灌溉渠道维修", "小型水库除险加固", "抗旱水源工程"),
            payment_yuan=(60_000, 350_000), metric=("新增灌溉面积", "亩", 200, 1500), counties=(*_MOUNTAIN, "411624")),
    Program("C37S", "C37", "就业帮扶", "2080705", "30399", "001", (1,), 1.5,
            subsidy=Subsidy("公益岗位补贴", ((3600, 5), (4800, 3), (6000, 2)), False, "乡村公益性岗位补贴", (1961, 2006))),
    Program("C24A", "C24", "农业生产发展", "2130122", "31299", "003", (1,), 1.0,
            items=("高标准农田配套", "农机合作社设备购置", "设施蔬菜大棚建设", "良种繁育基地建设"),
            cooperative=True, payment_yuan=(30_000, 220_000), metric=("建设面积", "亩", 100, 800)),
    Program("C38S", "C38", "残疾人帮扶", "2081107", "30305", "001", (1,), 1.0,
            subsidy=Subsidy("残疾人两项补贴", ((960, 6), (1200, 4)), False, "困难残疾人生活补贴和重度残疾人护理补贴", (1940, 2020))),
    Program("C14A", "C14", "农村公路建设", "2140601", "31005", "005", (1,), 1.2,
            items=("通村公路提档升级", "农村公路安防工程", "危桥改造"),
            payment_yuan=(80_000, 450_000), metric=("改建公路里程", "公里", 3, 15)),
    Program("P09H", "P09", "省级到户增收", "2130505", "30310", "001", (2,), 0.8,
            subsidy=Subsidy("到户增收", ((2000, 3), (3000, 4), (5000, 2), (8000, 1)), True, "到户增收项目补助")),
    Program("P14A", "P14", "村集体经济", "2130706", "31299", "003", (1,), 0.8,
            items=("村集体冷库建设", "村集体光伏电站运维", "村集体经济合作社厂房配套"),
            cooperative=True, payment_yuan=(40_000, 250_000), metric=("带动村集体增收", "万元", 5, 30)),
    Program("P05S", "P05", "省级学生资助", "2050203", "30308", "001", (2,), 0.5,
            subsidy=Subsidy("学生资助", ((1000, 4), (1250, 4), (2000, 2)), False, "家庭经济困难学生生活补助", (2008, 2020))),
    Program("C27A", "C27", "村级公益事业", "2130701", "31005", "002", (2,), 1.0,
            items=("一事一议村内道路", "村级文化广场", "村庄亮化工程"),
            payment_yuan=(40_000, 260_000), metric=("实施村数", "个", 1, 3)),
    Program("P16S", "P16", "省级危旧房改造", "2210105", "30399", "009", (2,), 0.4,
            subsidy=Subsidy("农村危房改造补助", ((14000, 3), (18000, 3), (20000, 2), (25000, 1)), True, "农村危房改造补助")),
    Program("P28A", "P28", "农村饮水安全", "2130305", "31005", "004", (2,), 1.0,
            items=("集中供水工程改造", "饮水安全巩固提升", "供水管网更新"),
            payment_yuan=(50_000, 300_000), metric=("受益人口", "人", 300, 3000)),
]
PROGRAM_BY_KEY = {p.key: p for p in PROGRAMS}

TRANCHE_NAMES = {1: "第一批", 2: "第二批", 3: "第三批"}
TRANCHE_START = {1: dt.date(2026, 1, 12), 2: dt.date(2026, 3, 16), 3: dt.date(2026, 5, 25)}
LAST_PAYMENT_DAY = dt.date(2026, 12, 18)  # year-end payments: the year-end checkpoints see them

# ------------------------------------------------------------------ 2026 working calendar (国务院办公厅 schedule)

HOLIDAYS_2026 = {dt.date.fromisoformat(d) for d in (
    "2026-01-01", "2026-01-02", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20",
    "2026-02-23", "2026-04-06", "2026-05-01", "2026-05-04", "2026-05-05", "2026-06-19", "2026-09-25",
    "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07",
)}


def business_days(year: int = YEAR) -> list[dt.date]:
    """Mondays to Fridays that are not public holidays (adjusted working weekends are left out)."""
    day, days = dt.date(year, 1, 1), []
    while day.year == year:
        if day.weekday() < 5 and day not in HOLIDAYS_2026:
            days.append(day)
        day += dt.timedelta(days=1)
    return days
