"""What each kind of import reads: its columns (Chinese and English names, in any order),
its natural key, and how one row is checked and normalised. Pure: the facts a row is
checked against (agency codes, item codes, enterprises) come in a `Context`."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from webapp.enterprises import uscc as uscc_codes
from webapp.enterprises.service import risk_grade_problem
from webapp.enums import CredentialStatus, EnterpriseClass, ImportKind, PlanKind
from webapp.errors import FieldError
from webapp.imports.readers import cut_by_excel, is_excel_number
from webapp.plans.caps import ANY_GRADE, SUPERVISORY, cap_problem

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    required: bool = True
    aliases: tuple[str, ...] = ()
    example: str = ""

    @property
    def header(self) -> str:
        """The bilingual header of the templates, e.g. "统一社会信用代码 / Credit code"."""
        return f"{self.zh} / {self.en}"


@dataclass
class Context:
    """The facts rows are checked against, loaded once per file by the service."""

    year: int  # the year of a month given as 1-12
    agencies: dict[str, int] = field(default_factory=dict)  # code -> id
    items: dict[str, int] = field(default_factory=dict)  # code -> id
    enterprises: dict[str, tuple[int, str]] = field(default_factory=dict)  # uscc -> id, name
    # The file's credit code column normalised by `uscc.valid_column` (every code valid)
    # when the service has checked it already, for a `ColumnParser` given that column.
    codes: list[str] | None = None


Parser = Callable[[dict[str, str], Context], tuple[Row | None, list[FieldError]]]
# Rows by column: the keys (in the order of a row's dict) and one list of values per key.
Packed = tuple[list[str], list[list[Any]]]
# A file's cells by column key, each list in the file's row order, and the rows' line
# numbers -> the rows exactly as `parse` makes them (with "line" last) by column, or None
# when a cell (or a repeated key) needs the row-by-row check, which says what is wrong.
ColumnParser = Callable[[dict[str, list[str]], list[int], Context], Packed | None]


@dataclass(frozen=True)
class KindSpec:
    kind: ImportKind
    columns: tuple[Column, ...]
    parse: Parser
    key: Callable[[Row], str]
    # Fields compared with the database (besides the key); absent columns are left alone.
    fields: tuple[str, ...]
    # The whole file at once, column by column (see `ColumnParser`), for the kinds with
    # large files; the others (and any file it does not take) go row by row with `parse`.
    parse_columns: ColumnParser | None = None

    @property
    def plan_kind(self) -> PlanKind | None:
        return {
            ImportKind.annual_plan: PlanKind.annual,
            ImportKind.monthly_plan: PlanKind.monthly,
        }.get(self.kind)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


# --- normalising text -------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # a file repeats its few class and grade spellings on every row
def squash(text: str) -> str:
    """For comparing names: full-width to ASCII, case folded, no spaces."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


_HEADER_NOISE = re.compile(r"[*＊]|\((必填|选填|可选|required|optional)\)$")


def header_names(column: Column) -> set[str]:
    names = {column.zh, column.en, column.header, column.key, *column.aliases}
    return {squash(n) for n in names}


def match_header(text: str, columns: tuple[Column, ...]) -> Column | None:
    """The column a header cell names: its Chinese, English or bilingual name, or an alias
    (a trailing * or "(必填)" is ignored)."""
    name = _HEADER_NOISE.sub("", squash(text))
    candidates = [name, *(part for part in name.split("/") if part)]
    for candidate in candidates:
        for column in columns:
            if candidate in header_names(column):
                return column
    return None


_LIST_SPLIT = re.compile(r"[\s,;，；、]+")


def split_list(text: str) -> list[str]:
    """ "A;B、C, D" -> ["A", "B", "C", "D"] (without repeats, in order)."""
    return list(
        dict.fromkeys(p for p in _LIST_SPLIT.split(unicodedata.normalize("NFKC", text)) if p)
    )


