"""The machine doors' short path: ``/forms/`` and ``/hooks/`` through a short middleware stack.

The hosted web forms and the vendors' webhooks are called by browsers on other sites and by
vendors' servers, never as a signed-in person: their views are ``csrf_exempt`` (each checks its
sender its own way: a signed render token, a signature, a key), read no session, no user and
no messages, and set their own Content-Security-Policy (the site's leaves them alone). Through
the whole stack each of their requests would call a dozen middleware that each do nothing for
it; :class:`DoorsMiddleware`, first in ``MIDDLEWARE``, sends them through
``DOOR_MIDDLEWARE`` instead (the security headers, ``CommonMiddleware``'s slash redirect and
``Content-Length``, ``X-Frame-Options``) and every other request on through the whole stack.

Both paths are inside the same handler: the request's signals, its ``django.request`` log
line and the error pages (``handler404``, ``handler500``) are the same for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

GetResponse = Callable[[HttpRequest], HttpResponseBase]


class ShortStack(BaseHandler):
    """The view behind ``middleware`` alone: Django's own request-to-response path (URL
    resolution, the views' middleware hooks, template responses, exceptions to error pages),
    built as ``BaseHandler.load_middleware`` builds it for ``MIDDLEWARE``, synchronous only."""

    def __init__(self, middleware: Sequence[str]) -> None:
        self._view_middleware: list[Callable[..., HttpResponseBase | None]] = []
        self._template_response_middleware: list[Callable[..., HttpResponseBase]] = []
        self._exception_middleware: list[Callable[..., HttpResponseBase | None]] = []
        # Django's own innermost step (not in the type stubs): resolve, view hooks, the view.
        view_path = self._get_response  # type: ignore[attr-defined]
        handler: Any = convert_exception_to_response(view_path)
        for path in reversed(middleware):
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class DoorsMiddleware:
    """Requests under ``DOOR_PATH_PREFIXES`` through ``DOOR_MIDDLEWARE``; the rest on."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.prefixes = tuple(settings.DOOR_PATH_PREFIXES)
        self.doors: GetResponse = ShortStack(settings.DOOR_MIDDLEWARE)._middleware_chain

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith(self.prefixes):
            return self.doors(request)
        return self.get_response(request)
