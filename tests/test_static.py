"""Static files: compressed, versioned by content, cached a year under a versioned URL."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.factories import World, login
from webapp.static_files import STATIC, VERSIONED_CACHE, StaticAssets, assets


def _raw(client: TestClient, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """The answer's bytes as sent (httpx would decompress them)."""
    with client.stream("GET", url, headers=headers) as response:
        return response.status_code, dict(response.headers), b"".join(response.iter_raw())


def test_a_script_is_sent_gzipped_to_a_browser_that_accepts_it(client: TestClient) -> None:
    source = (STATIC / "queue.js").read_bytes()
    status, headers, raw = _raw(client, "/static/queue.js", **{"Accept-Encoding": "br, gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert headers["content-type"].startswith("text/javascript")
    assert gzip.decompress(raw) == source
    assert len(raw) < len(source) / 2
    assert int(headers["content-length"]) == len(raw)


def test_a_browser_that_does_not_accept_gzip_gets_the_plain_file(client: TestClient) -> None:
    source = (STATIC / "app.css").read_bytes()
    for accept in ("identity", "gzip;q=0", "br", "gzip;q=x", "*;q=0"):
        status, headers, raw = _raw(client, "/static/app.css", **{"Accept-Encoding": accept})
        assert status == 200
        assert "content-encoding" not in headers
        assert headers["vary"] == "Accept-Encoding"  # a cache must not serve it to gzip ones
        assert raw == source


def test_an_image_is_not_compressed_again(client: TestClient) -> None:
    status, headers, raw = _raw(client, "/static/icons/icon-192.png", **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert "content-encoding" not in headers
    assert raw == (STATIC / "icons" / "icon-192.png").read_bytes()
    assert headers["content-type"] == "image/png"


def test_a_versioned_url_is_cached_a_year_an_unversioned_one_briefly(
    client: TestClient,
) -> None:
    url = assets.url("app.js")
    assert re.fullmatch(r"/static/app\.js\?v=[0-9a-f]{12}", url)
    versioned = client.get(url)
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == VERSIONED_CACHE
    assert versioned.content == (STATIC / "app.js").read_bytes()
    plain = client.get("/static/app.js")
    assert plain.headers["cache-control"] == "public, max-age=3600"
    # A version that is not this file's (a page from before a deploy): not kept a year.
    stale = client.get("/static/app.js?v=000000000000")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "public, max-age=3600"


def test_a_repeated_request_is_answered_not_modified(client: TestClient) -> None:
    first = client.get("/static/app.js")
    again = client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/static/app.js", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200


def test_no_file_outside_the_directory_and_no_missing_file(client: TestClient) -> None:
    assert client.get("/static/nothing.js").status_code == 404
    assert client.get("/static/..%2Fpyproject.toml").status_code == 404
    assert client.get("/static/vendor").status_code == 404
    assert client.post("/static/app.js").status_code == 405
    head = client.head("/static/app.js", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len((STATIC / "app.js").read_bytes())


def test_a_changed_file_gets_a_new_url(tmp_path: Path) -> None:
    target = tmp_path / "app.js"
    target.write_text("var a = 1;\n")
    files = StaticAssets(tmp_path)
    first = files.url("app.js")
    assert files.url("app.js") == first
    target.write_text("var a = 2; // a deploy\n")
    os.utime(target, ns=(1, 2_000_000_000))  # even within the same clock tick
    files._checked.clear()  # no need to wait for the once-a-second look
    second = files.url("app.js")
    assert second != first
    assert files.get("app.js") is not None
    with pytest.raises(LookupError):
        files.url("missing.js")


def test_the_service_worker_version_changes_with_any_file_it_stores(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("a {}\n")
    (tmp_path / "app.js").write_text("var a;\n")
    files = StaticAssets(tmp_path)
    names = ("app.css", "app.js")
    first = files.build(names)
    assert files.build(names) == first
    (tmp_path / "app.css").write_text("a { color: red }\n")
    files._checked.clear()  # no need to wait for the once-a-second look
    assert files.build(names) != first


def test_pages_name_every_static_file_by_its_versioned_url(
    client: TestClient, world: World
) -> None:
    login(client, "inspector1")
    html = client.get("/visits").text
    refs = re.findall(r'(?:src|href)="(/static/[^"]*)"', html)
    assert len(refs) >= 5
    for ref in refs:
        name = ref.removeprefix("/static/").split("?")[0]
        assert ref == assets.url(name)
        assert client.get(ref).headers["cache-control"] == VERSIONED_CACHE
    # The worker is registered under a version of what it stores.
    assert re.search(r'data-sw="/sw.js\?v=[0-9a-f]{16}"', html)


def test_the_queue_script_is_left_off_the_sign_in_page_only(
    client: TestClient, world: World
) -> None:
    assert "/static/queue.js" not in client.get("/login").text
    assert "/static/queue.js" in client.get("/offline").text
    login(client, "manager1")
    # Signed in (any role): it records who is signed in, for the stored offline page.
    assert "/static/queue.js" in client.get("/enterprise").text
