"""Web Push alerts against a local push service that checks the VAPID JWT and takes the
aes128gcm body, which each test decrypts with the device's own private key; the
notification's Accept and Claim; devices turned on and removed, per role."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core import mail
from django.test import Client
from django.utils import timezone

from integrations.alerts.models import AgentAlert, PushSubscription, SendingFault
from integrations.alerts.push import subscription_save, vapid_keys
from leads.models import Agent, Lead, RoutingRule
from leads.services import leads_escalate

from .push_server import PushState, push_server
from .test_alerts import capture

pytestmark = pytest.mark.django_db


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Device:
    """A browser's side of a subscription: its key pair and auth secret."""

    name: str
    key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls, name: str) -> Device:
        return cls(name, ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    def subscription(self, origin: str) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{origin}/push/{self.name}",
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }

    def subscribe(self, agent: Agent, service: PushState) -> PushSubscription:
        info = self.subscription(service.origin)
        return subscription_save(
            agent=agent, endpoint=info["endpoint"], device=f"Phone {self.name}", **info["keys"]
        )

    def read(self, service: PushState) -> list[dict[str, Any]]:
        """Every push this device got, decrypted with its private key."""
        return [
            json.loads(
                http_ece.decrypt(
                    p.body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
                )
            )
            for p in service.to(self.name)
        ]


@pytest.fixture
def service(settings) -> Any:
    public, private = vapid_keys()
    settings.WEBPUSH_VAPID_PUBLIC_KEY = public
    settings.WEBPUSH_VAPID_PRIVATE_KEY = private
    settings.WEBPUSH_CONTACT = "mailto:ops@sunrise.example"
    settings.WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    with push_server() as state:
        state.vapid_public_key = public
        yield state


def act(token: str, do: str) -> Any:
    """What the service worker posts: no session, no CSRF cookie, the token alone."""
    return Client(enforce_csrf_checks=True).post("/push/act/", {"token": token, "do": do})


# --- Sending ---------------------------------------------------------------------------------


def test_a_new_lead_is_pushed_to_every_device_of_its_agent_signed_and_encrypted(
    solo, alice, service, run_queue
):
    phone, laptop = Device.new("phone"), Device.new("laptop")
    phone.subscribe(alice, service)
    laptop.subscribe(alice, service)
    lead = capture()
    run_queue()

    assert service.refused == []
    for device in (phone, laptop):
        [push] = service.to(device.name)
        assert push.claims["sub"] == "mailto:ops@sunrise.example"
        assert push.headers["Urgency"] == "high"
        assert int(push.headers["TTL"]) > 0
        assert b"Jane" not in push.body  # encrypted
        [said] = device.read(service)
        assert said["title"] == "New lead from Web form: Jane Doe"
        assert "Is it still available?" in said["body"]
        assert said["url"] == f"/leads/{lead.pk}/"
        assert said["actions"] == [{"action": "accept", "title": "Accept"}]
        assert said["act"] == "/push/act/"
    alert = AgentAlert.objects.get(channel="push")
    assert (alert.status, alert.to, alert.kind) == ("sent", "2 devices", "assigned")
    assert alert.provider_id.startswith(service.origin + "/message/")
    assert AgentAlert.objects.filter(channel="email").exists()  # push is one channel more
    assert PushSubscription.objects.filter(last_sent_at__isnull=False).count() == 2


def test_accept_in_the_notification_accepts_the_lead_once(solo, alice, service, run_queue):
    phone = Device.new("phone")
    phone.subscribe(alice, service)
    lead = capture()
    run_queue()
    [said] = phone.read(service)

    answer = act(said["token"], "accept")
    assert answer.status_code == 200
    assert answer.json()["title"] == "Accepted"
    lead.refresh_from_db()
    assert lead.accepted_at is not None
    again = act(said["token"], "accept")
    assert again.status_code == 400
    assert again.json()["body"] == "This button was used already."
    assert act(said["token"][:-2] + "xx", "accept").status_code == 400  # altered


