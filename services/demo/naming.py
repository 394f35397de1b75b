"""Deterministic identities: hashing, citizen IDs (GB 11643), unified social credit codes
(GB 32100), bank account numbers, personal, enterprise, village and project names.

Every value is a pure function of (seed, natural index), so the first N persons,
enterprises or projects are the same whatever the size of the data set."""

from __future__ import annotations

import datetime as dt
import hashlib

from contracts.types import citizen_id_check_char
from services.demo import catalogue as cat


def h64(*parts: object) -> int:
    """Stable 64-bit hash of the parts (never Python's randomised hash())."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def pick(options: tuple | list | str, *parts: object):
    return options[h64(*parts) % len(options)]


def weighted(options: tuple[tuple[object, int], ...], *parts: object):
    total = sum(w for _, w in options)
    x = h64(*parts) % total
    for value, w in options:
        if x < w:
            return value
        x -= w
    raise AssertionError("unreachable")


def yuan(fen: int) -> str:
    """Integer fen -> wire money string with two decimals."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


# ------------------------------------------------------------------ citizen IDs

_BIRTH_BASE = dt.date(1945, 1, 1)
_DAYS = 27_000  # birth dates 1945 .. 2018
_SEQ = 999
_MOD = _DAYS * _SEQ  # = 2^3 * 3^6 * 5^3 * 37; the multiplier below is coprime with it
_MULT = 2_654_435_761

# index ranges inside one county (all below _MOD, so every index gives a distinct ID)
REGISTRY = 0  # regular registry members: 0 ..
SPECIAL = 20_000_000  # registry members created for injected cases
GHOST = 21_000_000  # people who are not in the registry at all (BEN-01)
LEGAL_REP = 22_000_000  # legal representatives of enterprises
OUTSIDER = 23_000_000  # subjects of unrelated external records


def _birth(index: int) -> tuple[int, dt.date]:
    x = (index * _MULT + 12_345) % _MOD
    return x, _BIRTH_BASE + dt.timedelta(days=x % _DAYS)


_YEAR_OF_OFFSET = bytes((_BIRTH_BASE + dt.timedelta(days=d)).year - 1900 for d in range(_DAYS))


def birth_year(county: str, index: int) -> int:
    return 1900 + _YEAR_OF_OFFSET[(index * _MULT + 12_345) % _MOD % _DAYS]


def index_born(start: int, born: tuple[int, int]) -> int:
    """The first person index from `start` on whose birth year lies in `born`."""
    index = start
    while not born[0] <= birth_year("", index) <= born[1]:
        index += 1
    return index


def citizen_id(county: str, index: int) -> str:
    """Unique, valid 18-character ID for person `index` of `county` (bijective in index)."""
    x, birth = _birth(index)
    seq = 1 + x // _DAYS
    first17 = f"{county}{birth:%Y%m%d}{seq:03d}"
    return first17 + citizen_id_check_char(first17)


def is_female(cid: str) -> bool:
    return int(cid[16]) % 2 == 0


_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段钱汤尹黎易常武乔贺赖龚文"
_MALE = ["建国", "志强", "国强", "卫东", "红军", "海涛", "永刚", "德明", "长青", "俊杰", "子豪", "浩然", "明", "伟", "刚",
         "磊", "军", "勇", "涛", "斌", "鹏", "超", "福来", "宝山", "铁柱", "金锁", "保国", "新民", "振华", "天佑"]
_FEMALE = ["秀英", "桂英", "玉兰", "秀兰", "凤英", "丽娟", "红梅", "海燕", "春花", "翠萍", "淑芬", "雪梅", "静", "敏", "丽",
           "娟", "艳", "芳", "霞", "婷", "欣怡", "梓涵", "雨桐", "佳琪", "巧云", "月娥", "素珍", "爱华", "小红", "金凤"]


def surname(*parts: object) -> str:
    return pick(_SURNAMES, "surname", *parts)


def given_name(cid: str, *parts: object) -> str:
    return pick(_FEMALE if is_female(cid) else _MALE, "given", cid, *parts)


def person_name(cid: str, family: str | None = None) -> str:
    return (family or surname(cid)) + given_name(cid)


