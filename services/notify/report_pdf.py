"""The monthly report as a PDF (A4, Chinese, with charts): the same tables as the workbook and
the HTML (`report._tables`), laid out by reportlab. The Chinese text is set in Adobe's CID font
STSong-Light, which every PDF viewer supplies (nothing to embed, no font file on the server),
and stays extractable as text. Rendered from the stored numbers on each request (the same
numbers give the same pages), so no copy is kept."""

from __future__ import annotations

import io
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.notify.channels import LEVEL_ZH
from services.notify.report import _tables, _title  # one set of tables for every format

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
RED = colors.HexColor("#c0392b")
TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, alignment=1, spaceAfter=6 * mm)
HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=12, leading=16, spaceBefore=4 * mm, spaceAfter=2 * mm,
                         textColor=RED)
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10)
NONE = ParagraphStyle("none", fontName=FONT, fontSize=9, textColor=colors.grey)


def _cell(value: Any) -> Paragraph:
    return Paragraph(str(value).replace("&", "&amp;").replace("<", "&lt;"), CELL)


def _bars(title: str, pairs: list[tuple[str, float]], unit: str) -> Drawing | None:
    """A horizontal bar chart, labels in Chinese, values written at the bars' ends."""
    if not pairs:
        return None
    height = 24 + 18 * len(pairs)
    drawing = Drawing(170 * mm, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40 * mm, 6, 110 * mm, height - 24
    chart.data = [[v for _k, v in reversed(pairs)]]
    chart.bars[0].fillColor = RED
    chart.categoryAxis.categoryNames = [k for k, _v in reversed(pairs)]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max(max(v for _k, v in pairs) * 1.15, 1)
    chart.valueAxis.labels.fontSize = 7
    chart.barLabelFormat = "%g" + unit.replace("%", "%%")
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    drawing.add(String(0, height - 12, title, fontName=FONT, fontSize=9))
    return drawing


def to_pdf(s: Mapping[str, Any]) -> bytes:
    story: list[Any] = [Paragraph(_title(s), TITLE)]
    for title, header, rows in _tables(s):
        block: list[Any] = [Paragraph(title, HEADING)]
        chart = None
        if title == "预警概况":
            chart = _bars("本月新发预警（按等级，条）", [(LEVEL_ZH[lv], float(s["raised"]["by_level"].get(lv, 0)))
                                               for lv in ("bell", "yellow", "red", "green")], "")
        elif title.startswith("资金支出进度排名"):
            chart = _bars("支出进度（按区划，%）", [(r["name"] or r["code"], float(Decimal(r["progress"]) * 100))
                                            for r in s["ranking"]["by_progress"]], "%")
        elif title == "追回与暂停拨付金额" and Decimal(s["dispositions"]["recovered"]) + Decimal(
                s["dispositions"]["suspended"]):
            chart = _bars("追回与暂停拨付（元）", [("追回资金", float(s["dispositions"]["recovered"])),
                                            ("暂停拨付", float(s["dispositions"]["suspended"]))], "")
        if chart is not None:
            block.append(chart)
        if rows:
            table = Table([[_cell(h) for h in header], *([_cell(c) for c in row] for row in rows)], repeatRows=1,
                          hAlign="LEFT")
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                                       ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
            block.append(table)
        else:
            block.append(Paragraph("本月无", NONE))
        # a section's heading stays with its chart and first rows; long tables flow onto next pages
        story.append(KeepTogether(block[:2]) if len(block) > 2 else KeepTogether(block))
        story.extend(block[2:])
        story.append(Spacer(1, 2 * mm))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=_title(s), author="fundwatch", lang="zh-CN")

    def page_number(canvas: Any, _doc: Any) -> None:
        canvas.setFont(FONT, 8)
        canvas.drawRightString(A4[0] - 16 * mm, 8 * mm, f"第 {canvas.getPageNumber()} 页")

    doc.build(story, onFirstPage=page_number, onLaterPages=page_number)
    return buffer.getvalue()