def test_an_offer_goes_to_every_device_of_every_agent_and_the_first_claim_wins(
    beach, alice, bob, service, run_queue
):
    RoutingRule.objects.filter(territory=beach).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    devices = {"alice-phone": alice, "alice-tablet": alice, "bob-phone": bob}
    made = {name: Device.new(name) for name in devices}
    for name, device in made.items():
        device.subscribe(devices[name], service)
    lead = capture("33139")
    assert lead.assigned_agent is None
    run_queue()

    tokens = {}
    for name, device in made.items():
        [said] = device.read(service)
        assert said["title"].startswith("Lead up for grabs from Web form")
        assert said["actions"] == [{"action": "claim", "title": "Claim"}]
        tokens[name] = said["token"]
    won = act(tokens["bob-phone"], "claim")
    assert won.status_code == 200
    assert won.json()["title"] == "It's yours"
    late = act(tokens["alice-tablet"], "claim")
    assert late.status_code == 409
    assert late.json()["body"] == "Bob already has this lead."
    lead.refresh_from_db()
    assert lead.assigned_agent == bob


def test_a_device_its_push_service_no_longer_knows_is_removed(solo, alice, service, run_queue):
    gone, lost, kept = Device.new("gone"), Device.new("lost"), Device.new("kept")
    for device in (gone, lost, kept):
        device.subscribe(alice, service)
    service.answer.update({"gone": 410, "lost": 404})
    capture()
    run_queue()
    assert set(PushSubscription.objects.values_list("device", flat=True)) == {"Phone kept"}
    assert AgentAlert.objects.get(channel="push").status == "sent"
    assert len(kept.read(service)) == 1


def test_when_every_device_is_gone_the_alert_fails_and_email_still_reaches_the_agent(
    solo, alice, service, run_queue
):
    only = Device.new("only")
    only.subscribe(alice, service)
    service.answer["only"] = 410
    capture()
    run_queue()
    alert = AgentAlert.objects.get(channel="push")
    assert (alert.status, alert.error_code) == ("failed", "gone")
    assert not PushSubscription.objects.exists()
    assert AgentAlert.objects.get(channel="email").status == "sent"
    assert len(mail.outbox) == 1


def test_a_push_service_in_trouble_is_tried_again(solo, alice, service, run_queue):
    Device.new("busy").subscribe(alice, service)
    service.answer["busy"] = 503
    capture()
    run_queue()
    alert = AgentAlert.objects.get(channel="push")
    assert (alert.status, alert.error_code, alert.attempts) == ("queued", "retry", 1)
    assert alert.next_attempt_at is not None
    assert PushSubscription.objects.count() == 1


def test_a_refused_vapid_key_is_our_configuration_and_tells_operations(
    solo, alice, service, run_queue, settings
):
    settings.ADMINS = [("Ops", "ops@sunrise.example")]
    Device.new("phone").subscribe(alice, service)
    service.answer["phone"] = 403
    capture()
    run_queue()
    alert = AgentAlert.objects.get(channel="push")
    assert (alert.status, alert.error_code) == ("failed", "vapid")
    assert any("Push sending is failing" in m.subject for m in mail.outbox)
    assert SendingFault.objects.filter(channel="push", code="vapid").exists()
    assert PushSubscription.objects.count() == 1  # the device is fine; our key is not


def test_a_manager_hears_of_an_escalation_with_no_button_to_press(
    solo, alice, mona, service, run_queue
):
    device = Device.new("mona")
    device.subscribe(mona, service)
    lead = capture()
    run_queue()
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=timezone.now())
    assert leads_escalate() == 1
    run_queue()
    [said] = device.read(service)
    assert said["kind"] == "escalated"
    assert said["title"].startswith("Lead not accepted in time")
    assert said["actions"] == []
    assert "token" not in said


def test_without_vapid_keys_there_is_no_push_channel(solo, alice, settings, run_queue):
    settings.WEBPUSH_VAPID_PUBLIC_KEY = settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    PushSubscription.objects.create(
        agent=alice, endpoint="https://fcm.googleapis.com/fcm/send/x", p256dh="k", auth="a"
    )
    capture()
    run_queue()
    assert not AgentAlert.objects.filter(channel="push").exists()


# --- Devices: turned on and removed, per role ------------------------------------------------


def subscribe_as(client: Client, device: Device, service: PushState) -> Any:
    return client.post(
        "/push/devices/", json.dumps(device.subscription(service.origin)),
        content_type="application/json", HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    )  # fmt: skip


