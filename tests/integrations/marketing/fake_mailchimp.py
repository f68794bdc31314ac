"""A small Mailchimp Marketing API v3 on 127.0.0.1, for the tests and the benchmark.

It implements what Leadline uses, as Mailchimp documents it: members addressed by the MD5
of the lower-cased email (``PUT`` upsert honouring ``status_if_new`` and ``status``, ``GET``
one or a page with ``since_last_changed``, ``PATCH``), tags (``204``), merge fields (list,
create; unknown merge tags refused), batches (``POST /batches``, progress through
``GET /batches/{id}``, results as a .tar.gz of JSON arrays), HTTP Basic auth with the key,
and errors as ``application/problem+json``. Tests script failures (``fail_next``), mark
addresses as forgotten, and read every request it received.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import tarfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_MERGE_TAGS = ("FNAME", "LNAME", "ADDRESS", "PHONE")


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra

    def body(self) -> dict[str, Any]:
        return {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": str(uuid.uuid4()),
            **self.extra,
        }


@dataclass
class Batch:
    id: str
    operations: list[dict[str, Any]]
    status: str = "pending"
    finished: int = 0
    errored: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    submitted_at: str = field(default_factory=now_iso)
    completed_at: str = ""


class FakeMailchimp:
    """The server and its state. ``url`` is the API base (with ``/3.0``)."""

    def __init__(self, api_key: str = "test-key-us19", audience: str = "aud123") -> None:
        self.api_key = api_key
        self.audience = audience
        self.members: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, bool]] = {}
        self.merge_tags: list[str] = list(DEFAULT_MERGE_TAGS)
        self.forgotten: set[str] = set()
        self.batches: dict[str, Batch] = {}
        self.calls: list[Call] = []
        self.fail_next: deque[tuple[int, str, str]] = deque()  # (status, title, detail)
        self.batch_step_seconds = 0.0  # how long a batch takes per poll step
        self.delay_seconds = 0.0  # how long every answer takes (to see calls overlap)
        # Called with (method, path) before a call is answered, outside the lock: a test holds
        # calls there to make two of them overlap exactly as it wants.
        self.before: Callable[[str, str], None] | None = None
        self.lock = threading.RLock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.root}/3.0"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- Life -----------------------------------------------------------------------------

    def start(self) -> FakeMailchimp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- What tests look at ---------------------------------------------------------------

    def member(self, email: str) -> dict[str, Any] | None:
        return self.members.get(md5(email))

    def add_member(self, email: str, status: str, **merge_fields: str) -> dict[str, Any]:
        member = {
            "id": md5(email),
            "email_address": email,
            "status": status,
            "merge_fields": dict(merge_fields),
            "last_changed": now_iso(),
        }
        self.members[md5(email)] = member
        return member

    def requests_to(self, method: str, pattern: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    # --- The API --------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        """Answer one call: a JSON-able body (None: 204), or raise ``Problem``."""
        if self.fail_next:
            status, title, detail = self.fail_next.popleft()
            raise Problem(status, title, detail)
        lists = f"/3.0/lists/{self.audience}"
        if path == f"{lists}/merge-fields" and method == "GET":
            return {"merge_fields": [{"tag": t} for t in self.merge_tags], "total_items": 0}
        if path == f"{lists}/merge-fields" and method == "POST":
            if body["tag"] in self.merge_tags:
                detail = f'A Merge Field with the tag "{body["tag"]}" already exists for this list.'
                raise Problem(400, "Invalid Resource", detail)
            self.merge_tags.append(body["tag"])
            return {"tag": body["tag"], "name": body["name"], "type": body["type"]}
        if path == f"{lists}/members" and method == "GET":
            return self.list_members(query)
        member_path = re.fullmatch(rf"{lists}/members/([0-9a-f]{{32}})(/tags)?", path)
        if member_path and member_path.group(2):
            return self.set_tags(member_path.group(1), body)
        if member_path and method == "PUT":
            return self.upsert(member_path.group(1), body)
        if member_path and method == "PATCH":
            return self.patch(member_path.group(1), body)
        if member_path and method == "GET":
            member = self.members.get(member_path.group(1))
            if member is None:
                raise Problem(
                    404, "Resource Not Found", "The requested resource could not be found."
                )
            return member
        if path == "/3.0/batches" and method == "POST":
            return self.create_batch(body)
        batch_path = re.fullmatch(r"/3.0/batches/([0-9a-f]+)", path)
        if batch_path and method == "GET":
            return self.batch_status(batch_path.group(1))
        raise Problem(404, "Resource Not Found", "The requested resource could not be found.")

    def upsert(self, member_hash: str, body: dict[str, Any]) -> dict[str, Any]:
        email = str(body.get("email_address", ""))
        if "status_if_new" not in body and member_hash not in self.members:
            raise Problem(
                400, "Invalid Resource", "The resource submitted could not be validated.",
                errors=[{"field": "status_if_new", "message": "This value should not be blank."}],
            )  # fmt: skip
        if email.lower() in self.forgotten:
            raise Problem(
                400, "Forgotten Email Not Subscribed",
                f"{email} was permanently deleted and cannot be re-imported.",
            )  # fmt: skip
        unknown = [t for t in body.get("merge_fields", {}) if t not in self.merge_tags]
        if unknown:
            raise Problem(400, "Invalid Resource", f"Your merge fields were invalid: {unknown}.")
        member = self.members.get(member_hash)
        wanted = body.get("status")
        if member is not None and wanted == "subscribed" and member["status"] in (
            "unsubscribed", "cleaned"
        ):  # fmt: skip
            raise Problem(
                400, "Member In Compliance State",
                f"{email} is already a list member in a compliance state due to unsubscribe, "
                "bounce, or compliance review and cannot be subscribed.",
            )  # fmt: skip
        if member is None:
            member = {
                "id": md5(email),
                "status": wanted or body["status_if_new"],
                "merge_fields": {},
            }
        elif wanted:
            member["status"] = wanted
        new_hash = md5(email)
        member.update(email_address=email, id=new_hash, last_changed=now_iso())
        member["merge_fields"].update(body.get("merge_fields", {}))
        self.members.pop(member_hash, None)
        self.members[new_hash] = member
        if member_hash != new_hash and member_hash in self.tags:
            self.tags[new_hash] = self.tags.pop(member_hash)
        return member

    def patch(self, member_hash: str, body: dict[str, Any]) -> dict[str, Any]:
        member = self.members.get(member_hash)
        if member is None:
            raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
        member.update({k: v for k, v in body.items() if k == "status"}, last_changed=now_iso())
        return member

    def set_tags(self, member_hash: str, body: dict[str, Any]) -> None:
        if member_hash not in self.members:
            raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
        tags = self.tags.setdefault(member_hash, {})
        for tag in body["tags"]:
            tags[tag["name"]] = tag["status"] == "active"
        return None

    def list_members(self, query: dict[str, list[str]]) -> dict[str, Any]:
        since = query.get("since_last_changed", [""])[0]
        members = sorted(self.members.values(), key=lambda m: m["last_changed"])
        if since:
            cutoff = dt.datetime.fromisoformat(since)
            members = [m for m in members if dt.datetime.fromisoformat(m["last_changed"]) > cutoff]
        offset = int(query.get("offset", ["0"])[0])
        count = int(query.get("count", ["10"])[0])
        return {"members": members[offset : offset + count], "total_items": len(members)}

    # --- Batches ----------------------------------------------------------------------------

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        batch = Batch(id=uuid.uuid4().hex[:10], operations=list(body["operations"]))
        self.batches[batch.id] = batch
        return self.batch_status(batch.id, advance=False)

    def batch_status(self, batch_id: str, advance: bool = True) -> dict[str, Any]:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
        if advance:
            self._advance(batch)
        return {
            "id": batch.id,
            "status": batch.status,
            "total_operations": len(batch.operations),
            "finished_operations": batch.finished,
            "errored_operations": batch.errored,
            "submitted_at": batch.submitted_at,
            "completed_at": batch.completed_at,
            "response_body_url": f"{self.root}/batch-results/{batch.id}.tar.gz"
            if batch.status == "finished"
            else "",
        }

    def _advance(self, batch: Batch) -> None:
        """Each poll runs half of what is left (so progress shows), then finishes."""
        steps = {"pending": "preprocessing", "preprocessing": "started"}
        if batch.status in steps:
            batch.status = steps[batch.status]
            return
        if batch.status != "started":
            return
        time.sleep(self.batch_step_seconds)
        left = len(batch.operations) - batch.finished
        take = left if left <= 1 else max(1, left // 2) if batch.finished == 0 else left
        for operation in batch.operations[batch.finished : batch.finished + take]:
            batch.results.append(self._run_operation(operation))
            batch.finished += 1
            batch.errored += int(batch.results[-1]["status_code"] >= 400)
        if batch.finished >= len(batch.operations):
            batch.status, batch.completed_at = "finished", now_iso()

    def _run_operation(self, operation: dict[str, Any]) -> dict[str, Any]:
        path = "/3.0" + operation["path"]
        body = json.loads(operation.get("body") or "null")
        try:
            answer = self.handle(operation["method"], path, {}, body)
            status, text = (204, "") if answer is None else (200, json.dumps(answer))
        except Problem as problem:
            status, text = problem.status, json.dumps(problem.body())
        return {
            "status_code": status,
            "operation_id": operation.get("operation_id"),
            "response": text,
        }

    def batch_archive(self, batch_id: str) -> bytes:
        """The results as Mailchimp gives them: a .tar.gz of JSON arrays."""
        batch = self.batches[batch_id]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for start in range(0, len(batch.results), 500):
                data = json.dumps(batch.results[start : start + 500]).encode()
                info = tarfile.TarInfo(f"{batch_id}/{start // 500}.json")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    # --- HTTP -------------------------------------------------------------------------------

    def _authorised(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        _, _, key = base64.b64decode(header[6:]).decode().partition(":")
        return key == self.api_key

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                with fake.lock:
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    time.sleep(fake.delay_seconds)
                    self._answer()
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                archive = re.fullmatch(r"/batch-results/([0-9a-f]+)\.tar\.gz", parts.path)
                if archive and self.command == "GET":
                    self._send(200, fake.batch_archive(archive.group(1)), "application/x-gzip")
                    return
                if not fake._authorised(self.headers.get("Authorization", "")):
                    problem = Problem(401, "API Key Invalid", "Your API key may be invalid.")
                    self._problem(problem)
                    return
                body = json.loads(raw) if raw else None
                query = parse_qs(parts.query)
                if fake.before is not None:
                    fake.before(self.command, parts.path)
                with fake.lock:
                    fake.calls.append(Call(self.command, parts.path, query, body))
                    try:
                        answer = fake.handle(self.command, parts.path, query, body)
                    except Problem as problem:
                        self._problem(problem)
                        return
                if answer is None:
                    self._send(204, b"", "")
                else:
                    self._send(200, json.dumps(answer).encode(), "application/json")

            def _problem(self, problem: Problem) -> None:
                body = json.dumps(problem.body()).encode()
                self._send(problem.status, body, "application/problem+json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                return

        return Handler
