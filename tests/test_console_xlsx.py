"""The streamed XLSX writer: openpyxl reads back exactly what was written, money as numbers in the
money format, and the first bytes go out before any row is read."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal

import openpyxl

from services.console import xlsx

COLUMNS = ["支付单号", "地区", "金额（元）", "笔数", "备注"]


def _write(rows: list[list], read: list[int] | None = None) -> tuple[list[bytes], bytes]:
    async def source():
        for i, row in enumerate(rows):
            if read is not None:
                read.append(i)
            yield row

    async def run():
        return [chunk async for chunk in xlsx.workbook("支付明细", COLUMNS, source())]

    chunks = asyncio.run(run())
    return chunks, b"".join(chunks)


def test_what_is_written_reads_back():
    rows = [[f"ZF{i:08d}", "栾川县 <城关镇> & 潭头镇", Decimal("1234.50") + i, i, " 前后空格 "] for i in range(5000)]
    rows.append(["ZF-NUL", "控制字符\x01已去掉", Decimal("-0.01"), 0, None])
    _chunks, data = _write(rows)
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet.title == "支付明细"
    got = list(sheet.iter_rows(values_only=True))
    assert got[0] == tuple(COLUMNS)
    assert got[1] == ("ZF00000000", "栾川县 <城关镇> & 潭头镇", 1234.5, 0, " 前后空格 ")
    assert got[-1] == ("ZF-NUL", "控制字符已去掉", -0.01, 0, None)
    assert len(got) == 5002
    assert sheet["C2"].number_format == "#,##0.00" and sheet["A1"].font.b and not sheet["A2"].font.b
    assert sheet.freeze_panes == "A2"


def test_the_first_bytes_go_out_before_the_rows_are_read():
    read: list[int] = []
    seen_before_first_chunk: list[int] = []

    async def run():
        async def source():
            for i in range(20000):
                read.append(i)
                yield [f"ZF{i:08d}", f"地区{i % 97}", Decimal(i) / 100, i, "x" * (i % 50)]

        gen = xlsx.workbook("大列表", COLUMNS, source())
        first = await gen.__anext__()
        seen_before_first_chunk.extend(read)
        rest = [chunk async for chunk in gen]
        return [first, *rest]

    chunks = asyncio.run(run())
    assert seen_before_first_chunk == [] and chunks[0].startswith(b"PK")
    assert len(chunks) > 3  # the sheet went out in several pieces while it was being read
    rows = list(openpyxl.load_workbook(io.BytesIO(b"".join(chunks)), read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 20001 and rows[-1][0] == "ZF00019999"
