"""Static files for phones on a poor signal: kept in memory, gzip-compressed once, and named
by their content so that a browser keeps them for a year and still gets a new one at once.

Pages name a file with `static_url("app.js")` -> `/static/app.js?v=<content hash>`. That URL
only ever means these bytes, so it is cached `immutable` for a year; a deploy that changes the
file changes its URL (the pages themselves are `no-store`, so the next page asks for it).
The same file asked for without `?v=` or with an old one (a page stored on the phone by the
service worker, the worker's own precache) gets a short cache, like before.

The files are read (and compressed) at their first request and again whenever their size or
modification time changes (looked at once a second at most; they are small: 100 KB in all).
Only static files are compressed here: they hold no secret and no user input. HTML pages are
not (see deploy/nginx.conf): a page carries the CSRF token and the pass secret next to text
the user typed, the shape BREACH reads a secret from through the compressed length.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

STATIC = Path(__file__).resolve().parent.parent / "static"
PREFIX = "/static/"

# A versioned URL names fixed bytes: keep it a year, never revalidate.
VERSIONED_CACHE = "public, max-age=31536000, immutable"
# Anything else (no version, an old version): a short cache, as before versioned URLs.
UNVERSIONED_CACHE = "public, max-age=3600"

# A file is looked at (stat) again at most this often: a page names six of them.
RECHECK_SECONDS = 1.0
# Text worth compressing; images (PNG) are compressed already.
COMPRESSIBLE = frozenset({".js", ".css", ".svg", ".json", ".webmanifest", ".txt", ".map"})
TYPES = {".js": "text/javascript", ".webmanifest": "application/manifest+json"}


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, their gzip form (None if not worth it) and hash."""

    body: bytes
    gzipped: bytes | None
    digest: str
    media_type: str
    stamp: tuple[int, int]  # (mtime_ns, size) when read: a change means read it again
    path: Path  # resolved once: a page names the same few files again and again


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip`, or `*`, with q > 0)."""
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        params = params.strip()
        weight = 1.0
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0  # unreadable: as if refused
        weights[name.strip()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


class StaticAssets:
    """The static directory, served from memory (an ASGI app to mount at /static)."""

    def __init__(self, directory: Path = STATIC) -> None:
        self.directory = directory.resolve()
        self._assets: dict[str, Asset] = {}
        self._checked: dict[str, float] = {}  # when each file was last looked at (monotonic)
        self._lock = threading.Lock()

    def _file(self, name: str) -> Path | None:
        """The file `name` (relative, '/'-separated) inside the directory, else None."""
        if not name or "\x00" in name or name.startswith("/"):
            return None
        path = (self.directory / name).resolve()
        if not path.is_relative_to(self.directory):
            return None  # `..` or a link out of the directory
        return path

    def get(self, name: str) -> Asset | None:
        """The file as served, read again if it changed since; None if there is none."""
        known = self._assets.get(name)
        checked = time.monotonic()
        if known is not None and checked - self._checked.get(name, 0.0) < RECHECK_SECONDS:
            return known
        path = known.path if known is not None else self._file(name)
        if path is None:
            return None
        try:
            st = path.stat()
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if known is not None and known.stamp == stamp:
            self._checked[name] = checked
            return known
        with self._lock:
            body = path.read_bytes()
            suffix = path.suffix.lower()
            gzipped = None
            if suffix in COMPRESSIBLE:
                packed = gzip.compress(body, compresslevel=9, mtime=0)
                gzipped = packed if len(packed) < len(body) * 0.9 else None
            media_type = TYPES.get(suffix) or mimetypes.guess_type(path.name)[0]
            asset = Asset(
                body=body,
                gzipped=gzipped,
                digest=hashlib.sha256(body).hexdigest()[:12],
                media_type=media_type or "application/octet-stream",
                stamp=stamp,
                path=path,
            )
            self._assets[name] = asset
            self._checked[name] = checked
        return asset

    def url(self, name: str) -> str:
        """The versioned URL of a static file, for pages: `/static/app.js?v=<hash>`."""
        asset = self.get(name)
        if asset is None:
            raise LookupError(f"no static file {name!r}")  # a typo in a template: fail loudly
        return f"{PREFIX}{name}?v={asset.digest}"

    def build(self, names: tuple[str, ...]) -> str:
        """One hash over several files (the service worker's shell): changes with any."""
        digests = []
        for name in names:
            asset = self.get(name)
            digests.append(asset.digest if asset else "-")
        return hashlib.sha256(" ".join(digests).encode()).hexdigest()[:12]

    def response(self, name: str, headers: Headers, query: str) -> Response:
        """The answer for GET `/static/<name>?<query>` with the request's `headers`."""
        asset = self.get(name)
        if asset is None:
            raise HTTPException(status_code=404)  # the app's own "not found" page
        versioned = parse_qs(query).get("v") == [asset.digest]
        use_gzip = asset.gzipped is not None and _accepts_gzip(headers.get("accept-encoding", ""))
        etag = f'"{asset.digest}-gz"' if use_gzip else f'"{asset.digest}"'
        out = {
            "Cache-Control": VERSIONED_CACHE if versioned else UNVERSIONED_CACHE,
            "ETag": etag,
        }
        if asset.gzipped is not None:
            # Caches must keep the two forms apart.
            out["Vary"] = "Accept-Encoding"
        if use_gzip:
            out["Content-Encoding"] = "gzip"
        if etag in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=out)
        body = asset.gzipped if use_gzip and asset.gzipped is not None else asset.body
        return Response(body, headers=out, media_type=asset.media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        name = os.path.normpath(path.lstrip("/")).replace(os.sep, "/")
        query = scope.get("query_string", b"").decode("latin-1")
        response = self.response(name, Headers(scope=scope), query)
        if scope["method"] == "HEAD":
            length = response.headers.get("content-length")
            response.body = b""
            if length is not None:
                response.headers["content-length"] = length
        await response(scope, receive, send)


assets = StaticAssets()
_templates = StaticAssets(STATIC.parent / "templates")
# What the service worker stores at its install (static/sw.js SHELL_FILES, with the offline
# page's templates): the worker is registered as /sw.js?v=<hash of these>, so a deploy that
# changes any of them installs the worker again, which stores them afresh.
SHELL_FILES = (
    "app.css",
    "app.js",
    "pwa.js",
    "queue.js",
    "sw.js",
    "vendor/htmx-2.0.11.min.js",
    "vendor/qrcode-generator-2.0.4.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
)
SHELL_TEMPLATES = ("base.html", "pwa/offline.html", "pwa/_queue.html")


def sw_build() -> str:
    """The version the service worker is registered under (see SHELL_FILES)."""
    return assets.build(SHELL_FILES) + _templates.build(SHELL_TEMPLATES)[:4]
