"""A deterministic public dataset: monthly electricity use and emissions of Jiangsu enterprises.

What a public-data authority (the provincial energy and ecology data centre) holds before
desensitization: one row per enterprise and month, with the enterprise's name, unified social
credit code (valid per GB 32100), legal representative, contact phone and registered address,
its industry (GB/T 4754-2017 division), the meter reading time, electricity use and emissions.

Enterprises cluster in industrial districts, as they do in Jiangsu: most (district, industry)
groups hold five to nine enterprises, a few hold one or two (those are what k-anonymity
suppresses). Every value is a pure function of the arguments; enterprises come in a fixed
shuffled order, so ``enterprises(n)`` is a small extract spread over many districts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from dataspace.identity.uscc import make_uscc

SEED = 20250101
YEAR = 2025
# (city, district, administrative division code, industry divisions found there)
DISTRICTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("南京市", "江宁区", "320115", ("C39", "C34")),
    ("南京市", "六合区", "320116", ("C26", "C31")),
    ("苏州市", "昆山市", "320583", ("C39", "C34")),
    ("苏州市", "张家港市", "320582", ("C31", "C26")),
    ("苏州市", "常熟市", "320581", ("C17",)),
    ("无锡市", "江阴市", "320281", ("C31", "C17")),
    ("无锡市", "宜兴市", "320282", ("C30",)),
    ("常州市", "武进区", "320412", ("C34", "C39")),
    ("南通市", "如皋市", "320682", ("C17", "C34")),
    ("徐州市", "铜山区", "320312", ("C30", "C31")),
    ("扬州市", "仪征市", "320381", ("C26",)),
    ("镇江市", "丹阳市", "321181", ("C34",)),
    ("泰州市", "泰兴市", "321283", ("C26",)),
    ("盐城市", "大丰区", "320904", ("C17",)),
    ("连云港市", "灌云县", "320723", ("C26",)),
)
# GB/T 4754-2017 division: (name, word in enterprise names, kWh per month (median), SO2 and
# NOx kg per MWh)
INDUSTRIES: dict[str, tuple[str, str, int, float, float]] = {
    "C17": ("纺织业", "纺织", 420_000, 0.18, 0.30),
    "C26": ("化学原料和化学制品制造业", "化工", 1_800_000, 0.45, 0.62),
    "C30": ("非金属矿物制品业", "建材", 2_600_000, 0.80, 1.10),
    "C31": ("黑色金属冶炼和压延加工业", "钢铁", 9_500_000, 0.95, 1.40),
    "C34": ("通用设备制造业", "机械", 350_000, 0.05, 0.09),
    "C39": ("计算机、通信和其他电子设备制造业", "电子", 1_200_000, 0.02, 0.04),
}
BRANDS = "华盛恒通鑫达远金宏泰丰源瑞祥德永天润嘉隆"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱胡高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"
ROADS = ("长江路", "人民路", "工业大道", "开发区大道", "滨江路", "创业路", "港城路", "新园路")
GRID_CO2_T_PER_MWH = 0.5703  # East China grid emission factor (t CO2 per MWh)
LONE_GROUPS = 4  # (district, industry) groups with one or two enterprises only

SOURCE_SCHEMA = pa.schema(
    [
        pa.field("credit_code", pa.string(), nullable=False),
        pa.field("enterprise_name", pa.string(), nullable=False),
        pa.field("legal_representative", pa.string(), nullable=False),
        pa.field("contact_phone", pa.string(), nullable=False),
        pa.field("address", pa.string(), nullable=False),
        pa.field("industry", pa.string(), nullable=False),
        pa.field("reading_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("electricity_kwh", pa.int64(), nullable=False),
        pa.field("so2_kg", pa.float64(), nullable=False),
        pa.field("nox_kg", pa.float64(), nullable=False),
        pa.field("co2_t", pa.float64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Enterprise:
    credit_code: str
    name: str
    representative: str
    phone: str
    address: str
    industry: str
    scale: float  # multiple of the industry's median consumption


def enterprises(count: int | None = None) -> list[Enterprise]:
    """All enterprises (about 200) in a fixed shuffled order, or the first ``count``."""
    rng = random.Random(SEED)  # noqa: S311 (synthetic data, not security)
    found: list[Enterprise] = []
    groups = [(d, industry) for d in DISTRICTS for industry in d[3]]
    lone = set(rng.sample(range(len(groups)), LONE_GROUPS))
    for number, (district, industry) in enumerate(groups):
        size = rng.randint(1, 2) if number in lone else rng.randint(5, 9)
        found += [_enterprise(rng, district, industry, len(found) + i) for i in range(size)]
    rng.shuffle(found)
    return found if count is None else found[:count]


def _enterprise(
    rng: random.Random, district: tuple[str, str, str, tuple[str, ...]], industry: str, serial: int
) -> Enterprise:
    city, county, division, _ = district
    word = INDUSTRIES[industry][1]
    brand = rng.choice(BRANDS) + rng.choice(BRANDS)
    place = county.removesuffix("市").removesuffix("区").removesuffix("县")
    organisation = (
        f"MA{serial:04d}{rng.choice('0123456789ABCDEFGHJKLMNPQRTUWXY')}{rng.randint(10, 99)}"
    )
    return Enterprise(
        credit_code=make_uscc(f"91{division}{organisation}"),
        name=f"{place}{brand}{word}有限公司",
        representative=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(("", *GIVEN)),
        phone=f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
        address=f"江苏省{city}{county}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
        industry=industry,
        scale=round(rng.lognormvariate(0.0, 0.5), 3),
    )


def monthly_readings(count: int | None = None, year: int = YEAR) -> pa.Table:
    """One row per enterprise and month of ``year``, in SOURCE_SCHEMA."""
    rng = random.Random(SEED + year)  # noqa: S311 (synthetic data, not security)
    rows: dict[str, list[object]] = {name: [] for name in SOURCE_SCHEMA.names}
    for enterprise in enterprises(count):
        _, _, median_kwh, so2_rate, nox_rate = INDUSTRIES[enterprise.industry]
        for month in range(1, 13):
            season = 1.15 if month in (1, 7, 8, 12) else 1.0
            kwh = int(median_kwh * enterprise.scale * season * rng.uniform(0.9, 1.1))
            mwh = kwh / 1000
            reading = datetime(year, month, 25, 1, 0, tzinfo=UTC) + timedelta(
                minutes=rng.randint(0, 600)
            )
            values = (
                enterprise.credit_code,
                enterprise.name,
                enterprise.representative,
                enterprise.phone,
                enterprise.address,
                f"{enterprise.industry} {INDUSTRIES[enterprise.industry][0]}",
                reading,
                kwh,
                round(mwh * so2_rate * rng.uniform(0.85, 1.15), 2),
                round(mwh * nox_rate * rng.uniform(0.85, 1.15), 2),
                round(mwh * GRID_CO2_T_PER_MWH, 3),
            )
            for name, value in zip(SOURCE_SCHEMA.names, values, strict=True):
                rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=SOURCE_SCHEMA)
