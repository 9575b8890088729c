"""ID and phone numbers typed into free text are masked where shown and never logged."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, login, make_flag
from webapp.checkin.models import UnregisteredReport
from webapp.privacy import RedactPersonalData, mask_personal

ID = "11010519491231002X"
MOBILE = "13812345678"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"身份证 {ID}", "身份证 110105********002X"),
        ("旧证 110105491231002", "旧证 110105********1002"),
        (f"电话{MOBILE}找我", "电话138****5678找我"),
        ("+86 138-1234-5678", "+86 138****5678"),
        ("138 1234 5678", "138****5678"),
    ],
)
def test_numbers_are_masked(text: str, shown: str) -> None:
    assert mask_personal(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "统一社会信用代码 91320581MA1XXXXXX1",  # a credit code is not personal data
        "罚款 30000 元，案号 2026-118",
        "订单号 1234567890123456789012",  # a longer run of digits
        "visit at 10:02 on 2026-12-03",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_personal(text) == text


def test_the_supervisor_sees_a_report_masked(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    report = UnregisteredReport(
        enterprise_id=world.ent_a.id,
        reported_by_id=world.manager_a.id,
        occurred_at=now - timedelta(hours=1),
        who=f"两人，自称执法人员，留了电话 {MOBILE}",
        what_they_said=f"出示的证件上身份证号 {ID}",
        created_at=now,
    )
    db.add(report)
    db.flush()
    flag = make_flag(
        db,
        kind="unregistered_report",
        agency=world.county,
        now=now,
        report_id=report.id,
        enterprise=world.ent_a,
    )
    db.commit()
    login(client, "supervisor1")
    page = client.get(f"/supervision/flags/{flag.id}").text
    assert "138****5678" in page
    assert "110105********002X" in page
    assert MOBILE not in page
    assert ID not in page


def test_log_lines_never_carry_them(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("webapp.test")
    logger.addFilter(RedactPersonalData())
    with caplog.at_level(logging.INFO, logger="webapp.test"):
        logger.info("form value %s from %s", MOBILE, {"id": ID})
        logger.info(f"inline {ID}")
    assert MOBILE not in caplog.text
    assert ID not in caplog.text
    assert "138****5678" in caplog.text


def test_the_app_installs_the_redaction_everywhere(client: TestClient) -> None:
    for name in ("webapp", "uvicorn.access", "uvicorn.error"):
        assert any(isinstance(f, RedactPersonalData) for f in logging.getLogger(name).filters)
