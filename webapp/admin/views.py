"""Administration pages (desktop): agencies, inspectors and credentials, enterprises, items,
plans and accounts. Each page is a list and a create form; a refused form comes back with
the input kept and each message next to its field. Administrators only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from webapp.admin import service as admin_service
from webapp.agencies import service as agencies_service
from webapp.auth.deps import DB, CsrfProtected, Now, WebUser, get_now, require
from webapp.auth.models import User
from webapp.enterprises import service as enterprises_service
from webapp.enums import AgencyLevel, CredentialStatus, EnterpriseClass, PlanKind, Role
from webapp.errors import DomainError, FieldError
from webapp.items import service as items_service
from webapp.plans import service as plans_service
from webapp.visits.service import photo_data_url
from webapp.web import render, shown_errors, tz

router = APIRouter(dependencies=[CsrfProtected])


def admin_user(user: WebUser) -> User:
    return require(user, Role.admin)


AdminUser = Annotated[User, Depends(admin_user)]
Text = Annotated[str, Form(max_length=4000)]
E = TypeVar("E", bound=StrEnum)
R = TypeVar("R")
Short = Annotated[str, Form(max_length=300)]


# --- parsing form input ----------------------------------------------------------------------


def _int(value: str) -> int | None:
    """A chosen id or a whole number; '' or garbage is None (the service says what is
    missing)."""
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _choice(cls: type[E], value: str) -> E | None:
    try:
        return cls(value)
    except ValueError:
        return None


def _today(request: Request) -> date:
    """Today where the users are (credential validity is by local date)."""
    return get_now(request).astimezone(tz()).date()


def _years_later(day: date, years: int) -> date:
    """The same day `years` later (28 February when that year has no 29th)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class _FormPage:
    """A page with a form: `context` gives what the page shows (read when it is shown, so a
    refused form shows the page afresh). Every create page of the administration is one."""

    request: Request
    template: str
    context: Callable[[], dict[str, Any]]

    def show(
        self, *, form: dict[str, Any] | None = None, errors: list[FieldError] | None = None
    ) -> Response:
        """The page; with `errors`, the refused form with its input kept and each message
        next to its field (422)."""
        return render(
            self.request,
            self.template,
            {
                **self.context(),
                "form": form or {},
                "errors": shown_errors(self.request, errors or []),
                "saved": self.request.query_params.get("saved") == "1",
            },
            status_code=422 if errors else 200,
        )

    def submit(
        self,
        db: Session,
        call: Callable[[], R],
        *,
        form: dict[str, Any],
        done: str | Callable[[R], str],
    ) -> Response:
        """Run the service call: when it works, go to `done` (a path, or one made from what
        the call returned) saying "Saved."; when it refuses the input, show the form again."""
        try:
            result = call()
        except DomainError as exc:
            if exc.code != "validation_error":
                raise
            db.rollback()  # end the refused write; the page is read afresh
            return self.show(
                form=form, errors=exc.errors or [FieldError("form", exc.message, **exc.params)]
            )
        path = done if isinstance(done, str) else done(result)
        return RedirectResponse(f"{path}?saved=1", status_code=303)


# --- index -----------------------------------------------------------------------------------


@router.get("/admin")
def admin_home(request: Request, user: AdminUser) -> Response:
    return render(request, "admin/index.html")


# --- agencies --------------------------------------------------------------------------------


def _agencies(request: Request, db: Session, user: User) -> _FormPage:
    return _FormPage(
        request,
        "admin/agencies.html",
        lambda: {
            "agencies": agencies_service.list_agencies(db, actor=user),
            "levels": list(AgencyLevel),
        },
    )


@router.get("/admin/agencies")
def agencies_page(request: Request, db: DB, user: AdminUser) -> Response:
    return _agencies(request, db, user).show(form={"level": AgencyLevel.county.value})


@router.post("/admin/agencies")
def create_agency(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    name: Short = "",
    code: Short = "",
    level: Short = "",
    parent_id: Short = "",
) -> Response:
    return _agencies(request, db, user).submit(
        db,
        lambda: agencies_service.create_agency(
            db,
            actor=user,
            name=name,
            code=code,
            level=_choice(AgencyLevel, level),
            parent_id=_int(parent_id),
            now=now,
        ),
        form={"name": name, "code": code, "level": level, "parent_id": parent_id},
        done="/admin/agencies",
    )


# --- inspectors and credentials --------------------------------------------------------------


def _upload(photo: UploadFile | None) -> bytes | None:
    """The uploaded bytes (read up to just past the limit, so an oversized file is told
    apart without reading all of it); None when no file was chosen."""
    if photo is None or not photo.filename:
        return None
    data = photo.file.read(agencies_service.MAX_PHOTO_BYTES + 1)
    return data or None


