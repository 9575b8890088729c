"""The web app manifest (installable app). The offline service worker comes with the PWA
work; the manifest is served at the root scope so the whole site is the app."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from webapp.web import translate

STATIC = Path(__file__).resolve().parent.parent.parent / "static"

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
                "src": "/static/icons/icon-192.png",
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "any maskable",
            },
            {
                "src": "/static/icons/icon-512.png",
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
