"""The Graph API: reading leads and forms with a Page's token, Facebook's errors as ``GraphError``.

Docs: developers.facebook.com/docs/graph-api/guides/error-handling (codes), .../marketing-api/
guides/lead-ads/retrieving (lead fields, ``/{form-id}/leads`` with ``filtering``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

from integrations.lib import http

LEAD_FIELDS = (
    "id,created_time,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,"
    "field_data,custom_disclaimer_responses,is_organic,platform,partner_name,home_listing"
)
FORM_FIELDS = (
    "id,name,status,locale,questions,"
    "legal_content{custom_disclaimer{title,body{text},checkboxes{key,text,is_required}}}"
)
# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling;
# 613 from marketing-api/overview/rate-limiting, 80005 the LeadGen throttle).
REAUTH_CODES = frozenset({190, 102})
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 80005})


class GraphError(Exception):
    """The Graph API refused a call; ``code`` is Facebook's error code (None: no answer)."""

    def __init__(
        self,
        message: str,
        code: int | None = None,
        subcode: int | None = None,
        *,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.transient = transient or code in TRANSIENT_CODES

    @property
    def needs_reauth(self) -> bool:
        return self.code in REAUTH_CODES

    def __str__(self) -> str:
        code = f" (code {self.code}" + (f", subcode {self.subcode})" if self.subcode else ")")
        return f"Graph API: {self.message}{code if self.code is not None else ''}"


def graph_url(path: str) -> str:
    return f"{settings.FACEBOOK_GRAPH_API_URL}/{settings.FACEBOOK_GRAPH_API_VERSION}/{path}"


def _proof(token: str) -> dict[str, str]:
    """The token's ``appsecret_proof`` (HMAC-SHA256 of the token with the app secret), which
    Facebook requires when the app's "Require App Secret" setting is on. Not a secret: it
    proves nothing without the token."""
    if not settings.FACEBOOK_APP_SECRET:
        return {}
    key = settings.FACEBOOK_APP_SECRET.encode()
    return {"appsecret_proof": hmac.new(key, token.encode(), hashlib.sha256).hexdigest()}


def graph_get(url: str, *, token: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET a Graph object or edge; raise ``GraphError`` with Facebook's error code.

    The Page token travels in the ``Authorization`` header (``OAuth <token>``, as Facebook's
    own examples send it), not as ``access_token`` in the URL: URLs are logged (urllib3 at
    DEBUG, proxies) and headers are not.
    """
    try:
        response = http.request(
            "GET",
            url,
            params={**(params or {}), **_proof(token)},
            headers={"Authorization": f"OAuth {token}"},
        )
    except http.HttpError as exc:
        raise _graph_error(exc) from exc
    try:
        data = response.json()
    except ValueError as exc:
        raise GraphError("the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise GraphError("the answer is not a JSON object")
    return data


def _graph_error(exc: http.HttpError) -> GraphError:
    try:
        error = exc.response.json().get("error", {}) if exc.response is not None else {}
    except ValueError:
        error = {}
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        # No Graph error object: a network failure or a proxy's page. 5xx and timeouts may
        # pass; a 4xx without an error object will not.
        return GraphError(str(exc), transient=not exc.permanent)
    subcode = error.get("error_subcode")
    return GraphError(
        str(error.get("message") or exc),
        code=error["code"],
        subcode=subcode if isinstance(subcode, int) else None,
    )


def graph_pages(url: str, *, token: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a Graph edge, following ``paging.next`` until it is absent.

    ``next`` is followed only on the configured Graph host, with our own token put back in
    place of the one Facebook writes into it.
    """
    while True:
        page = graph_get(url, token=token, params=params)
        data = page.get("data", [])
        if not isinstance(data, list):
            raise GraphError("the edge's data is not a list")
        yield from (item for item in data if isinstance(item, dict))
        next_url = (page.get("paging") or {}).get("next")
        if not isinstance(next_url, str) or not next_url.startswith(
            settings.FACEBOOK_GRAPH_API_URL + "/"
        ):
            return
        parts = urlsplit(next_url)
        url = parts._replace(query="", fragment="").geturl()
        params = {
            k: v for k, v in parse_qsl(parts.query) if k not in ("access_token", "appsecret_proof")
        }
