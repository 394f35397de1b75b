"""Every list downloads as XLSX (`xlsx.py`: streamed, rows go out as the API's pages come in)
or CSV (UTF-8 with BOM, so that Excel reads the Chinese), with Chinese headers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from services.console import xlsx
from services.console.text import SHANGHAI

ALERT_COLUMNS = ["预警编号", "预警等级", "类别", "规则", "预警内容", "地区", "区划代码", "责任业务组", "专项资金",
                 "状态", "触发时间（北京时间）", "办理期限", "核查发现"]
PAYMENT_COLUMNS = ["支付单号", "地区", "支付日期", "金额（元）", "退回金额（元）", "支付状态", "付款单位", "收款人",
                   "收款人类型", "收款账号（脱敏）", "支付用途", "指标编号", "项目编码"]
REGION_COLUMNS = ["排名", "地区", "区划代码", "层级", "资金规模（元）", "已分配（元）", "已支付（元）", "支出进度",
                  "未办结红灯", "未办结黄灯"]
GROUP_COLUMNS = ["名称", "主管部门", "地区", "资金规模（元）", "已分配（元）", "已支付（元）", "支出进度", "指标数"]
RULE_COLUMNS = ["规则编号", "类别", "规则名称", "默认等级", "依据", "已有配置数"]


def _cell(value: Any) -> Any:
    """Money strings become exact Decimals that Excel shows as numbers; everything else as is."""
    if isinstance(value, str) and value and value[0] in "-0123456789" and "." in value:
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def filename(title: str, fmt: str) -> str:
    return f"{title}-{dt.datetime.now(SHANGHAI):%Y%m%d%H%M}.{fmt}"


async def stream(fmt: str, title: str, columns: list[str], rows: AsyncIterator[list[Any]]) -> StreamingResponse:
    name = filename(title, fmt)
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    if fmt == "csv":
        async def csv_body() -> AsyncIterator[bytes]:
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(columns)
            yield ("\ufeff" + buf.getvalue()).encode()
            async for row in rows:
                buf.seek(0)
                buf.truncate()
                writer.writerow(row)
                yield buf.getvalue().encode()

        return StreamingResponse(csv_body(), media_type="text/csv; charset=utf-8", headers=headers)

    sheet = re.sub(r"[\[\]:*?/\\]", "-", title)[:31]
    return StreamingResponse(xlsx.workbook(sheet, columns, _cells(rows)), headers=headers,
                             media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


async def _cells(rows: AsyncIterator[list[Any]]) -> AsyncIterator[list[Any]]:
    async for row in rows:
        yield [_cell(v) for v in row]
