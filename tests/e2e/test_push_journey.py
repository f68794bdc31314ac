"""Issue 16's whole journey, on a phone, in a real browser: an agent turns notifications on,
a person sends the demo form, the push arrives and is accepted from the notification, the
person's whole history is on one page, a call is logged as talked, a follow-up is set for
tomorrow 10:00, and the next morning Today lists it. Today, left open, takes the new lead
in and lets it go once accepted, without a reload; the lead page's own poll, answered just
after the follow-up was set, does not wipe "Follow-up set". axe-core on every page.

What is real and what stands in, and why:

- **The subscription.** Headless Chromium refuses ``pushManager.subscribe`` ("Registration
  failed - permission denied": its push messaging needs Google's service, unreachable
  here). A stand-in for that one browser call, put in the page before its scripts, answers
  with a subscription whose endpoint is the tests' local push service and whose keys are the
  test's device's; it also records the ``applicationServerKey`` the page asked with. The
  settings page's own button, permission prompt (granted in the context), CSRF token and
  ``POST /push/devices/`` do the rest, so the device is registered through the app's own
  endpoint.
- **The push.** The worker sends it to the local push service
  (``tests/integrations/alerts/push_server.py``), which checks the VAPID JWT against our
  public key and takes the ``aes128gcm`` body; the test decrypts it with the device's
  private key, as the browser would, and hands the plaintext to the real service worker in
  Chromium through the DevTools protocol (``ServiceWorker.deliverPushMessage``, with the
  registration id from ``ServiceWorker.workerRegistrationUpdated``): ``/sw.js``'s own push
  handler shows the notification, read back with ``registration.getNotifications()``.
- **The tap on Accept.** Chromium's DevTools protocol can deliver a push but cannot click a
  notification, and Playwright has no notification clicks either. So the test dispatches a
  ``notificationclick`` ``NotificationEvent`` inside the real service worker (Playwright's
  service worker ``evaluate``), carrying the real notification from ``getNotifications()``
  and the button's action, ``accept``: ``/sw.js``'s own handler runs as on a tap, posting the
  notification's token with no cookies and showing the answer. A script-made event may not
  extend its own life (``waitUntil`` is for the browser's events only), so the test keeps
  the promise the handler hands to ``waitUntil`` and awaits it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time

import http_ece
import pytest
from django.core.management import call_command

from integrations.alerts.models import AgentAlert, PushSubscription
from integrations.alerts.push import vapid_keys
from integrations.alerts.push_views import STOPPED
from leads.followups import agent_zone
from leads.models import Agent, Lead, Task
from tests.e2e.test_agent_app import PASSWORD, sign_in
from tests.integrations.alerts.push_server import push_server
from tests.integrations.alerts.test_push import Device

# The browser's push service, for the one call headless Chromium refuses (see above).
# The key the page asked with is kept in the tab's storage: the page reloads once it is on.
SUBSCRIBE_STAND_IN = """(subscription) => {
  PushManager.prototype.subscribe = function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    sessionStorage.setItem("push-key-asked-with", btoa(String.fromCharCode(...key)));
    return Promise.resolve({ toJSON: () => subscription, endpoint: subscription.endpoint });
  };
}"""

NOTIFICATIONS = """() => navigator.serviceWorker.ready
  .then((registration) => registration.getNotifications())
  .then((shown) => shown.map((n) => ({
    title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => [a.action, a.title]),
    requireInteraction: n.requireInteraction, url: (n.data || {}).url || ""
  })))"""

# A tap on the notification's button, inside the service worker (see above).
TAP = """async ([tag, action]) => {
  const [notification] = await self.registration.getNotifications({ tag });
  const event = new NotificationEvent("notificationclick", { notification, action });
  const kept = [];
  event.waitUntil = (promise) => kept.push(promise);
  self.dispatchEvent(event);
  await Promise.all(kept);
  return kept.length;
}"""


def shown(page, count: int, timeout: float = 10.0) -> list[dict]:
    """The notifications the service worker shows, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        notes = page.evaluate(NOTIFICATIONS)
        if len(notes) >= count or time.monotonic() > deadline:
            return notes
        page.wait_for_timeout(100)


