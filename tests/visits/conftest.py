"""The report summary must follow every write of these tests (see summary_guard.py)."""

from __future__ import annotations

from tests.supervision.summary_guard import _report_summary_matches_records  # noqa: F401
