"""The SQL a block of code sends, as the driver gets it (`before_cursor_execute`), on any
connection of the engine: a service that reads in a transaction of its own (the report's
chart cache) is counted too.

    with statements(db) as seen:
        service.do_x(db, ...)
    assert len(seen) == 3
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

Bind = Session | Engine | Connection


@contextmanager
def sent(bind: Bind) -> Iterator[list[tuple[str, Any]]]:
    """The (statement, parameters) pairs sent while the block runs, in order (the list fills
    as it runs)."""
    seen: list[tuple[str, Any]] = []
    with _listening(bind, lambda statement, parameters: seen.append((statement, parameters))):
        yield seen


@contextmanager
def statements(bind: Bind) -> Iterator[list[str]]:
    """The statements sent while the block runs, in order (the list fills as it runs)."""
    seen: list[str] = []
    with _listening(bind, lambda statement, _parameters: seen.append(statement)):
        yield seen


@contextmanager
def _listening(bind: Bind, record: Callable[[str, Any], None]) -> Iterator[None]:
    engine = (bind.get_bind() if isinstance(bind, Session) else bind).engine

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        record(statement, parameters)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", listen)
