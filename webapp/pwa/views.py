"""The web app manifest (installable app). The offline service worker comes with the PWA
work; the manifest is served at the root scope so the whole site is the app."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from webapp.web import translate

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