def _inspectors(request: Request, db: Session, user: User) -> _FormPage:
    return _FormPage(
        request,
        "admin/inspectors.html",
        lambda: {
            "today": _today(request),
            "inspectors": agencies_service.list_inspectors(db, actor=user),
            "agencies": agencies_service.list_agencies(db, actor=user),
            "statuses": list(CredentialStatus),
        },
    )


@router.get("/admin/inspectors")
def inspectors_page(request: Request, db: DB, user: AdminUser) -> Response:
    today = _today(request)
    form = {
        "status": CredentialStatus.valid.value,
        "valid_from": today.isoformat(),
        "valid_until": _years_later(today, 5).isoformat(),
    }
    return _inspectors(request, db, user).show(form=form)


@router.post("/admin/inspectors")
def create_inspector(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    name: Short = "",
    agency_id: Short = "",
    number: Short = "",
    issuing_agency_id: Short = "",
    valid_from: Short = "",
    valid_until: Short = "",
    status: Short = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    data = _upload(photo)
    return _inspectors(request, db, user).submit(
        db,
        lambda: agencies_service.create_inspector(
            db,
            actor=user,
            name=name,
            agency_id=_int(agency_id),
            photo=data,
            credential_number=number,
            issuing_agency_id=_int(issuing_agency_id),
            valid_from=_date(valid_from),
            valid_until=_date(valid_until),
            status=_choice(CredentialStatus, status),
            now=now,
        ),
        form={
            "name": name,
            "agency_id": agency_id,
            "number": number,
            "issuing_agency_id": issuing_agency_id,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "status": status,
        },
        done="/admin/inspectors",
    )


def _inspector(
    request: Request, db: Session, user: User, inspector_id: int, *, which: str = ""
) -> _FormPage:
    """One inspector's page; `which` of its forms a refusal is about ("photo", "credential",
    or "c<id>" for a credential's status)."""

    def context() -> dict[str, Any]:
        inspector = agencies_service.get_inspector(db, actor=user, inspector_id=inspector_id)
        return {
            "today": _today(request),
            "inspector": inspector,
            "photo": photo_data_url(inspector),
            "agencies": agencies_service.list_agencies(db, actor=user),
            "statuses": list(CredentialStatus),
            "which": which,
        }

    return _FormPage(request, "admin/inspector.html", context)


@router.get("/admin/inspectors/{inspector_id}")
def inspector_page(request: Request, db: DB, user: AdminUser, inspector_id: int) -> Response:
    return _inspector(request, db, user, inspector_id).show(form={"status": "valid"})


@router.post("/admin/inspectors/{inspector_id}/credentials")
def add_credential(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    inspector_id: int,
    number: Short = "",
    issuing_agency_id: Short = "",
    valid_from: Short = "",
    valid_until: Short = "",
    status: Short = "",
) -> Response:
    return _inspector(request, db, user, inspector_id, which="credential").submit(
        db,
        lambda: agencies_service.add_credential(
            db,
            actor=user,
            inspector_id=inspector_id,
            number=number,
            issuing_agency_id=_int(issuing_agency_id),
            valid_from=_date(valid_from),
            valid_until=_date(valid_until),
            status=_choice(CredentialStatus, status),
            now=now,
        ),
        form={
            "number": number,
            "issuing_agency_id": issuing_agency_id,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "status": status,
        },
        done=f"/admin/inspectors/{inspector_id}",
    )


@router.post("/admin/inspectors/{inspector_id}/photo")
def replace_photo(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    inspector_id: int,
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    data = _upload(photo) or b""
    return _inspector(request, db, user, inspector_id, which="photo").submit(
        db,
        lambda: agencies_service.set_inspector_photo(
            db, actor=user, inspector_id=inspector_id, photo=data, now=now
        ),
        form={},
        done=f"/admin/inspectors/{inspector_id}",
    )


@router.post("/admin/credentials/{credential_id}/status")
def change_credential_status(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    credential_id: int,
    inspector_id: Annotated[int, Form()],
    status: Short = "",
    note: Text = "",
) -> Response:
    return _inspector(request, db, user, inspector_id, which=f"c{credential_id}").submit(
        db,
        lambda: agencies_service.set_credential_status(
            db,
            actor=user,
            credential_id=credential_id,
            status=_choice(CredentialStatus, status),
            note=note,
            now=now,
        ),
        form={"status_note": note, "credential_id": credential_id},
        done=f"/admin/inspectors/{inspector_id}",
    )


# --- enterprises -----------------------------------------------------------------------------


def _enterprises(request: Request, db: Session, user: User, q: str = "") -> _FormPage:
    q = q.strip()[:100]

    def context() -> dict[str, Any]:
        found = (
            enterprises_service.search_enterprises(db, actor=user, q=q, limit=50)
            if q
            else admin_service.latest_enterprises(db, actor=user)
        )
        return {
            "enterprises": found,
            "q": q,
            "agencies": agencies_service.list_agencies(db, actor=user),
            "classes": list(EnterpriseClass),
            "grades": enterprises_service.RISK_GRADES,
        }

    return _FormPage(request, "admin/enterprises.html", context)


@router.get("/admin/enterprises")
def enterprises_page(request: Request, db: DB, user: AdminUser, q: str = "") -> Response:
    return _enterprises(request, db, user, q).show(form={"enterprise_class": "other"})


@router.get("/admin/enterprises/search")
def enterprise_search(
    request: Request, db: DB, user: AdminUser, q: str = "", enterprise_code: str = ""
) -> Response:
    """Fragment: enterprises matching `q` (or the form's `enterprise_code` field), as
    choices for a form (htmx)."""
    q = (q or enterprise_code).strip()[:100]
    found = enterprises_service.search_enterprises(db, actor=user, q=q, limit=20) if q else []
    return render(request, "admin/_enterprise_choices.html", {"found": found, "q": q})


@router.post("/admin/enterprises")
def create_enterprise(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    name: Short = "",
    uscc: Short = "",
    address: Short = "",
    industry: Short = "",
    enterprise_class: Short = "",
    risk_grade: Short = "",
    agency_id: Short = "",
) -> Response:
    page = _enterprises(request, db, user)
    form = {
        "name": name,
        "uscc": uscc,
        "address": address,
        "industry": industry,
        "enterprise_class": enterprise_class,
        "risk_grade": risk_grade,
        "agency_id": agency_id,
    }
    klass = _choice(EnterpriseClass, enterprise_class)
    chosen_agency = _int(agency_id)
    if klass is None or chosen_agency is None:
        missing = []
        if klass is None:
            missing.append(FieldError("enterprise_class", "Choose the enterprise's class."))
        if chosen_agency is None:
            missing.append(FieldError("agency_id", "Choose the agency in charge."))
        return page.show(form=form, errors=missing)
    return page.submit(
        db,
        lambda: enterprises_service.create_enterprise(
            db,
            actor=user,
            name=name,
            uscc=uscc,
            address=address,
            industry=industry,
            enterprise_class=klass,
            risk_grade=risk_grade,
            agency_id=chosen_agency,
            now=now,
        ),
        form=form,
        done="/admin/enterprises",
    )


# --- items -----------------------------------------------------------------------------------


def _items(request: Request, db: Session) -> _FormPage:
    return _FormPage(request, "admin/items.html", lambda: {"items": items_service.list_items(db)})


@router.get("/admin/items")
def items_page(request: Request, db: DB, user: AdminUser) -> Response:
    return _items(request, db).show()


@router.post("/admin/items")
def create_item(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    code: Short = "",
    title: Short = "",
    legal_basis: Text = "",
    description: Text = "",
    max_per_year: Short = "",
) -> Response:
    page = _items(request, db)
    form = {
        "code": code,
        "title": title,
        "legal_basis": legal_basis,
        "description": description,
        "max_per_year": max_per_year,
    }
    cap = _int(max_per_year)
    if max_per_year.strip() and cap is None:
        bad_cap = FieldError(
            "max_per_year",
            "Give the maximum per year as a whole number, or leave it empty for no maximum.",
        )
        return page.show(form=form, errors=[bad_cap])
    return page.submit(
        db,
        lambda: items_service.create_item(
            db,
            actor=user,
            code=code,
            title=title,
            legal_basis=legal_basis,
            description=description,
            max_per_year=cap,
            now=now,
        ),
        form=form,
        done="/admin/items",
    )


# --- plans -----------------------------------------------------------------------------------


def _plans(request: Request, db: Session, user: User) -> _FormPage:
    return _FormPage(
        request,
        "admin/plans.html",
        lambda: {
            "plans": plans_service.list_plans(db, actor=user),
            "agencies": agencies_service.list_agencies(db, actor=user),
            "kinds": list(PlanKind),
        },
    )


@router.get("/admin/plans")
def plans_page(request: Request, db: DB, now: Now, user: AdminUser) -> Response:
    local = now.astimezone(tz())
    form = {"kind": "monthly", "year": str(local.year), "month": str(local.month)}
    return _plans(request, db, user).show(form=form)


@router.post("/admin/plans")
def create_plan(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    agency_id: Short = "",
    kind: Short = "",
    year: Short = "",
    month: Short = "",
    title: Short = "",
) -> Response:
    page = _plans(request, db, user)
    form = {"agency_id": agency_id, "kind": kind, "year": year, "month": month, "title": title}
    chosen_kind = _choice(PlanKind, kind)
    chosen_agency, chosen_year, chosen_month = _int(agency_id), _int(year), _int(month)
    parse_errors = []
    if chosen_kind is None:
        parse_errors.append(FieldError("kind", "Choose a monthly or an annual plan."))
    if chosen_agency is None:
        parse_errors.append(FieldError("agency_id", "Choose the agency whose plan it is."))
    if chosen_year is None:
        parse_errors.append(FieldError("year", "Give the year as four digits, e.g. 2026."))
    if month.strip() and chosen_month is None:
        parse_errors.append(FieldError("month", "Choose the month from the list."))
    if parse_errors or chosen_kind is None or chosen_agency is None or chosen_year is None:
        return page.show(form=form, errors=parse_errors)
    return page.submit(
        db,
        lambda: plans_service.create_plan(
            db,
            actor=user,
            agency_id=chosen_agency,
            kind=chosen_kind,
            year=chosen_year,
            month=chosen_month,
            title=title,
            now=now,
        ),
        form=form,
        done=lambda plan: f"/admin/plans/{plan.id}",
    )


def _plan(request: Request, db: Session, user: User, plan_id: int) -> _FormPage:
    return _FormPage(
        request,
        "admin/plan.html",
        lambda: {
            "plan": admin_service.get_plan(db, actor=user, plan_id=plan_id),
            "items": items_service.list_items(db),
        },
    )


@router.get("/admin/plans/{plan_id}")
def plan_page(request: Request, db: DB, user: AdminUser, plan_id: int) -> Response:
    return _plan(request, db, user, plan_id).show()


@router.post("/admin/plans/{plan_id}/entries")
def add_plan_entry(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    plan_id: int,
    enterprise_code: Short = "",
    enterprise_id: Short = "",
    month: Short = "",
    item_ids: Annotated[list[str] | None, Form()] = None,
    note: Short = "",
) -> Response:
    chosen_items = [i for i in (_int(x) for x in item_ids or []) if i is not None]
    return _plan(request, db, user, plan_id).submit(
        db,
        lambda: admin_service.add_plan_entry(
            db,
            actor=user,
            plan_id=plan_id,
            enterprise_id=_int(enterprise_id),
            enterprise_code=enterprise_code,
            month=month,
            item_ids=chosen_items,
            note=note,
            now=now,
        ),
        form={
            "enterprise_code": enterprise_code,
            "month": month,
            "item_ids": [str(i) for i in chosen_items],
            "note": note,
        },
        done=f"/admin/plans/{plan_id}",
    )


# --- accounts --------------------------------------------------------------------------------


def _accounts(request: Request, db: Session, user: User) -> _FormPage:
    return _FormPage(
        request,
        "admin/accounts.html",
        lambda: {
            "users": admin_service.list_users(db, actor=user),
            "inspectors": agencies_service.list_inspectors(db, actor=user),
            "agencies": agencies_service.list_agencies(db, actor=user),
            "roles": list(Role),
        },
    )


@router.get("/admin/accounts")
def accounts_page(request: Request, db: DB, user: AdminUser) -> Response:
    return _accounts(request, db, user).show(form={"role": "inspector"})


@router.post("/admin/accounts")
def create_account(
    request: Request,
    db: DB,
    now: Now,
    user: AdminUser,
    username: Short = "",
    display_name: Short = "",
    password: Annotated[str, Form(max_length=256)] = "",
    role: Short = "",
    inspector_id: Short = "",
    agency_id: Short = "",
    enterprise_code: Short = "",
) -> Response:
    return _accounts(request, db, user).submit(
        db,
        lambda: admin_service.create_account(
            db,
            actor=user,
            username=username,
            display_name=display_name,
            password=password,
            role=_choice(Role, role),
            inspector_id=_int(inspector_id),
            agency_id=_int(agency_id),
            enterprise_code=enterprise_code,
            now=now,
        ),
        # Never echo the password back into the page.
        form={
            "username": username,
            "display_name": display_name,
            "role": role,
            "inspector_id": inspector_id,
            "agency_id": agency_id,
            "enterprise_code": enterprise_code,
        },
        done="/admin/accounts",
    )


@router.post("/admin/accounts/{user_id}/active")
def set_account_active(
    db: DB,
    now: Now,
    user: AdminUser,
    user_id: int,
    active: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    if active not in ("0", "1"):
        raise DomainError(
            "validation_error", "Say whether to enable (1) or disable (0) the account."
        )
    admin_service.set_account_active(db, actor=user, user_id=user_id, active=active == "1", now=now)
    return RedirectResponse(f"/admin/accounts?saved=1#user-{user_id}", status_code=303)