# ------------------------------------------------------------------ enterprises

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_W = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc(kind: str, county: str, serial: int) -> str:
    """Unified social credit code: kind '91' (company) or '93' (farmers' cooperative)."""
    body8 = f"{(serial * 7_919 + int(county) % 9_973 * 104_729) % 100_000_000:08d}"
    org_check = 11 - sum(int(c) * w for c, w in zip(body8, _ORG_W, strict=True)) % 11
    org = body8 + {10: "X", 11: "0"}.get(org_check, str(org_check))
    first17 = kind + county + org
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_W, strict=True))
    return first17 + _USCC_CHARS[(31 - total % 31) % 31]


_BRAND_A = ["宏", "鑫", "恒", "豫", "伏", "中", "华", "天", "瑞", "金", "正", "隆", "嘉", "永", "盛", "福", "安", "鼎", "卓", "通"]
_BRAND_B = ["达", "源", "泰", "龙", "牛", "原", "建", "宇", "丰", "诚", "信", "昌", "禾", "新", "远", "顺", "业", "兴", "博", "晟"]
_TRADES = ["建筑工程", "路桥工程", "水利水电工程", "市政工程", "建设工程", "园林工程", "机电设备", "建材"]
_PRODUCE = ["香菇", "核桃", "花椒", "中药材", "小杂粮", "肉牛", "生猪", "艾草", "蔬菜", "食用菌", "猕猴桃", "油用牡丹", "红薯", "山茱萸"]


def company_name(county: str, serial: int) -> str:
    short = cat.county_name(county)
    a, b = pick(_BRAND_A, "ba", county, serial), pick(_BRAND_B, "bb", county, serial)
    trade = pick(_TRADES, "trade", county, serial)
    return f"{short}{a}{b}{trade}有限公司"


def cooperative_name(county: str, serial: int) -> str:
    township = pick(cat.township_codes(county), "coop-t", county, serial)
    produce = pick(_PRODUCE, "produce", county, serial)
    village = village_name(county, serial, "coop")
    return f"{cat.county_name(county)}{cat.township_name(township)}{village}{produce}专业合作社"


_VILLAGES = ["张庄", "李家沟", "王营", "新庄", "马坪", "协心", "龙王庙", "石门", "红庄", "柳树沟", "杨湾", "陈楼", "刘寨",
             "前进", "东坡", "西岭", "南河", "北坪", "大树", "小营", "庙湾", "寨沟", "油坊", "枣园", "槐树", "竹园",
             "黄土岭", "白果", "青山", "冷水", "铁炉", "磨湾", "桃园", "梨园", "孙店", "郭屯", "周营", "吴楼", "赵湾", "何庄"]


def village_name(*parts: object) -> str:
    return pick(_VILLAGES, "village", *parts) + "村"


# ------------------------------------------------------------------ bank accounts (16 to 19 digits)


def card_account(county: str, index: int) -> str:
    """Social-security / subsidy card (惠民一卡通) of a person: 19 digits."""
    return f"623059{cat.COUNTY_CODES.index(county)}{index:012d}"


def enterprise_account(county: str, serial: int, old: bool = False) -> str:
    return f"4100{2 if old else 1}{cat.COUNTY_CODES.index(county)}{serial:010d}"  # 16 digits


def unit_account(county: str, unit: str, variant: int = 0) -> str:
    """Designated (zero-balance) account of a paying unit; variant > 0: other accounts of the unit."""
    return f"4105{variant:01d}{county}{unit}0001"  # 17 digits


def special_account(county: str) -> str:
    return f"41051{county}0000001"  # 17 digits


_M64 = (1 << 64) - 1


def mix(x: int, k: int) -> int:
    """splitmix64 of (x, k): a cheap stream of hashes from one base hash."""
    z = (x + (k + 1) * 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def choose(options: tuple[tuple[int, int], ...], x: int) -> int:
    """Weighted choice among (value, weight) driven by the integer x."""
    x %= sum(w for _, w in options)
    for value, w in options:
        if x < w:
            return value
        x -= w
    raise AssertionError("unreachable")
