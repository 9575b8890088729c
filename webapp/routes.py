"""Every router, in one list: pages at the root, the JSON API under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from webapp import health
from webapp.admin import views as admin_views
from webapp.audit import views as audit_views
from webapp.auth import api as auth_api
from webapp.auth import views as auth_views
from webapp.checkin import api as checkin_api
from webapp.checkin import views as checkin_views
from webapp.enterprises import api as enterprises_api
from webapp.findings import api as findings_api
from webapp.findings import views as findings_views
from webapp.imports import views as imports_views
from webapp.items import api as items_api
from webapp.plans import api as plans_api
from webapp.plans import caps_views
from webapp.pwa import views as pwa_views
from webapp.supervision import api as supervision_api
from webapp.supervision import report_api, report_views
from webapp.supervision import views as supervision_views
from webapp.visits import api as visits_api
from webapp.visits import views as visits_views


def include_all(app: FastAPI) -> None:
    for router in (
        auth_views.router,
        visits_views.router,
        checkin_views.router,
        supervision_views.router,
        admin_views.router,
        imports_views.router,
        caps_views.router,
        findings_views.router,
        report_views.router,
        audit_views.router,
        pwa_views.router,
        health.router,
    ):
        # Pages are not the JSON API: keep them out of /api/v1/openapi.json.
        app.include_router(router, include_in_schema=False)
    api = APIRouter(prefix="/api/v1")
    for router in (
        auth_api.router,
        enterprises_api.router,
        items_api.router,
        plans_api.router,
        visits_api.router,
        checkin_api.router,
        supervision_api.router,
        findings_api.router,
        report_api.router,
    ):
        api.include_router(router)
    app.include_router(api)