# --- one cell ---------------------------------------------------------------------------------


def _required(cells: dict[str, str], key: str, errors: list[FieldError]) -> str:
    value = cells.get(key, "")
    if not value:
        errors.append(FieldError(key, "This cell is empty; it is required."))
    return value


def _max_length(value: str, key: str, limit: int, errors: list[FieldError]) -> str:
    if len(value) > limit:
        errors.append(
            FieldError(
                key,
                "At most %(max)s characters; this cell has %(length)s.",
                max=limit,
                length=len(value),
            )
        )
    return value


def _text(
    cells: dict[str, str], key: str, limit: int, errors: list[FieldError], *, required: bool = True
) -> str:
    """A text cell: `_required` (unless optional), then `_max_length`, in one step."""
    value = cells.get(key, "")
    if not value:
        if required:
            _required(cells, key, errors)  # its error (only an empty cell pays the call)
    elif len(value) > limit:
        _max_length(value, key, limit, errors)
    return value


_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+00:00(?::00)?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def parse_date(text: str) -> date | None:
    """2026-11-16, 2026/11/16, 2026.11.16, 2026年11月16日, 20261116 (or None)."""
    text = unicodedata.normalize("NFKC", text).strip()
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _date_cell(cells: dict[str, str], key: str, errors: list[FieldError]) -> str:
    raw = _required(cells, key, errors)
    if not raw:
        return ""
    day = parse_date(raw)
    if day is None:
        errors.append(
            FieldError(
                key,
                "'%(value)s' is not a date: write it as YYYY-MM-DD, for example 2026-11-16.",
                value=raw,
            )
        )
        return ""
    return day.isoformat()


_MONTH = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(?:\s*[-/.]\s*\d{1,2}\s*日?)?(?:\s+00:00(?::00)?)?$"
)
_MONTH_ONLY = re.compile(r"^(\d{1,2})\s*月?$")


@lru_cache(maxsize=1024)  # a plan file repeats a few months on every row
def parse_month(text: str, year: int) -> str | None:
    """ "2026-12", "2026/12", "2026年12月", a date in the month, or "12" / "12月" (in
    `year`) -> "2026-12"; None when it is not a month."""
    text = unicodedata.normalize("NFKC", text).strip()
    match = _MONTH.match(text)
    if match is not None:
        y, m = int(match.group(1)), int(match.group(2))
    else:
        only = _MONTH_ONLY.match(text)
        if only is None:
            return None
        y, m = year, int(only.group(1))
    if not (1 <= m <= 12 and 2000 <= y <= 2100):
        return None
    return f"{y:04d}-{m:02d}"


def _choice(
    cells: dict[str, str], key: str, aliases: dict[str, str], errors: list[FieldError]
) -> str:
    raw = _required(cells, key, errors)
    if not raw:
        return ""
    value = aliases.get(squash(raw))
    if value is None:
        errors.append(
            FieldError(
                key,
                "'%(value)s' is not one of the allowed values: %(allowed)s.",
                value=raw,
                allowed=", ".join(dict.fromkeys(_SHOWN_CHOICES.get(key, aliases.values()))),
            )
        )
        return ""
    return value


def _code_as_number(key: str, code: str) -> FieldError:
    """A code that Excel stored as a number (`is_excel_number`): an agency's or an item's
    code may be a long digit string (an agency's own credit code, a provincial item code),
    which Excel cuts to 15 digits (and its CSV saves as shown, "3.30217E+11" from 12 digits).
    Said as such, not as an unknown code."""
    return FieldError(
        key,
        "Excel stored this code as a number (%(value)s), so some of its digits are lost. In "
        "Excel format the column as Text, enter the codes again, and upload the file again.",
        value=code,
    )


