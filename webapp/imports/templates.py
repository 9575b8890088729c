"""Templates to fill in, one per kind of import: the bilingual header row and one example
row (an import skips the example row when it is left unchanged), as XLSX or CSV."""

from __future__ import annotations

import csv
import io

from webapp.enums import ImportKind
from webapp.errors import not_found
from webapp.imports.kinds import example_row, spec_for

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def template_for(kind: ImportKind, fmt: str) -> tuple[bytes, str, str]:
    """A file to fill in: the bilingual header row and one example row (which an import
    skips when it is left unchanged). Returns (bytes, file name, media type)."""
    spec = spec_for(kind)
    headers = [c.header for c in spec.columns]
    example = example_row(spec)
    name = f"{kind.value}-template.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(headers)
        writer.writerow(example)
        # With the BOM, Excel opens UTF-8 Chinese text correctly.
        return buf.getvalue().encode("utf-8-sig"), name, FORMATS["csv"]
    if fmt != "xlsx":
        raise not_found("template")
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = kind.value
    sheet.append(headers)
    sheet.append(example)
    for index, column in enumerate(spec.columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(14, len(column.header) + 6)
        sheet.cell(row=1, column=index).font = Font(bold=True)
        # Text cells: Excel would turn a long credit code or a number into a rounded number.
        sheet.column_dimensions[letter].number_format = "@"
        sheet.cell(row=2, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("说明 Notes")
    notes.append(["列 / Column", "必填 / Required", "示例 / Example"])
    for column in spec.columns:
        notes.append(
            [
                column.header,
                "必填 / required" if column.required else "选填 / optional",
                column.example,
            ]
        )
    notes.append([])
    notes.append(["只读取第一个工作表；示例行原样保留时不会导入。"])
    notes.append(["Only the first sheet is read; the example row is skipped if left unchanged."])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), name, FORMATS["xlsx"]
