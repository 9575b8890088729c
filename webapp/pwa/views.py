"""The installable app: the web app manifest, the service worker and its offline page, all
at the root scope so the whole site is the app (the worker itself is static/sw.js)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from webapp.auth.deps import OptionalWebUser
from webapp.pwa.queue import NO_STORE
from webapp.static_files import STATIC, assets
from webapp.web import render, translate

router = APIRouter()


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> JSONResponse:
    lang = request.state.lang
    body = {
        "name": translate(lang, "Inspection registry"),
        "short_name": translate(lang, "Inspections"),
        "lang": lang.replace("_", "-"),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f4f6f8",
        "theme_color": "#0b5394",
        "icons": [
            {
                "src": assets.url("icons/icon-192.png"),
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "any maskable",
            },
            {
                "src": assets.url("icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "any maskable",
            },
        ],
    }
    return JSONResponse(
        body,
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page says (a fragment opened on its own,
    a bookmark): answer with the app's icon rather than a 404."""
    return FileResponse(
        STATIC / "icons" / "icon-192.png",
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/sw.js")
def service_worker() -> FileResponse:
    """The service worker, served from the root so that its scope can be the whole site;
    no-cache so a new version is picked up at the next visit."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/offline")
def offline(request: Request) -> HTMLResponse:
    """What the service worker shows for a page it cannot fetch. Rendered without the user
    (it is stored on the phone): no name, no CSRF token, no data."""
    return render(request, "pwa/offline.html")


@router.get("/pwa/session")
def queue_session(request: Request, user: OptionalWebUser) -> JSONResponse:
    """For the phone's registration queue, just before it sends: who is signed in on this
    browser now (a queued item is only ever sent with its own user's session) and the
    session's CSRF token (the one in the stored form may belong to an ended session)."""
    if user is None:
        return JSONResponse({"signed_in": False}, status_code=401, headers=NO_STORE)
    return JSONResponse(
        {
            "signed_in": True,
            "user_id": user.id,
            "csrf_token": getattr(request.state, "csrf_token", ""),
        },
        headers=NO_STORE,
    )
