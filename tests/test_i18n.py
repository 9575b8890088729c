"""Every message the code or a template can show has a Chinese translation, with the same
placeholders; and the language follows the cookie, then the browser."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "webapp" / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _msgids() -> set[str]:
    method_map = [
        ("webapp/**.py", "webapp.i18n_extract:extract"),
        ("templates/**.html", "jinja2"),
    ]
    options_map = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        if isinstance(message, tuple):
            found.update(m for m in message if m)
        elif message:
            found.add(message)
    return found


def _catalog() -> dict[str, str]:
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    found: dict[str, str] = {}
    for m in catalog:
        if not m.id:
            continue
        if isinstance(m.id, str):
            found[m.id] = str(m.string)
        else:  # a plural: Chinese has one form, which serves singular and plural msgids
            for msgid in m.id:
                found[msgid] = str(m.string[0]) if m.string else ""
    return found


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    catalog = _catalog()
    missing = sorted(m for m in _msgids() if not catalog.get(m))
    assert missing == [], f"{len(missing)} untranslated; run `make messages` and translate"
    broken = sorted(
        m for m in _msgids() if set(PLACEHOLDER.findall(m)) != set(PLACEHOLDER.findall(catalog[m]))
    )
    assert broken == []


def test_chinese_is_the_default_and_english_is_chosen_by_browser_or_cookie(
    client: TestClient,
) -> None:
    assert "登录" in client.get("/login").text
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "en-US,en"}).text
    client.cookies.set("lang", "zh_CN")
    assert "登录" in client.get("/login", headers={"Accept-Language": "en"}).text
