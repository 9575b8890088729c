"""A Babel extractor for the messages our Python code passes around as English msgids.

Babel's own Python extractor finds `_()` calls only; our services raise
`DomainError(code, "message")`, rules build `Finding(message="...")`, and so on. This
extractor walks the syntax tree and takes the literal message from each such place.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import IO, Any

# callable name -> index of its positional message argument
POSITIONAL = {
    "DomainError": 1,
    "FieldError": 1,
    "UsccProblem": 0,
    "translate": 1,
    "_": 0,
    "gettext": 0,
    "N_": 0,
}
KEYWORDS = {"message", "msgid"}

Message = tuple[int, str, str, list[str]]


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _literals(node: ast.expr) -> Iterator[str]:
    """The message literal, or both literals of `"a" if cond else "b"`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _literals(node.body)
        yield from _literals(node.orelse)


def messages_in(source: str) -> Iterator[tuple[int, str]]:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        index = POSITIONAL.get(_name(node.func))
        if index is not None and len(node.args) > index:
            for text in _literals(node.args[index]):
                yield node.lineno, text
        for kw in node.keywords:
            if kw.arg in KEYWORDS:
                for text in _literals(kw.value):
                    yield node.lineno, text
    # Module-level tables: {"key": N_("Label")} are caught above; plain dicts named
    # *_LABELS or *_MESSAGES with literal values are taken too.
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(n.endswith(("LABELS", "MESSAGES")) for n in names):
                for value in node.value.values:
                    for text in _literals(value):
                        yield value.lineno, text


def extract(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[Message]:
    """Babel extraction method (see babel.cfg)."""
    source = fileobj.read().decode("utf-8")
    for lineno, text in messages_in(source):
        yield lineno, "", text, []