@pytest.mark.parametrize("persona", ["alice", "mona"])
def test_an_agent_turns_notifications_on_for_a_device_and_removes_it(
    request, client, service, persona
):
    agent = request.getfixturevalue(persona)
    client.force_login(agent.user)
    response = subscribe_as(client, Device.new("phone"), service)
    assert response.status_code == 201
    device = PushSubscription.objects.get(agent=agent)
    assert device.device == "Chrome on Android"
    page = client.get("/settings/").content.decode()
    assert "Chrome on Android, on since" in page
    assert f'data-key="{service.vapid_public_key}"' in page
    removed = client.post(f"/push/devices/{device.pk}/remove/")
    assert removed.status_code == 302
    assert not PushSubscription.objects.exists()


def test_a_device_turned_on_by_another_agent_is_theirs_now(client, alice, bob, service):
    phone = Device.new("shared")
    client.force_login(alice.user)
    subscribe_as(client, phone, service)
    client.force_login(bob.user)
    assert subscribe_as(client, phone, service).status_code == 201
    assert PushSubscription.objects.get().agent == bob


def test_nobody_removes_anothers_device(client, alice, bob, service):
    theirs = Device.new("bobs").subscribe(bob, service)
    client.force_login(alice.user)
    assert client.post(f"/push/devices/{theirs.pk}/remove/").status_code == 404
    assert PushSubscription.objects.filter(pk=theirs.pk).exists()


def test_turning_on_needs_a_signed_in_agent_and_the_pages_csrf_token(alice, service):
    anonymous = Client(enforce_csrf_checks=True)
    assert subscribe_as(anonymous, Device.new("x"), service).status_code in (403,)
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(alice.user)
    assert subscribe_as(forged, Device.new("x"), service).status_code == 403  # no CSRF token
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "https://attacker.example/push/1"}, "endpoint"),
        ({"endpoint": "http://10.0.0.5/push/1"}, "endpoint"),
        ({"keys": {"p256dh": "bm90IGEga2V5", "auth": "c2VjcmV0c2VjcmV0MTIzNA"}}, "keys"),
        ({"keys": {"p256dh": "x"}}, "PushSubscription"),
    ],
)
def test_a_subscription_that_is_not_a_push_services_is_a_clear_400(
    client, alice, service, change, field
):
    client.force_login(alice.user)
    body = {**Device.new("x").subscription(service.origin), **change}
    response = client.post("/push/devices/", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert not PushSubscription.objects.exists()


def test_a_removed_or_inactive_agents_token_does_nothing(solo, alice, service, run_queue):
    phone = Device.new("phone")
    phone.subscribe(alice, service)
    lead = capture()
    run_queue()
    [said] = phone.read(service)
    Agent.objects.filter(pk=alice.pk).update(is_active=False)
    assert act(said["token"], "accept").status_code == 403
    lead.refresh_from_db()
    assert lead.accepted_at is None


# --- The installable app ---------------------------------------------------------------------


def test_the_service_worker_is_served_from_the_root_for_the_whole_app(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "notificationclick" in response.content.decode()
    assert "Content-Security-Policy" in response


def test_the_manifest_makes_the_app_installable(client):
    from django.contrib.staticfiles import finders

    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    body = manifest.json()
    assert (body["display"], body["start_url"], body["scope"]) == ("standalone", "/", "/")
    sizes = {icon["sizes"] for icon in body["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in body["icons"]:
        path = icon["src"].removeprefix("/static/")
        found = finders.find(path)
        assert found, icon["src"]
        with open(found, "rb") as image:
            head = image.read(24)
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(head[16:20], "big")
        assert f"{width}x{width}" == icon["sizes"]


def test_the_vapid_command_prints_a_pair_the_browser_and_pywebpush_take(capsys):
    from django.core.management import call_command
    from py_vapid import Vapid02

    call_command("webpush_keys")
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    public = base64.urlsafe_b64decode(lines["WEBPUSH_VAPID_PUBLIC_KEY"] + "==")
    assert len(public) == 65  # an uncompressed P-256 point
    assert public[0] == 4
    vapid = Vapid02.from_string(lines["WEBPUSH_VAPID_PRIVATE_KEY"])
    point = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert point == public


def test_without_vapid_keys_the_settings_page_says_push_is_off(client, alice, settings):
    settings.WEBPUSH_VAPID_PUBLIC_KEY = settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    client.force_login(alice.user)
    page = client.get("/settings/").content.decode()
    assert "Push notifications are off on this server" in page
    assert "data-push" not in page
    assert client.post("/push/devices/", "{}", content_type="application/json").status_code == 409
