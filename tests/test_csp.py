"""The Content-Security-Policy of the agent app, the sign-in pages, the admin and the API docs;
the hosted web forms and the hooks keep policies of their own. (That no page breaks it is
checked in a real browser by every test in tests/e2e.)"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


@pytest.mark.parametrize("path", ["/", "/settings/", "/admin/", "/admin/leads/lead/"])
def test_the_app_and_the_admin_run_only_their_own_scripts_and_styles(client, alice, path):
    alice.user.is_staff = alice.user.is_superuser = True
    alice.user.save()
    client.force_login(alice.user)
    response = client.get(path)
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    assert policy["style-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["style-src-attr"] == [  # one style attribute, white-space:pre-wrap
        "'unsafe-hashes'",
        "'sha256-CSr5A7IS9dRw3Uo7TFEY+Os1KKjUjndCqZWzkW4uTaY='",
    ]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_the_sign_in_page_may_send_the_browser_on_to_google(client):
    policy = directives(client.get("/accounts/login/")["Content-Security-Policy"])
    assert policy["form-action"] == ["'self'", "https://accounts.google.com"]


def test_an_inline_script_runs_only_with_the_nonce_of_its_own_response(client):
    first, second = client.get("/api/docs/"), client.get("/api/docs/")
    nonces = []
    for response in (first, second):
        [nonce] = re.findall(
            r"'nonce-([^']+)'", directives(response["Content-Security-Policy"])["script-src"][1]
        )
        assert f'<script nonce="{nonce}">' in response.content.decode()
        assert f'<style nonce="{nonce}">' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_a_hosted_web_form_keeps_its_own_policy(client, web_form):
    response = client.get(f"/forms/{web_form.public_key}/")
    assert response["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://www.sunrise.example"
    )


def test_the_hooks_get_no_page_policy(client):
    response = client.post("/hooks/realtor/", "{}", content_type="application/json")
    assert "Content-Security-Policy" not in response
