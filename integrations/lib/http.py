"""The single seam for outbound HTTP: timeouts, retries of what is transient, and logging.

Every call to the outside world (certificate fetches, subscription confirmations, Graph API,
marketing API) goes through :func:`request`, so tests have one place to intercept and
production one place for timeouts. Secrets in URLs or headers are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .backoff import backoff as backoff_seconds

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "Leadline/0.1 (+https://github.com/leadline)"

_session = requests.Session()
_session.headers["User-Agent"] = USER_AGENT


class _PinnedAdapter(HTTPAdapter):
    """Connects wherever the URL says (an address) while speaking TLS to ``hostname``: the
    SNI it sends and the name the certificate must carry."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self.hostname
        kwargs["assert_hostname"] = self.hostname
        super().init_poolmanager(*args, **kwargs)


def _pinned(url: str, address: str) -> tuple[requests.Session, str, str]:
    """A session, the URL and the ``Host`` header that reach ``url`` at ``address`` (an IP
    already checked) with no second look-up of its host name."""
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    ip = f"[{address}]" if ":" in address else address
    netloc = f"{ip}:{parts.port}" if parts.port else ip
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.mount(f"{parts.scheme}://", _PinnedAdapter(hostname))
    host = f"{hostname}:{parts.port}" if parts.port else hostname
    return session, parts._replace(netloc=netloc).geturl(), host


class HttpError(Exception):
    """An outbound call failed. ``permanent`` says whether trying again can help."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.response = response


def request(
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = 2,
    backoff: float = 0.5,
    follow_redirects: bool = False,
    connect_to: str | None = None,
) -> requests.Response:
    """Send a request and return the 2xx/3xx response.

    ``connect_to``: the IP address to connect to instead of looking the URL's host up (the
    one a caller resolved and checked); the ``Host`` header, TLS's SNI and the certificate's
    name check still use the URL's host. No DNS answer can then change between the check and
    the connection (a rebinding).

    Redirects are not followed unless asked: a host we checked (Amazon's certificate host, a
    webhook receiver) must not send us somewhere we did not check. A 3xx is returned as it is.

    Connection errors, timeouts, 429 and 5xx are retried ``retries`` times with exponential
    backoff (honouring a short ``Retry-After``); then, like any 4xx, they raise ``HttpError``
    (``permanent=False`` for the transient kinds, ``True`` for the rest).
    """
    host = urlsplit(url).netloc
    session = _session
    if connect_to is not None:
        session, url, host_header = _pinned(url, connect_to)
        headers = {**(headers or {}), "Host": host_header}
    attempt = 0
    while True:
        attempt += 1
        started = time.monotonic()
        try:
            response = session.request(
                method, url, params=params, json=json, data=data, headers=headers, auth=auth,
                timeout=timeout, allow_redirects=follow_redirects,
            )  # fmt: skip
        except (requests.ConnectionError, requests.Timeout) as exc:
            logger.warning("%s %s: %s (attempt %d)", method, host, type(exc).__name__, attempt)
            if attempt > retries:
                raise HttpError(f"{type(exc).__name__} calling {host}", permanent=False) from exc
            time.sleep(backoff_seconds(attempt, base=backoff))
            continue
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.info("%s %s -> %s in %.0f ms", method, host, response.status_code, elapsed_ms)
        if response.status_code < 400:
            return response
        transient = response.status_code in TRANSIENT_STATUSES
        if transient and attempt <= retries:
            time.sleep(_retry_after(response) or backoff_seconds(attempt, base=backoff))
            continue
        raise HttpError(
            f"{host} answered {response.status_code}",
            permanent=not transient,
            status=response.status_code,
            response=response,
        )


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 10 else None
