"""The whole loop through HTTP, as the three users meet it: the inspector registers a visit,
fetches the pass, the QR image is decoded by an independent decoder, the enterprise's manager
scans, but the extra visit does not confirm before its approval; the supervisor approves at
the gate, the scan confirms, and the supervisor sees the extra visit flagged for going before
its approval."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.factories import World, api_token, csrf_from, login
from tests.qr import qr_codes
from webapp.clock import FixedClock


def _decode_both(png: bytes, tmp_path: Path) -> str:
    """Decode with zxing-cpp and with zbarimg; both must read the same text."""
    found = qr_codes(png)
    assert len(found) == 1
    path = tmp_path / "pass.png"
    path.write_bytes(png)
    zbar = subprocess.run(
        ["zbarimg", "--nodbus", "--quiet", "--raw", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert zbar == found[0].text
    return zbar


def test_register_show_scan_confirm_supervise(
    client: TestClient, world: World, clock: FixedClock, tmp_path: Path
) -> None:
    inspector = api_token(client, "inspector1")
    start = clock.now() + timedelta(hours=2)
    registered = client.post(
        "/api/v1/visits",
        headers={**inspector, "Idempotency-Key": "loop-1"},
        json={
            "enterprise_id": world.ent_a.id,
            "plan_entry_id": None,
            "extra_reason": "complaint",
            "extra_reason_text": "12345 hotline: solvent smell near the east gate",
            "co_inspector_ids": [world.bob.id],
            "item_ids": [world.items[0].id, world.items[1].id],
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=3)).isoformat(),
        },
    )
    assert registered.status_code == 201, registered.text
    visit_id = registered.json()["public_id"]

    # Two hours later the team is at the gate; the phone shows the current pass.
    clock.advance(hours=2, minutes=5)
    current = client.get(f"/api/v1/visits/{visit_id}/pass", headers=inspector).json()
    png = client.get(f"/api/v1/visits/{visit_id}/pass.png", headers=inspector)
    assert png.headers["content-type"] == "image/png"
    url = _decode_both(png.content, tmp_path)
    assert url == current["url"]
    assert url.startswith("https://testserver/scan?p=")

    # The manager's camera app opens the URL; signing in is a separate page.
    scan_path = url.removeprefix("https://testserver")
    anonymous = client.get(scan_path)
    assert anonymous.status_code == 200
    assert "Alice Li" in anonymous.text
    assert "/login?next=" in anonymous.text

    login(client, "manager1")
    page = client.get(scan_path)
    assert page.status_code == 200
    assert "Bob Wang" in page.text
    assert "approval_pending" in page.text  # an extra visit waits for its approval
    form_token = csrf_from(page.text)
    refused = client.post(
        "/scan",
        data={
            "pass": url,
            "csrf_token": form_token,
            "idempotency_key": "scan-loop-0",
            "device_time": clock.now().isoformat(),
        },
    )
    assert refused.status_code == 409, refused.text

    # The supervisor approves (late: the team is already at the gate); the scan confirms.
    client.cookies.clear()
    clock.advance(minutes=10)
    supervisor = api_token(client, "supervisor1")
    approved = client.post(
        f"/api/v1/visits/{visit_id}/decision",
        headers=supervisor,
        json={"decision": "approved", "note": "Approved by phone"},
    )
    assert approved.status_code == 200, approved.text
    clock.advance(minutes=3)
    login(client, "manager1")
    current = client.get(f"/api/v1/visits/{visit_id}/pass", headers=inspector).json()
    page = client.get(current["url"].removeprefix("https://testserver"))
    confirmed = client.post(
        "/scan",
        data={
            "pass": current["url"],
            "csrf_token": csrf_from(page.text),
            "idempotency_key": "scan-loop-1",
            "device_time": clock.now().isoformat(),
        },
    )
    assert confirmed.status_code == 200, confirmed.text

    # The supervisor sees the confirmation in the visit's history, the refused scan, and
    # the flag for an extra visit approved only once its team was at the gate.
    client.cookies.clear()
    flags = client.get("/api/v1/flags", headers=supervisor).json()
    kinds = {f["kind"] for f in flags["items"]}
    assert {"extra_unapproved", "refused_scan"} <= kinds
    login(client, "supervisor1")
    history = client.get(f"/supervision/visits/{visit_id}")
    assert history.status_code == 200
    assert "scan-loop-1" not in history.text  # keys and tokens are never shown
    visit = client.get(f"/api/v1/visits/{visit_id}", headers=supervisor).json()
    assert visit["status"] == "confirmed"
