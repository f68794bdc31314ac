"""Submit the demo form of a running ``make run`` and wait for the lead, assigned by ZIP.

Run by .ci/smoke_run.sh with the clone's own Python, from the clone's folder, so it reads
the same settings and database as the server it talks to. Exits non-zero, saying why, when
any step of a newcomer's first minute fails: the form page, its ``_ts`` token, the JSON
reply, the worker turning the event into a lead, or the routing by ZIP.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ZIP_CODE = "33139"
TOKEN_PATTERN = re.compile(r'name="_ts"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="_ts"')


class SmokeFailure(Exception):
    """A step of the smoke run went wrong; the message says which and what was seen."""


def http(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """Return the status and body text of one request, whatever the status."""
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")


def form_token(form_url: str) -> str:
    status, page = http(form_url)
    if status != 200:
        raise SmokeFailure(f"GET {form_url} answered {status}:\n{page[:2000]}")
    match = TOKEN_PATTERN.search(page)
    if match is None:
        raise SmokeFailure(f"GET {form_url} has no _ts field in its page:\n{page[:2000]}")
    return match.group(1) or match.group(2)


def submit(form_url: str, token: str, submission_id: str) -> str:
    """POST one JSON submission as the hosted page's own script would; return the event id."""
    parts = urlsplit(form_url)
    body = {
        "_ts": token,
        "submission_id": submission_id,
        "first_name": "Casey",
        "last_name": "Newcomer",
        "email": f"casey.{submission_id}@example.com",
        "phone": "(305) 555-0199",
        "message": "Is the two-bedroom on Collins Avenue still available?",
        "lead_type": "buyer",
        "zip_code": ZIP_CODE,
        "consent": True,
        "page_url": form_url,
    }
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Origin": f"{parts.scheme}://{parts.netloc}",
    }
    status, text = http(form_url, data=json.dumps(body).encode(), headers=headers)
    if status != 201:
        raise SmokeFailure(f"POST {form_url} answered {status}, not 201:\n{text[:2000]}")
    reply = json.loads(text)
    if not reply.get("id"):
        raise SmokeFailure(f"POST {form_url} answered 201 without an id: {text}")
    return str(reply["id"])


def wait_for_lead(form_key: str, submission_id: str, event_id: str, timeout: float) -> str:
    """Poll the database until the worker made the lead and routing assigned it by ZIP."""
    from integrations.intake.models import InboundEvent
    from leads.models import Lead, Territory

    deadline = time.monotonic() + timeout
    lead = None
    while time.monotonic() < deadline:
        lead = (
            Lead.objects.select_related("assigned_agent")
            .filter(source="webform", external_id=f"{form_key}:{submission_id}")
            .first()
        )
        if lead is not None and lead.assigned_agent is not None:
            break
        time.sleep(0.25)
    event = InboundEvent.objects.filter(public_id=event_id).first()
    seen = f"event: {event.status if event else 'missing'} {event.error if event else ''}"
    if lead is None:
        raise SmokeFailure(f"No lead after {timeout:.0f} s; {seen}. Is the worker running?")
    if lead.assigned_agent is None:
        raise SmokeFailure(f"Lead {lead.public_id} is not assigned after {timeout:.0f} s; {seen}")
    territories = [t for t in Territory.objects.filter(team=lead.team) if ZIP_CODE in t.zip_codes]
    if not territories:
        raise SmokeFailure(f"The demo has no territory covering ZIP {ZIP_CODE}.")
    territory = territories[0]
    if not territory.agents.filter(pk=lead.assigned_agent.pk).exists():
        raise SmokeFailure(
            f"Lead {lead.public_id} went to {lead.assigned_agent}, who is not in "
            f"{territory.name}, the territory of ZIP {ZIP_CODE}."
        )
    if event is None or event.status != InboundEvent.Status.PROCESSED or event.lead_id != lead.pk:
        raise SmokeFailure(f"Lead {lead.public_id} exists but its {seen}")
    return f"lead {lead.public_id} assigned to {lead.assigned_agent} ({territory.name})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("form_url", help="the demo form URL that make run printed")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for it")
    args = parser.parse_args()

    sys.path.insert(0, str(Path.cwd()))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django
    from django.conf import settings

    django.setup()
    form_key = urlsplit(args.form_url).path.rstrip("/").rsplit("/", 1)[-1]
    submission_id = f"ci-smoke-{uuid.uuid4().hex}"
    try:
        shown = time.monotonic()
        token = form_token(args.form_url)
        # A person takes a few seconds to fill the form in; sooner is refused as a bot.
        time.sleep(max(0.0, settings.WEBFORM_MIN_FILL_SECONDS + 0.5 - (time.monotonic() - shown)))
        posted = time.monotonic()
        event_id = submit(args.form_url, token, submission_id)
        outcome = wait_for_lead(form_key, submission_id, event_id, args.timeout)
    except SmokeFailure as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"smoke: {outcome}, {time.monotonic() - posted:.1f} s after the POST")
    return 0


if __name__ == "__main__":
    sys.exit(main())