def section(page, title_id: str) -> str:
    return page.locator(f"section:has(#{title_id})").inner_text()


@pytest.mark.django_db(transaction=True)
def test_a_push_accepted_from_the_notification_a_call_and_tomorrows_follow_up_in_today(
    live_server, browser, run_queue, settings, axe, clock
):
    public, private = vapid_keys()
    settings.WEBPUSH_VAPID_PUBLIC_KEY, settings.WEBPUSH_VAPID_PRIVATE_KEY = public, private
    settings.WEBPUSH_CONTACT = "mailto:ops@sunrise.example"
    settings.WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.LIVE_POLL_SECONDS = 1
    settings.WEBFORM_MIN_FILL_SECONDS = 1.0
    call_command("demo", stdout=io.StringIO())
    alex = Agent.objects.get(user__username="alex")
    base = live_server.url

    with push_server() as service:
        service.vapid_public_key = public
        device = Device.new("alex-phone")
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        context.grant_permissions(["notifications"], origin=base)
        context.add_init_script(
            f"({SUBSCRIBE_STAND_IN})({json.dumps(device.subscription(service.origin))})"
        )
        phone = context.new_page()
        devtools = context.new_cdp_session(phone)
        registrations: dict[str, str] = {}

        def registered(event: dict) -> None:
            for found in event["registrations"]:
                if not found["isDeleted"]:
                    registrations[found["scopeURL"]] = found["registrationId"]

        devtools.on("ServiceWorker.workerRegistrationUpdated", registered)
        devtools.send("ServiceWorker.enable")

        # Notifications on, from the settings page, for this phone.
        sign_in(phone, base, "alex")
        phone.goto(f"{base}/settings/")
        phone.get_by_role("button", name="Turn on notifications on this device").click()
        phone.wait_for_selector("#push-devices li")  # the page reloads with the device listed
        [subscription] = PushSubscription.objects.all()
        assert subscription.agent == alex
        assert subscription.endpoint == f"{service.origin}/push/alex-phone"
        asked = phone.evaluate("sessionStorage.getItem('push-key-asked-with')")
        assert asked.replace("+", "-").replace("/", "_").rstrip("=") == public  # our VAPID key
        axe(phone)

        # Today, open on the phone, while a person sends the demo form from their own.
        phone.get_by_role("link", name="Today", exact=True).click()
        phone.wait_for_selector("#today[data-live]")
        phone.evaluate("window.stillThisPage = true")
        visitor = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        form = visitor.new_page()
        form.goto(f"{base}/forms/sunrise-demo/")
        form.fill("#id_first_name", "Jordan")
        form.fill("#id_last_name", "Avery")
        form.fill("#id_email", "jordan@example.com")
        form.fill("#id_phone", "(305) 555-0147")
        form.fill("#id_zip_code", "33139")
        form.fill("#id_message", "Can we see the condo on Saturday?")
        form.check("#id_consent")
        time.sleep(1.1)  # a person takes longer than the form's minimum fill time
        form.click("button[type=submit]")
        form.wait_for_selector("text=Thank you!")
        visitor.close()
        assert run_queue() >= 2  # the event parsed and routed, the alerts sent
        lead = Lead.objects.get()
        assert lead.assigned_agent == alex

        row = phone.locator(f"#today #row-{lead.pk}")
        row.wait_for(timeout=10_000)  # Today took it in by itself
        assert "Jordan Avery" in section(phone, "waiting-title")
        assert phone.evaluate("window.stillThisPage") is True

        # The push: signed with our key, encrypted for this phone, shown by the service worker.
        assert service.refused == []
        [push] = service.to("alex-phone")
        assert push.claims["aud"] == service.origin
        assert b"Jordan" not in push.body
        plaintext = http_ece.decrypt(
            push.body, private_key=device.key, auth_secret=device.auth, version="aes128gcm"
        ).decode()
        assert phone.evaluate(NOTIFICATIONS) == []
        devtools.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": base, "registrationId": registrations[f"{base}/"], "data": plaintext},
        )
        [note] = shown(phone, 1)
        assert note["title"] == "New lead from Web form: Jordan Avery"
        assert "Can we see the condo on Saturday?" in note["body"]
        assert note["actions"] == [["accept", "Accept"]]
        assert note["requireInteraction"] is True  # it stays until the agent acts
        assert note["url"] == f"/leads/{lead.pk}/"
        alert = AgentAlert.objects.get(channel="push")
        assert (alert.status, alert.to) == ("sent", "1 device")

        # Accept, from the notification: the service worker's own handler, no session.
        [worker] = [w for w in context.service_workers if w.url == f"{base}/sw.js"]
        assert worker.evaluate(TAP, [note["tag"], "accept"]) == 1
        lead.refresh_from_db()
        assert lead.status == Lead.Status.ACCEPTED
        assert lead.accepted_at is not None
        [answer] = shown(phone, 1)
        assert (answer["title"], answer["body"]) == ("Accepted", STOPPED)
        assert answer["tag"] == note["tag"]  # in place of the push it answers
        row.wait_for(state="detached", timeout=10_000)  # no longer waiting, and Today knows
        assert phone.evaluate("window.stillThisPage") is True
        axe(phone)

        # Tapping the answer opens the lead; its whole history is one tap further.
        phone.goto(f"{base}{answer['url']}")
        phone.get_by_role("link", name="Their whole history").click()
        phone.wait_for_selector("#history-title")
        assert "Can we see the condo on Saturday?" in phone.inner_text(".inquiry-list")
        history = phone.inner_text(".timeline")
        for said in (
            "Lead received via webform",
            "Assigned to Alex Carter",
            "Push alert to Alex Carter: Sent",
            "Accepted by Alex Carter",
        ):
            assert said in history, said
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        axe(phone)

        # A call that reached them, and a follow-up for tomorrow at 10:00 in two taps.
        phone.go_back()
        phone.wait_for_selector("#log-call")
        phone.locator("#log-call").get_by_role("button", name="Talked").click()
        phone.wait_for_selector(".timeline >> text=Alex Carter called: talked")
        lead.refresh_from_db()
        assert lead.first_contact_at is not None
        # The page's own poll, sent before the tap and answered after it, leaves the word
        # "Follow-up set" in place: the tap's answer is the newer one.
        held: list = []
        lead_page = f"{base}/leads/{lead.pk}/"

        def hold_a_poll(route) -> None:
            if route.request.headers.get("x-leadline-live") and not held:
                held.append(route)
            else:
                route.continue_()

        phone.route(lead_page, hold_a_poll)
        while not held:
            phone.wait_for_timeout(100)
        phone.get_by_role("button", name="Tomorrow 10:00").click()
        phone.wait_for_selector("text=Follow-up set: call")
        with phone.expect_response(lambda r: r.request is held[0].request):
            held[0].continue_()
        phone.unroute(lead_page, hold_a_poll)
        phone.wait_for_timeout(300)  # past htmx's swap and settle
        assert "Follow-up set: call" in phone.inner_text("main")
        assert phone.locator("#follow-ups .task").count() == 1
        task = Task.objects.get(lead=lead)
        local = task.due_at.astimezone(agent_zone(alex))
        assert local.time() == dt.time(10, 0)
        axe(phone)
        phone.get_by_role("link", name="Their whole history").click()
        phone.wait_for_selector("#history-title")
        history = phone.inner_text(".timeline")
        assert "called: talked" in history
        assert "set a follow-up" in history

        # The next morning at 9:00, the agent's time: Today lists the call, due today.
        tomorrow_nine = dt.datetime.combine(local.date(), dt.time(9, 0), tzinfo=agent_zone(alex))
        clock(seconds=(tomorrow_nine - clock.real_now()).total_seconds())
        # A night later: whether the 12-hour session has run out by 9:00 depends on the hour
        # the test runs, so the phone's cookies go, and the agent signs in again either way.
        phone.context.clear_cookies()
        phone.goto(f"{base}/today/")
        phone.fill("#id_username", "alex")
        phone.fill("#id_password", PASSWORD)
        phone.click("button[type=submit]")
        phone.wait_for_selector("#today-title")
        assert "Call Jordan Avery" in section(phone, "today-title")
        assert phone.get_attribute(f"#task-{task.pk} a[href^='tel:']", "href") == (
            f"tel:{lead.contact.phone}"
        )
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        axe(phone)
        context.close()
