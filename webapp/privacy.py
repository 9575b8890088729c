"""Personal data in free text: resident ID numbers and mobile phone numbers are masked where
text typed by people is shown, and never reach the logs.

The app keeps no ID or phone field of its own; but an enterprise reporting an unregistered
visit, an inspector writing a note, or a supervisor resolving a flag may type one, and a form
value or an error message may carry it into a log line."""

from __future__ import annotations

import logging
import re
from typing import Any

from markupsafe import Markup, escape

# 18-character resident identity number (GB 11643): 6-digit area, birth date, 3 digits and a
# check character; a 15-digit legacy number too. Not inside a longer run of digits.
_ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})(?:(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"|\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9A-Za-z])"
)
# Mainland mobile numbers, with or without +86 and with spaces or dashes between groups.
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[\s-]?)?1[3-9]\d)[\s-]?\d{4}[\s-]?(\d{4})(?!\d)")


def mask_personal(text: str) -> str:
    """`text` with ID numbers reduced to their area code and phone numbers to their first
    three and last four digits (enough to tell two apart, not to call or impersonate)."""
    text = _ID_NUMBER.sub(lambda m: m.group(1) + "********" + m.group(0)[-4:], text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def masked(value: Any) -> Markup:
    """Jinja filter: escape first, then mask (the result is safe markup)."""
    return Markup(mask_personal(str(escape("" if value is None else value))))  # noqa: S704


class RedactPersonalData(logging.Filter):
    """Masks ID and phone numbers in every log record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        plain = (str, int, float, type(None))
        if isinstance(args, tuple) and all(isinstance(a, plain) for a in args):
            # Element by element: some formatters (uvicorn's access log) read the args.
            record.msg = mask_personal(str(record.msg))
            record.args = tuple(mask_personal(a) if isinstance(a, str) else a for a in args)
        else:  # containers among the args: mask the finished line instead
            record.msg = mask_personal(record.getMessage())
            record.args = ()
        return True


def install_log_redaction() -> None:
    """On the app's loggers and on every handler of the root logger (where records of any
    logger end up), once."""
    targets: list[logging.Filterer] = [
        logging.getLogger(name) for name in ("webapp", "uvicorn", "uvicorn.access", "uvicorn.error")
    ]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, RedactPersonalData) for f in target.filters):
            target.addFilter(RedactPersonalData())
