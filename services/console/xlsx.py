"""A streamed XLSX writer: the workbook goes out while its rows are still being read from the APIs.

openpyxl (even write-only) and xlsxwriter assemble the file at `save()`, so a large list's first byte
waited for its last row (15 s for 27,619 payments at 1M). An XLSX is a zip of XML parts; `zipfile`
writes to a stream that cannot seek (data descriptors after each part), so the one worksheet is
written row by row into the zip and each compressed chunk is sent as it is made. One sheet, strings
inline, exact decimals as numbers with a money format, a bold header row."""

from __future__ import annotations

import re
import zipfile
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

CHUNK = 1 << 16
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>
</Types>"""
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" \
Target="docProps/core.xml"/>
</Relationships>"""
_CORE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" \
xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title><dc:creator>财政扶贫资金动态监控平台</dc:creator></cp:coreProperties>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" \
Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""
# cell styles: 0 plain, 1 money (#,##0.00), 2 bold (the header)
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="1"><numFmt numFmtId="164" formatCode="#,##0.00"/></numFmts>
<fonts count="2"><font><sz val="11"/><name val="等线"/></font><font><b/><sz val="11"/><name val="等线"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" state="frozen" '
               'activePane="bottomLeft"/></sheetView></sheetViews><cols>{cols}</cols><sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"


class _Sink:
    """A write-only file for zipfile (no tell/seek: it then writes data descriptors) that is drained."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out, self.parts, self.size = b"".join(self.parts), [], 0
        return out


def _text(value: str) -> str:
    return escape(_ILLEGAL.sub("", value))


def cell(value: Any, style: int = 0) -> str:
    """One `<c>`: numbers as numbers (Decimals in the money style), everything else an inline string."""
    if value is None or value == "":
        return "<c/>"
    if isinstance(value, bool):
        value = "是" if value else "否"
    if isinstance(value, Decimal):
        return f'<c s="1"><v>{value}</v></c>'
    if isinstance(value, int):
        return f"<c><v>{value}</v></c>"
    text = _text(str(value))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c t="inlineStr"{f" s={chr(34)}{style}{chr(34)}" if style else ""}><is><t{space}>{text}</t></is></c>'


def row_xml(values: Iterable[Any], style: int = 0) -> str:
    return "<row>" + "".join(cell(v, style) for v in values) + "</row>"


async def workbook(sheet: str, columns: list[str], rows: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    """The XLSX file of `columns` and `rows`, in chunks, the first before the rows are read."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:  # type: ignore[call-overload]
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("docProps/core.xml", _CORE.format(title=_text(sheet)))
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(sheet=_text(sheet)))
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/styles.xml", _STYLES)
        widths = "".join(f'<col min="{i}" max="{i}" width="{max(10, min(48, 2.2 * len(c) + 2)):.0f}" customWidth="1"/>'
                         for i, c in enumerate(columns, 1))
        with zf.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write((_SHEET_HEAD.format(cols=widths) + row_xml(columns, style=2)).encode())
            yield sink.drain()
            async for values in rows:
                part.write(row_xml(values).encode())
                if sink.size >= CHUNK:
                    yield sink.drain()
            part.write(_SHEET_TAIL.encode())
    yield sink.drain()