def _agency(cells: dict[str, str], key: str, ctx: Context, errors: list[FieldError]) -> str:
    code = _required(cells, key, errors)
    if code and code not in ctx.agencies:
        if is_excel_number(code):
            errors.append(_code_as_number(key, code))
            return code
        errors.append(
            FieldError(
                key,
                "No agency with code '%(code)s'. The codes are on the Agencies page.",
                code=code,
            )
        )
    return code


_FIELD_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _field_codes(raw: str, key: str, errors: list[FieldError]) -> list[str]:
    codes = [c.lower() for c in split_list(raw)]
    bad = [c for c in codes if not _FIELD_CODE.match(c)]
    if bad:
        errors.append(
            FieldError(
                key,
                "'%(value)s' is not a field code: letters, digits and underscores, starting "
                "with a letter (e.g. hazchem).",
                value=bad[0],
            )
        )
    return sorted(set(codes))


# --- vocabularies in both languages -----------------------------------------------------------


def _aliases(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {squash(name): value for value, names in table.items() for name in (value, *names)}


CLASS_NAMES: dict[str, tuple[str, ...]] = {
    EnterpriseClass.hazchem_metallurgy.value: (
        "危险化学品和冶金",
        "危险化学品、冶金",
        "危化品和冶金",
        "危险化学品",
        "危化品",
        "冶金",
        "hazchem",
        "Hazardous chemicals and metallurgy",
    ),
    EnterpriseClass.other.value: (
        "其他",
        "其他行业",
        "非高危行业",
        "Other, non-high-risk industries",
    ),
    EnterpriseClass.coal_mine.value: ("煤矿", "coal", "Coal mine"),
}
CLASSES = _aliases(CLASS_NAMES)
CAP_CLASSES = _aliases({**CLASS_NAMES, SUPERVISORY: ("督导", "督导检查", "上级督导")})

GRADES = _aliases(
    {
        "1": ("一级", "1级", "level 1", "标准化一级"),
        "2": ("二级", "2级", "level 2", "标准化二级"),
        "3": ("三级", "3级", "level 3", "标准化三级"),
        "none": ("无", "未达标", "未定级", "不达标", "-"),
        "A": ("A级", "A类"),
        "B": ("B级", "B类"),
        "C": ("C级", "C类"),
        "D": ("D级", "D类"),
        ANY_GRADE: ("任意", "全部", "any"),
    }
)
STATUSES = _aliases(
    {
        CredentialStatus.valid.value: ("有效", "正常", "在用"),
        CredentialStatus.suspended.value: ("暂停", "暂扣", "暂停使用"),
        CredentialStatus.revoked.value: ("吊销", "注销", "撤销", "收回", "作废"),
    }
)
_SHOWN_CHOICES = {
    "enterprise_class": [
        "危险化学品和冶金 (hazchem_metallurgy)",
        "其他 (other)",
        "煤矿 (coal_mine)",
    ],
    "status": ["有效 (valid)", "暂停 (suspended)", "吊销 (revoked)"],
    "risk_grade": ["1", "2", "3", "none (无)", "A", "B", "C", "D"],
}


# --- enterprises ------------------------------------------------------------------------------

_EXAMPLE_USCC = uscc_codes.generate(random.Random(20261116))  # noqa: S311 (a fixed example)

ENTERPRISE_COLUMNS = (
    Column(
        "uscc",
        "统一社会信用代码",
        "Credit code",
        aliases=("社会信用代码", "信用代码", "unified social credit code", "USCC"),
        example=_EXAMPLE_USCC,
    ),
    Column(
        "name",
        "企业名称",
        "Name",
        aliases=("单位名称", "生产经营单位名称", "enterprise name", "enterprise"),
        example="示例化工有限公司",
    ),
    Column("address", "地址", "Address", False, ("企业地址", "注册地址"), "示例市示例路1号"),
    Column("industry", "行业", "Industry", False, ("所属行业",), "化工"),
    Column(
        "enterprise_class",
        "企业类别",
        "Class",
        aliases=("类别", "行业类别", "enterprise class"),
        example="危险化学品和冶金",
    ),
    Column(
        "risk_grade",
        "风险等级",
        "Risk grade",
        aliases=("等级", "标准化等级", "安全生产标准化等级", "grade", "standardisation level"),
        example="2",
    ),
    Column(
        "agency_code",
        "监管机构代码",
        "Agency code",
        aliases=("属地监管机构代码", "执法机构代码", "机构代码", "agency"),
        example="COUNTY-01",
    ),
)


def _uscc_cell(cells: dict[str, str], errors: list[FieldError]) -> tuple[str, bool]:
    """The normalised credit code of a row and whether it is a valid code (a missing or
    bad one is an error in `errors`)."""
    raw_code = _required(cells, "uscc", errors)
    if not raw_code:
        return "", False
    code, problem = uscc_codes.checked(raw_code)
    if problem is not None and (is_excel_number(code) or cut_by_excel(code)):
        # No typing error to look for (its length, a '.' or the check character would send
        # the user looking for one): the digits went when Excel made the code a number.
        errors.append(
            FieldError(
                "uscc",
                "Excel stored this credit code as a number (%(value)s), so some of its digits "
                "are lost. In Excel format the column as Text, enter the codes again, and "
                "upload the file again.",
                value=raw_code,
            )
        )
    elif problem is not None:
        errors.append(FieldError("uscc", problem.message, **problem.params))
    return code, problem is None


@lru_cache(maxsize=256)
def _grade_problem(klass: str, grade: str) -> FieldError | None:
    """`risk_grade_problem` of a (class, grade) pair: a file repeats a few pairs on every
    row, so each is checked once (callers copy the FieldError they keep)."""
    return risk_grade_problem(EnterpriseClass(klass), grade)


@lru_cache(maxsize=1024)  # a file repeats its few grade spellings on every row
def _grade(raw: str) -> str:
    """The grade a cell names (its own text when it is no known spelling)."""
    return GRADES.get(squash(raw), raw)


def _grade_check(klass: str, grade: str, errors: list[FieldError]) -> None:
    """Whether enterprises of `klass` can have `grade` (an error in `errors` if not)."""
    found = _grade_problem(klass, grade)
    if found is not None:  # a copy: the cached one is shared by every row
        errors.append(FieldError(found.field, found.message, **found.params))


def parse_enterprise(cells: dict[str, str], ctx: Context) -> tuple[Row | None, list[FieldError]]:
    errors: list[FieldError] = []
    code, _ = _uscc_cell(cells, errors)
    row: Row = {"uscc": code}
    row["name"] = _text(cells, "name", 200, errors)
    if "address" in cells:
        row["address"] = _text(cells, "address", 300, errors, required=False)
    if "industry" in cells:
        row["industry"] = _text(cells, "industry", 100, errors, required=False)
    klass = row["enterprise_class"] = _choice(cells, "enterprise_class", CLASSES, errors)
    raw_grade = _required(cells, "risk_grade", errors)
    grade = row["risk_grade"] = _grade(raw_grade)
    if klass and raw_grade:
        _grade_check(klass, grade, errors)
    row["agency_code"] = _agency(cells, "agency_code", ctx, errors)
    return (None if errors else row), errors


# --- whole columns at once ---------------------------------------------------------------------
# Each helper answers for a whole column with C-level passes (all(), max(map(len, ...)), a
# dict lookup per distinct value): True / the normalised values when every cell passes the
# check the row path makes, else False / None, and the file goes row by row.


def _filled_within(values: list[str], limit: int) -> bool:
    """No cell empty and none longer than `limit` (`_text` finds nothing)."""
    return all(values) and max(map(len, values), default=0) <= limit


def _within(values: list[str], limit: int) -> bool:
    """No cell longer than `limit` (`_text` of an optional cell finds nothing)."""
    return max(map(len, values), default=0) <= limit


def _mapped(values: list[str], convert: Callable[[str], str | None]) -> list[str] | None:
    """`convert` of every value, computed once per distinct value; None when it refuses one
    (None) or a cell is empty (a required cell)."""
    table = {raw: convert(raw) for raw in set(values)}
    if "" in table or None in table.values():
        return None
    return list(map(table.__getitem__, values))  # type: ignore[arg-type]


def _packed(keys: list[str], columns: list[list[Any]], lines: list[int]) -> Packed:
    """The rows by column, "line" last (a row's dict as the row path makes it)."""
    return [*keys, "line"], [*columns, lines]


def enterprise_columns(
    cells: dict[str, list[str]], lines: list[int], ctx: Context
) -> Packed | None:
    """`parse_enterprise` of every row, a column at a time (None: go row by row)."""
    codes = uscc_codes.valid_column(cells["uscc"])
    if codes is None or len(set(codes)) != len(codes):  # a repeated code: the row path says
        return None
    keys = ["uscc", "name"]
    columns: list[list[Any]] = [codes, cells["name"]]
    if not _filled_within(cells["name"], 200):
        return None
    for key, limit in (("address", 300), ("industry", 100)):
        if key in cells:
            if not _within(cells[key], limit):
                return None
            keys.append(key)
            columns.append(cells[key])
    classes = _mapped(cells["enterprise_class"], lambda raw: CLASSES.get(squash(raw)))
    grades = _mapped(cells["risk_grade"], _grade)
    agencies = cells["agency_code"]
    if classes is None or grades is None or not all(agencies):
        return None
    if any(_grade_problem(*pair) for pair in set(zip(classes, grades, strict=True))):
        return None
    if not set(agencies) <= ctx.agencies.keys():
        return None
    keys += ["enterprise_class", "risk_grade", "agency_code"]
    columns += [classes, grades, agencies]
    return _packed(keys, columns, lines)


# --- inspectors with credentials --------------------------------------------------------------

INSPECTOR_COLUMNS = (
    Column(
        "name", "姓名", "Name", aliases=("执法人员姓名", "执法人员", "inspector"), example="张三"
    ),
    Column(
        "agency_code",
        "所属机构代码",
        "Agency code",
        aliases=("机构代码", "单位代码", "agency"),
        example="COUNTY-01",
    ),
    Column(
        "number",
        "执法证号",
        "Credential number",
        aliases=("执法证编号", "证件号", "证号", "credential no", "credential", "number"),
        example="32058100001",
    ),
    Column(
        "valid_from",
        "有效期起",
        "Valid from",
        aliases=("发证日期", "起始日期", "有效期开始"),
        example="2025-01-01",
    ),
    Column(
        "valid_until",
        "有效期至",
        "Valid until",
        aliases=("有效期止", "截止日期", "有效期结束", "valid to"),
        example="2029-12-31",
    ),
    Column("status", "状态", "Status", aliases=("证件状态",), example="有效"),
    Column("fields", "执法领域", "Fields", False, ("执法类别", "领域", "field"), "hazchem mining"),
    Column(
        "issuing_agency_code",
        "发证机关代码",
        "Issuing agency code",
        False,
        ("发证机关", "issuer"),
        "COUNTY-01",
    ),
)


def parse_inspector(cells: dict[str, str], ctx: Context) -> tuple[Row | None, list[FieldError]]:
    errors: list[FieldError] = []
    number = _text(cells, "number", 64, errors)
    if number and is_excel_number(number):  # a long number, cut by Excel to 15 digits
        errors.append(
            FieldError(
                "number",
                "Excel stored this credential number as a number (%(value)s), so some of its "
                "digits are lost. In Excel format the column as Text, enter the numbers again, "
                "and upload the file again.",
                value=number,
            )
        )
    row: Row = {"number": number}
    row["name"] = _text(cells, "name", 100, errors)
    row["agency_code"] = _agency(cells, "agency_code", ctx, errors)
    if cells.get("issuing_agency_code"):
        row["issuing_agency_code"] = _agency(cells, "issuing_agency_code", ctx, errors)
    row["valid_from"] = _date_cell(cells, "valid_from", errors)
    row["valid_until"] = _date_cell(cells, "valid_until", errors)
    if row["valid_from"] and row["valid_until"] and row["valid_from"] > row["valid_until"]:
        errors.append(
            FieldError(
                "valid_until",
                "The credential ends before it starts: 'valid until' must be on or after "
                "'valid from'.",
            )
        )
    row["status"] = _choice(cells, "status", STATUSES, errors)
    if "fields" in cells:
        row["fields"] = _max_length(
            " ".join(_field_codes(cells["fields"], "fields", errors)), "fields", 200, errors
        )
    return (None if errors else row), errors


# --- the item list ----------------------------------------------------------------------------

ITEM_COLUMNS = (
    Column(
        "code", "事项编码", "Code", aliases=("编码", "检查事项编码", "item code"), example="AQ-001"
    ),
    Column(
        "title",
        "事项名称",
        "Title",
        aliases=("名称", "检查事项", "检查事项名称", "item"),
        example="安全生产责任制落实情况",
    ),
    Column(
        "legal_basis",
        "检查依据",
        "Legal basis",
        aliases=("法律依据", "依据"),
        example="《中华人民共和国安全生产法》第二十二条",
    ),
    Column(
        "description",
        "检查内容",
        "Description",
        False,
        ("内容", "what is checked"),
        "全员安全生产责任制的建立和落实",
    ),
    Column(
        "max_per_year",
        "每年最多次数",
        "Max per year",
        False,
        ("年度频次上限", "频次上限", "maximum per year"),
        "2",
    ),
    Column("field", "执法领域", "Field", False, ("领域",), "industry_trade"),
)


def parse_item(cells: dict[str, str], ctx: Context) -> tuple[Row | None, list[FieldError]]:
    errors: list[FieldError] = []
    code = unicodedata.normalize("NFKC", _required(cells, "code", errors)).upper()
    if is_excel_number(code):
        errors.append(_code_as_number("code", code))
    row: Row = {"code": _max_length(code, "code", 32, errors)}
    row["title"] = _text(cells, "title", 300, errors)
    row["legal_basis"] = _required(cells, "legal_basis", errors)
    if "description" in cells:
        row["description"] = cells["description"]
    if "max_per_year" in cells:
        raw = cells["max_per_year"]
        cap: int | None = None
        if raw:
            cap = int(raw) if raw.isdigit() and len(raw) < 4 else -1
            if not 1 <= cap <= 366:
                errors.append(
                    FieldError(
                        "max_per_year",
                        "Give a whole number from 1 to 366, or leave the cell empty for no "
                        "maximum.",
                    )
                )
        row["max_per_year"] = cap
    if "field" in cells:
        codes = _field_codes(cells["field"], "field", errors)
        if len(codes) > 1:
            errors.append(
                FieldError("field", "An item belongs to one field; this cell names several.")
            )
        row["field"] = codes[0] if codes else ""
    return (None if errors else row), errors


# --- plans ------------------------------------------------------------------------------------

PLAN_COLUMNS = (
    Column(
        "uscc",
        "统一社会信用代码",
        "Credit code",
        aliases=ENTERPRISE_COLUMNS[0].aliases,
        example=_EXAMPLE_USCC,
    ),
    Column(
        "enterprise_name",
        "企业名称",
        "Enterprise name",
        False,
        ("单位名称", "name", "enterprise"),
        "示例化工有限公司",
    ),
    Column("month", "检查月份", "Month", aliases=("月份", "计划月份"), example="2026-12"),
    Column(
        "items",
        "检查事项编码",
        "Item codes",
        aliases=("检查事项", "事项编码", "items", "item code"),
        example="AQ-001;AQ-002",
    ),
    Column("note", "备注", "Note", False, ("说明",), "与消防部门联合检查"),
)


@lru_cache(maxsize=4096)  # a plan file repeats its few item lists
def _item_codes(raw: str) -> tuple[str, ...]:
    """The item codes a cell lists, upper case, in the order given."""
    return tuple(c.upper() for c in split_list(raw))


def parse_plan_row(cells: dict[str, str], ctx: Context) -> tuple[Row | None, list[FieldError]]:
    errors: list[FieldError] = []
    code, valid = _uscc_cell(cells, errors)
    if valid and code not in ctx.enterprises:
        errors.append(
            FieldError(
                "uscc",
                "Enterprise with credit code %(code)s not found: import or add the "
                "enterprise first.",
                code=code,
            )
        )
    raw_month = _required(cells, "month", errors)
    month = parse_month(raw_month, ctx.year) if raw_month else None
    if raw_month and month is None:
        errors.append(
            FieldError(
                "month",
                "'%(value)s' is not a month: write YYYY-MM (e.g. 2026-12), or 1 to 12 for "
                "a month of %(year)s.",
                value=raw_month,
                year=ctx.year,
            )
        )
    codes = _item_codes(cells.get("items", ""))
    if not codes:
        errors.append(
            FieldError(
                "items",
                "List at least one item code (separate several with ; or 、).",
            )
        )
    unknown = [c for c in codes if c not in ctx.items]
    numbers = [c for c in unknown if is_excel_number(c)]
    if numbers:
        errors.append(_code_as_number("items", numbers[0]))
        unknown = [c for c in unknown if c not in numbers]
    if unknown:
        errors.append(
            FieldError(
                "items",
                "Unknown item code %(codes)s: use codes from the item list.",
                codes=", ".join(unknown),
            )
        )
    row: Row = {"uscc": code, "month": month or "", "items": sorted(codes)}
    if "note" in cells:
        row["note"] = _text(cells, "note", 300, errors, required=False)
    return (None if errors else row), errors


def plan_columns(cells: dict[str, list[str]], lines: list[int], ctx: Context) -> Packed | None:
    """`parse_plan_row` of every row, a column at a time (None: go row by row)."""
    codes = ctx.codes if ctx.codes is not None else uscc_codes.valid_column(cells["uscc"])
    # ctx.codes: the service's check of this very column (`_context`), one code a cell.
    assert codes is None or len(codes) == len(cells["uscc"])
    if codes is None:
        return None
    distinct = set(codes)
    if not distinct <= ctx.enterprises.keys():
        return None
    months = _mapped(cells["month"], lambda raw: parse_month(raw, ctx.year))
    if months is None:
        return None  # a bad month: the row path says which
    if len(distinct) != len(codes) and len(set(zip(codes, months, strict=True))) != len(codes):
        return None  # a (credit code, month) twice (codes all distinct: no pair is)
    items = cells.get("items", [""] * len(codes))
    listed = {raw: _item_codes(raw) for raw in set(items)}
    if not all(listed.values()) or not {c for v in listed.values() for c in v} <= ctx.items.keys():
        return None
    ordered = {raw: sorted(found) for raw, found in listed.items()}
    keys = ["uscc", "month", "items"]
    # A list of its own per row, as the row path gives (rows are dicts that may be changed).
    columns: list[list[Any]] = [codes, months, list(map(list, map(ordered.__getitem__, items)))]
    if "note" in cells:
        if not _within(cells["note"], 300):
            return None
        keys.append("note")
        columns.append(cells["note"])
    return _packed(keys, columns, lines)


# --- caps -------------------------------------------------------------------------------------

CAP_COLUMNS = (
    Column(
        "enterprise_class",
        "企业类别",
        "Class",
        aliases=("类别", "enterprise class"),
        example="危险化学品和冶金",
    ),
    Column(
        "risk_grade", "等级", "Grade", aliases=("风险等级", "标准化等级", "risk grade"), example="2"
    ),
    Column(
        "max_per_year",
        "每年检查上限",
        "Max per year",
        aliases=("年度上限", "频次上限", "上限", "cap"),
        example="4",
    ),
)


def parse_cap(cells: dict[str, str], ctx: Context) -> tuple[Row | None, list[FieldError]]:
    errors: list[FieldError] = []
    raw_class = _required(cells, "enterprise_class", errors)
    klass = CAP_CLASSES.get(squash(raw_class), "") if raw_class else ""
    if raw_class and not klass:
        errors.append(
            FieldError(
                "enterprise_class",
                "'%(value)s' is not one of the allowed values: %(allowed)s.",
                value=raw_class,
                allowed=", ".join([*_SHOWN_CHOICES["enterprise_class"], "督导 (supervisory)"]),
            )
        )
    raw_grade = _required(cells, "risk_grade", errors)
    grade = _grade(raw_grade)
    if klass == SUPERVISORY:
        if raw_grade and grade != ANY_GRADE:
            errors.append(
                FieldError(
                    "risk_grade",
                    "Supervisory visits have one cap for every grade: write * as the grade.",
                )
            )
    elif klass and raw_grade:
        _grade_check(klass, grade, errors)
    raw_cap = _required(cells, "max_per_year", errors)
    cap = int(raw_cap) if raw_cap.isdigit() and len(raw_cap) < 4 else None
    if raw_cap:
        problem_cap = cap_problem(cap)
        if problem_cap is not None:
            errors.append(problem_cap)
    row: Row = {"enterprise_class": klass, "risk_grade": grade, "max_per_year": cap}
    return (None if errors else row), errors


# --- the kinds --------------------------------------------------------------------------------

SPECS: dict[ImportKind, KindSpec] = {
    ImportKind.enterprises: KindSpec(
        ImportKind.enterprises,
        ENTERPRISE_COLUMNS,
        parse_enterprise,
        lambda row: str(row["uscc"]),
        ("name", "address", "industry", "enterprise_class", "risk_grade", "agency_code"),
        enterprise_columns,
    ),
    ImportKind.inspectors: KindSpec(
        ImportKind.inspectors,
        INSPECTOR_COLUMNS,
        parse_inspector,
        lambda row: str(row["number"]),
        (
            "name",
            "agency_code",
            "issuing_agency_code",
            "valid_from",
            "valid_until",
            "status",
            "fields",
        ),
    ),
    ImportKind.items: KindSpec(
        ImportKind.items,
        ITEM_COLUMNS,
        parse_item,
        lambda row: str(row["code"]),
        ("title", "legal_basis", "description", "max_per_year", "field"),
    ),
    ImportKind.annual_plan: KindSpec(
        ImportKind.annual_plan,
        PLAN_COLUMNS,
        parse_plan_row,
        lambda row: f"{row['uscc']}|{row['month']}",
        ("items", "note"),
        plan_columns,
    ),
    ImportKind.monthly_plan: KindSpec(
        ImportKind.monthly_plan,
        PLAN_COLUMNS,
        parse_plan_row,
        lambda row: f"{row['uscc']}|{row['month']}",
        ("items", "note"),
        plan_columns,
    ),
    ImportKind.caps: KindSpec(
        ImportKind.caps,
        CAP_COLUMNS,
        parse_cap,
        lambda row: f"{row['enterprise_class']}|{row['risk_grade']}",
        ("max_per_year",),
    ),
}

PLAN_KINDS = (ImportKind.annual_plan, ImportKind.monthly_plan)


def spec_for(kind: ImportKind) -> KindSpec:
    return SPECS[kind]


def example_row(spec: KindSpec) -> list[str]:
    return [c.example for c in spec.columns]
