"""The pass: issue the current token, draw it as a QR code, and identify a presented pass.

A pass is an HTTPS URL to this server's scan page carrying a short-lived token signed with
the visit's own secret (see webapp.auth.security). Under the QR code the inspector's phone
shows a short code (visit prefix + time-based digits) that a person can type instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M
from sqlalchemy.orm import Session

from webapp.auth import security
from webapp.auth.security import PassRefused
from webapp.config import Settings
from webapp.visits import rows
from webapp.visits.models import Visit
from webapp.visits.rows import VisitRow

SCAN_PATH = "/scan"


@dataclass(frozen=True)
class CurrentPass:
    url: str
    token: str
    code: str
    step: int
    expires_at: datetime  # when this token stops confirming


def scan_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}{SCAN_PATH}?p={token}"


def current_pass(visit: Visit, *, now: datetime, settings: Settings) -> CurrentPass:
    step = security.step_of(now, settings.pass_step_seconds)
    token = security.issue_pass_token(
        visit.pass_secret,
        visit_public_id=visit.public_id,
        enterprise_id=visit.enterprise_id,
        step=step,
        step_seconds=settings.pass_step_seconds,
        accepted_steps=settings.pass_accepted_steps,
    )
    expires = (step + settings.pass_accepted_steps) * settings.pass_step_seconds
    return CurrentPass(
        url=scan_url(settings, token),
        token=token,
        code=security.short_code(visit.code_prefix, visit.pass_secret, step),
        step=step,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def _qr(text: str) -> qrcode.QRCode:
    # 4-module quiet zone and error correction M: reads on cheap phones and in glare.
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    return qr


def qr_svg(text: str) -> str:
    image = _qr(text).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    svg: str = image.to_string(encoding="unicode")
    return svg


def qr_png(text: str) -> bytes:
    buf = io.BytesIO()
    _qr(text).make_image(fill_color="black", back_color="white").save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class Presented:
    """What was presented (kind: url, token or code), a digest of it (the token itself is
    never stored), the visit it names if any, and why it does not confirm if it does not."""

    kind: str
    digest: str
    visit: VisitRow | None
    refusal: str | None


def _token_from(text: str) -> tuple[str, str]:
    """(kind, token-or-code) from a scanned URL, a bare token, or a typed code."""
    text = text.strip()
    if text.startswith(("http://", "https://")) or text.startswith(SCAN_PATH):
        query = parse_qs(urlsplit(text).query)
        if query.get("p"):
            return "url", query["p"][0]
        if query.get("c"):
            return "code", query["c"][0]
        return "url", ""
    if text.count(".") == 2:
        return "token", text
    return "code", text


def identify(
    session: Session,
    presented: str,
    *,
    now: datetime,
    settings: Settings,
    lock: bool = False,
) -> Presented:
    """Find and verify the presented pass. Never raises for a bad pass. Reads only; a
    confirming scan locks the visit (`lock`). The visit's team and items are read only for
    a pass tied to it (verified, or genuine but expired)."""
    presented = presented[: security.MAX_PASS_TOKEN_LENGTH + 200]
    kind, value = _token_from(presented)
    digest = security.digest(presented.strip())
    if kind == "code":
        code = security.normalize_code(value)
        if code is None:
            return Presented(kind, digest, None, "pass_invalid")
        prefix = code[: security.CODE_PREFIX_LENGTH]
        head = rows.find(session, "code_prefix", prefix, lock=lock)
        if head is None:
            return Presented(kind, digest, None, "pass_invalid")
        try:
            security.verify_code_digits(
                head.pass_secret,
                code[security.CODE_PREFIX_LENGTH :],
                now=now,
                step_seconds=settings.pass_step_seconds,
                accepted_steps=settings.pass_accepted_steps,
            )
        except PassRefused as refused:
            # A wrong number is not evidence that this visit was presented.
            if refused.code != "pass_expired":
                return Presented(kind, digest, None, refused.code)
            return Presented(kind, digest, rows.complete(session, head), refused.code)
        return Presented(kind, digest, rows.complete(session, head), None)

    public_id = security.peek_pass_visit(value)
    head = rows.find(session, "public_id", public_id, lock=lock) if public_id else None
    if head is None:
        return Presented(kind, digest, None, "pass_invalid")
    try:
        claims = security.verify_pass_token(
            value,
            head.pass_secret,
            now=now,
            step_seconds=settings.pass_step_seconds,
            accepted_steps=settings.pass_accepted_steps,
        )
    except PassRefused as refused:
        # Only a genuinely signed but old pass is tied to its visit; a forgery names nothing.
        if refused.code != "pass_expired":
            return Presented(kind, digest, None, refused.code)
        return Presented(kind, digest, rows.complete(session, head), refused.code)
    if claims.enterprise_id != head.enterprise_id:
        return Presented(kind, digest, None, "pass_invalid")
    return Presented(kind, digest, rows.complete(session, head), None)
