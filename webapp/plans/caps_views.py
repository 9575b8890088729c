"""The caps table (administrators): yearly visit caps per enterprise class and grade, each
editable; a change is an audit event with the old and new value."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from webapp.auth.deps import DB, CsrfProtected, Now, WebUser, require
from webapp.auth.models import User
from webapp.enums import Role
from webapp.errors import DomainError, FieldError
from webapp.plans import caps as caps_service
from webapp.plans.models import VisitCap
from webapp.web import render, shown_errors

router = APIRouter(dependencies=[CsrfProtected])


def admin_user(user: WebUser) -> User:
    return require(user, Role.admin)


AdminUser = Annotated[User, Depends(admin_user)]


def _page(
    request: Request,
    db: Session,
    user: User,
    *,
    cap_id: int | None = None,
    value: str = "",
    errors: list[FieldError] | None = None,
) -> Response:
    groups: dict[str, list[VisitCap]] = {}
    for cap in caps_service.list_caps(db, actor=user):
        groups.setdefault(cap.enterprise_class, []).append(cap)
    context: dict[str, Any] = {
        "groups": list(groups.items()),
        "class_labels": caps_service.CAP_CLASS_LABELS,
        "grade_labels": caps_service.CAP_GRADE_LABELS,
        "max_cap": caps_service.MAX_CAP,
        "failed_cap": cap_id,
        "failed_value": value,
        "errors": shown_errors(request, errors or []),
        "saved": request.query_params.get("saved") == "1",
    }
    return render(request, "admin/caps.html", context, status_code=422 if errors else 200)


@router.get("/admin/caps")
def caps_page(request: Request, db: DB, user: AdminUser) -> Response:
    return _page(request, db, user)


@router.post("/admin/caps/{cap_id:int}")
def change_cap(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    cap_id: int,
    max_per_year: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    text = max_per_year.strip()
    value = int(text) if text.isdigit() and len(text) < 5 else None
    try:
        caps_service.set_cap(db, actor=user, cap_id=cap_id, max_per_year=value, now=now)
    except DomainError as exc:
        if exc.code != "validation_error":
            raise
        db.rollback()
        return _page(request, db, user, cap_id=cap_id, value=max_per_year, errors=exc.errors)
    return RedirectResponse(f"/admin/caps?saved=1#cap-{cap_id}", status_code=303)
