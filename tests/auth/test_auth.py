from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, World, api_token, csrf_from, login
from webapp.auth import service as auth_service
from webapp.clock import FixedClock


def test_sign_in_sets_a_host_cookie_and_lands_on_the_role_home(
    client: TestClient, world: World
) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "inspector1", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/visits"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-session=")
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie


def test_wrong_password_is_one_generic_refusal(client: TestClient, world: World) -> None:
    page = client.get("/login")
    for username in ("inspector1", "nobody"):
        response = client.post(
            "/login",
            data={"username": username, "password": "wrong", "csrf_token": csrf_from(page.text)},
        )
        assert response.status_code == 401
        assert "Wrong user name or password" in response.text or "用户名或密码错误" in response.text


def test_sign_in_without_csrf_token_is_refused(client: TestClient, world: World) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "inspector1", "password": PASSWORD})
    assert response.status_code == 403


def test_cross_site_post_is_refused_even_with_a_token(client: TestClient, world: World) -> None:
    token = login(client, "inspector1")
    response = client.post(
        "/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert client.get("/visits", follow_redirects=False).status_code != 303


def test_logout_ends_the_session_for_a_copied_cookie(client: TestClient, world: World) -> None:
    token = login(client, "inspector1")
    stolen = dict(client.cookies)
    client.post("/logout", data={"csrf_token": token})
    client.cookies.clear()
    client.cookies.update(stolen)
    response = client.get("/visits", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_disabling_an_account_ends_its_sessions(
    client: TestClient, world: World, db: Session, clock: FixedClock
) -> None:
    headers = api_token(client, "inspector1")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    auth_service.set_user_active(
        db, actor=world.admin, user_id=world.inspector1.id, active=False, now=clock.now()
    )
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


def test_idle_session_expires(client: TestClient, world: World, clock: FixedClock) -> None:
    login(client, "inspector1")
    clock.advance(hours=3)
    assert client.get("/visits", follow_redirects=False).status_code == 303


def test_login_next_only_goes_to_this_site(client: TestClient, world: World) -> None:
    page = client.get("/login?next=//evil.example/x")
    response = client.post(
        "/login",
        data={
            "username": "manager1",
            "password": PASSWORD,
            "next": "//evil.example/x",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/enterprise"
