"""The REST API under ``/api/v1/``: the agent app's reads and writes, for other systems.

Every view is a thin caller, exactly like the agent app's: reads go through
:mod:`leads.selectors` (already limited to what the user may see), writes through
:mod:`leads.services` (which check again). A lead the user may not see is a 404, exactly
like one that does not exist; an action the user may not take on a lead they can see is a
403. Every error has one shape, ``{status, code, message, fields}`` (:func:`exception_handler`).

Who is asking: a personal API token (``Authorization: Bearer lla_...``) or the web app's
session. Requests are throttled per token (per user for the session).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.viewsets import GenericViewSet

from . import inputs, people, ratelimit, selectors, services
from .auth import client_address
from .models import (
    API_TOKEN_PREFIX,
    INTEGRATION_KEY_PREFIX,
    Agent,
    ApiToken,
    Contact,
    Integration,
    IntegrationUser,
    Lead,
    RoutingRule,
    Territory,
)
from .serializers import (
    MAX_ID,
    AgentSerializer,
    AssignSerializer,
    AvailabilitySerializer,
    ErrorSerializer,
    LeadQuerySerializer,
    LeadSerializer,
    LeadStatusSerializer,
    NoteCreatedSerializer,
    NoteSerializer,
    PersonSerializer,
    PersonWriteSerializer,
    RoutingRuleSerializer,
    TerritorySerializer,
    TimelineEntrySerializer,
)

LAST_USED_EVERY = dt.timedelta(minutes=1)


# --- Who is asking --------------------------------------------------------------------------


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>``: a personal token (``lla_...``, acting as its owner) or
    an integration's key (``lli_...``, acting as the integration), looked up by its SHA-256."""

    keyword = "Bearer"

    def authenticate(
        self, request: Request
    ) -> tuple[AbstractBaseUser, ApiToken] | tuple[IntegrationUser, Integration] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as 'Bearer <token>'.")
        try:
            raw = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        # A lookup by a digest of 256 random bits: equality of hashes leaks nothing useful.
        digest = services.api_token_digest(raw)
        if raw.startswith(INTEGRATION_KEY_PREFIX):
            return self._integration(digest)
        if not raw.startswith(API_TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed("The token is not valid.")
        token = (
            ApiToken.objects.select_related("user")
            .filter(digest=digest, revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token is not valid or has been revoked.")
        _touch(ApiToken, token)
        return token.user, token

    def _integration(self, digest: str) -> tuple[IntegrationUser, Integration]:
        integration = Integration.objects.filter(digest=digest, revoked_at__isnull=True).first()
        if integration is None:
            raise exceptions.AuthenticationFailed("The key is not valid or has been revoked.")
        _touch(Integration, integration)
        return IntegrationUser(integration), integration

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def _touch(model: type[ApiToken] | type[Integration], key: ApiToken | Integration) -> None:
    """Note when a key was last used, at most once a minute (a write per request is waste)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
        model.objects.filter(pk=key.pk).update(last_used_at=now)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "leads.api.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (lla_...), made in the app's settings page.",
        }


class IsActiveAgent(BasePermission):
    """Signed in (token or session) with an active agent profile; or an integration's key
    with the scope the view names for the action (``integration_scopes``)."""

    message = "This sign-in has no active agent profile."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if isinstance(request.user, IntegrationUser):
            scope = getattr(view, "integration_scopes", {}).get(getattr(view, "action", ""))
            if scope is None:
                self.message = "An integration's key cannot do this; a person's token can."
                return False
            if not request.user.integration.allows(scope):
                self.message = f"This integration's key lacks the {scope} scope."
                return False
            return True
        return selectors.agent_for(request.user) is not None


class IsManager(BasePermission):
    message = "Only a team manager may read this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        agent = selectors.agent_for(request.user)
        return agent is not None and agent.is_manager


def rate_limit_key(request: Request) -> tuple[str, str]:
    """Whose count a request adds to, and that count's rate: the integration's (its own
    rate, or ``API_RATE_LIMIT``), the token's, the signed-in user's, or the address's."""
    rate: str = settings.API_RATE_LIMIT
    if isinstance(request.auth, Integration):
        return f"integration:{request.auth.pk}", request.auth.rate_limit or rate
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}", rate
    if request.user.is_authenticated:
        return f"user:{request.user.pk}", rate
    return f"addr:{client_address(request._request)}", rate


# --- One error shape ------------------------------------------------------------------------


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with every error answered as ``{status, code, message, fields}``."""
    if isinstance(exc, RequestDataTooBig):  # Django's own limit, met while reading the body
        exc = TooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    fields: dict[str, list[str]] = {}
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        code = "invalid"
        named = sorted(name for name in fields if name != "non_field_errors")
        message = "; ".join(fields.pop("non_field_errors", [])) or (
            "Please correct the fields marked: " + ", ".join(named) + "."
        )
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        detail = exc.detail
        message = str(exc.default_detail if isinstance(detail, dict | list) else detail)
    else:  # Django's Http404 and PermissionDenied, which DRF has already answered
        code = "not_found" if response.status_code == 404 else "permission_denied"
        message = str(response.data.get("detail", "")) if isinstance(response.data, dict) else ""
    response.data = {
        "status": response.status_code,
        "code": str(code),
        "message": str(message),
        "fields": fields,
    }
    return response


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"consents": [{"text": ["..."]}]}`` becomes ``{"consents.0.text": ["..."]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(item) for item in items]} if items else {}


def invalid(exc: ValueError) -> exceptions.ValidationError:
    """A service's ``ValueError("field: message")`` as the API's 400 naming that field."""
    name, sep, message = str(exc).partition(": ")
    if not sep or " " in name:
        return exceptions.ValidationError({"non_field_errors": [str(exc)]})
    return exceptions.ValidationError({name: [message]})


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = (
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KB."
    )
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the lead."
    default_code = "conflict"


# --- The schema: every operation lists the errors it can answer ---------------------------

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `fields` names each field and what is wrong with it.",
    "401": "No credentials, or a token that is not valid or has been revoked.",
    "403": "Signed in, but not allowed (no agent profile, or not your lead or your team's).",
    "404": "No such object, or one you may not see (answered alike); or an invalid cursor.",
    "413": "The request body is larger than the API accepts (`DATA_UPLOAD_MAX_MEMORY_SIZE`).",
    "429": "Too many requests for this key: wait `Retry-After` seconds.",
}


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, with the error responses every operation can give."""

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> Any:
        """A ``PATCH`` body as its action validates it: each action reads its own serializer
        in full (moving a lead needs its ``status``), where drf-spectacular would make every
        field optional (``Patched...``) as DRF's generic partial update does."""
        if self.method != "PATCH":
            return super()._get_request_for_media_type(serializer, direction)
        self.method = "PUT"
        try:
            return super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = "PATCH"

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        parameters = operation.get("parameters", [])
        wanted = ["401", "403", "429"]
        if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
            wanted.append("400")
        if "requestBody" in operation:
            wanted.append("413")
        if any(p["in"] in ("path", "query") for p in parameters):
            wanted.append("404")
        responses = operation.setdefault("responses", {})
        for code in wanted:
            responses.setdefault(
                code,
                {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": error}},
                },
            )
        for answer in responses.values():
            if isinstance(answer, dict) and not answer.get("$ref"):
                answer.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
        responses["429"]["headers"]["Retry-After"] = {
            "schema": {"type": "integer"},
            "description": "Seconds to wait.",
        }
        return operation


RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {
        "schema": {"type": "integer"},
        "description": "Requests this key may make in the current window.",
    },
    "RateLimit-Remaining": {
        "schema": {"type": "integer"},
        "description": "Requests left in the window (absent if the count is unavailable).",
    },
    "RateLimit-Reset": {
        "schema": {"type": "integer"},
        "description": "Seconds until the window starts again.",
    },
}


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# --- Pagination -------------------------------------------------------------------------


class Cursor(CursorPagination):
    """Cursor pagination: stable under inserts, any depth at the same cost."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"

    def get_page_size(self, request: Request) -> int:
        """``page_size`` from 1 to 200 (default 50); anything else is a 400 naming it."""
        raw = request.query_params.get(self.page_size_query_param or "page_size")
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            message = f"A whole number from 1 to {self.max_page_size}."
            raise exceptions.ValidationError({"page_size": [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class OrderedCursor(Cursor):
    """Cursor pagination in the order the view chose from the ``ordering`` parameter."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> tuple[str, ...]:
        ordering: tuple[str, ...] = view.ordering_for(request)
        return ordering


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404: the API's error shape under ``/api/``, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        body = {"status": 404, "code": "not_found", "message": "No such endpoint.", "fields": {}}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


@csrf_exempt  # it changes nothing: a POST without a CSRF token gets the 404 too
def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Every ``/api/`` path no route matches (the last pattern under ``/api/``): the API's
    JSON 404, with ``DEBUG`` on too (where Django would answer its HTML debug page), and for a
    path whose id is not a number (``/api/v1/leads/abc/``). A ``GET`` without its trailing
    slash is redirected as ``APPEND_SLASH`` does when the path with one is an endpoint."""
    if settings.APPEND_SLASH and request.method in ("GET", "HEAD") and not rest.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "api-unknown":
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return not_found(request, Http404())


def object_id(value: Any) -> int:
    """A path's id as an int, or 404 (a number too large for a key matches nothing)."""
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise exceptions.NotFound("No such object.") from None
    if not 0 < pk <= MAX_ID:
        raise exceptions.NotFound("No such object.")
    return pk


def me(request: Request) -> Agent:
    agent = selectors.agent_for(request.user)
    if agent is None:
        raise exceptions.PermissionDenied(IsActiveAgent.message)
    return agent


class ApiViewSet(GenericViewSet):
    """Every API view: a token or the session, and an active agent profile (or an
    integration's key with the scope ``integration_scopes`` names for the action); every
    answer carries the caller's rate limit (``RateLimit-*``), and one past it is a 429."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    # JSON read as every door reads it: a 400 for deep nesting, text the database can store.
    parser_classes = [inputs.JSONParser]
    permission_classes: list[type[BasePermission]] = [IsActiveAgent]
    throttle_classes: list[Any] = []  # counted in perform_authentication, for every answer
    lookup_value_converter = "int"
    # Which actions an integration may call, and the scope each needs; others are refused.
    integration_scopes: dict[str, str] = {}
    rate_window: ratelimit.Window | None = None

    def perform_authentication(self, request: Request) -> None:
        """Authenticate, then count the request against its key: before the permissions,
        so a refused request counts too and its answer also says the limit."""
        try:
            request.user  # noqa: B018 - DRF authenticates on first access
        except exceptions.APIException:
            self._count(request)  # a guessed key counts against the address
            raise
        self._count(request)

    def _count(self, request: Request) -> None:
        key, rate = rate_limit_key(request)
        self.rate_window = ratelimit.hit(key, ratelimit.parse_rate(rate))
        if not self.rate_window.allowed:
            raise exceptions.Throttled(wait=self.rate_window.reset)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.rate_window is not None:
            for name, value in self.rate_window.headers().items():
                response[name] = value
        return response


# --- Leads ------------------------------------------------------------------------------


class LeadViewSet(ApiViewSet):
    """Leads the user may see: an agent's own, those offered to them and their team's pool;
    a manager's whole team."""

    serializer_class = LeadSerializer
    pagination_class = OrderedCursor
    queryset = Lead.objects.none()  # the real one comes from the selectors, per user
    integration_scopes = {
        "list": Integration.Scope.LEADS_READ,
        "retrieve": Integration.Scope.LEADS_READ,
        "activities": Integration.Scope.LEADS_READ,
    }

    def get_queryset(self) -> QuerySet[Lead]:
        return selectors.visible_leads(user=self.request.user)

    def _query(self, request: Request) -> dict[str, Any]:
        if not hasattr(request, "_lead_query"):
            blank = {
                name: ["Give a value, or leave the parameter out."]
                for name, value in request.query_params.items()
                if value == "" and name in LeadQuerySerializer._declared_fields
            }
            if blank:
                raise exceptions.ValidationError(blank)
            query = LeadQuerySerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
            request._lead_query = query.validated_data  # type: ignore[attr-defined]
        validated: dict[str, Any] = request._lead_query  # type: ignore[attr-defined]
        return validated

    def ordering_for(self, request: Request) -> tuple[str, ...]:
        query = self._query(request)
        default = "updated_at" if "updated_since" in query else "-received_at"
        field = query.get("ordering") or default
        return (field, "-pk" if field.startswith("-") else "pk")

    def _lead(self) -> Lead:
        try:
            return selectors.lead_get(user=self.request.user, pk=object_id(self.kwargs["pk"]))
        except Lead.DoesNotExist:
            raise exceptions.NotFound("No such lead.") from None

    def _answer(self, lead: Lead, status_code: int = 200) -> Response:
        fresh = selectors.lead_get(user=self.request.user, pk=lead.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    @extend_schema(parameters=[LeadQuerySerializer], summary="List leads")
    def list(self, request: Request) -> Response:
        query = self._query(request)
        filters = selectors.LeadFilters(
            status=query.get("status", ""),
            source=query.get("source", ""),
            lead_type=query.get("lead_type", ""),
            q=query.get("search", ""),
            scope=query.get("scope", ""),
        )
        # The selector's inbox order and narrow rows give way to the API's order and fields.
        leads = selectors.lead_list(user=request.user, filters=filters).defer(None)
        ranges = {
            "agent": "assigned_agent_id",
            "created_after": "created_at__gte",
            "created_before": "created_at__lt",
            "updated_after": "updated_at__gte",
            "updated_before": "updated_at__lt",
            "updated_since": "updated_at__gte",
        }
        leads = leads.filter(
            **{lookup: query[name] for name, lookup in ranges.items() if name in query}
        )
        page = self.paginate_queryset(leads.order_by(*self.ordering_for(request)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One lead")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self._lead()).data)

    @extend_schema(
        summary="Move a lead to a status",
        request=LeadStatusSerializer,
        responses={200: LeadSerializer},
        description="The assigned agent or the team's manager; anyone else gets 403.",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        lead = self._lead()
        data = LeadStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.lead_set_status(
                lead=lead, agent=me(request), status=data.validated_data["status"]
            )
        except ValueError as exc:
            raise invalid(exc) from exc
        return self._answer(lead)

    @extend_schema(
        summary="A lead's timeline",
        responses={200: TimelineEntrySerializer(many=True)},
        description="Newest first: activities, routing decisions and alerts (at most 200).",
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def activities(self, request: Request, pk: str) -> Response:
        entries = selectors.lead_timeline(lead=self._lead())
        return Response(TimelineEntrySerializer(entries, many=True).data)

    @extend_schema(
        summary="Add a note",
        request=NoteSerializer,
        responses={201: NoteCreatedSerializer},
        description="The assigned agent or the team's manager; anyone else gets 403.",
    )
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: str) -> Response:
        lead = self._lead()
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            note = services.lead_add_note(
                lead=lead, agent=me(request), text=data.validated_data["text"]
            )
        except ValueError as exc:
            raise invalid(exc) from exc
        return Response(NoteCreatedSerializer(note).data, status=201)

    @extend_schema(
        summary="Accept a lead",
        request=None,
        responses={200: LeadSerializer, 409: error_response("Someone else claimed it first.")},
        description=(
            "The assigned agent accepts it (the clock stops; again is harmless); an unassigned "
            "or offered lead is claimed instead, as in the app."
        ),
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        lead, agent = self._lead(), me(request)
        access = selectors.lead_access(user=request.user, lead=lead)
        if access.claim:
            return self._claim(lead, agent)
        if lead.assigned_agent_id == agent.pk and lead.accepted_at is not None:
            return self._answer(lead)
        if not access.accept:
            raise exceptions.PermissionDenied("Only the agent it is assigned to can accept it.")
        services.lead_accept(lead=lead, agent=agent)
        return self._answer(lead)

    @extend_schema(
        summary="Claim a lead from the pool or an offer",
        request=None,
        responses={200: LeadSerializer, 409: error_response("Someone else claimed it first.")},
        description="Atomic: of two claims at once exactly one wins; the other gets 409.",
    )
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str) -> Response:
        lead = self._lead()
        if not selectors.lead_access(user=request.user, lead=lead).claim:
            raise exceptions.PermissionDenied("This lead cannot be claimed.")
        return self._claim(lead, me(request))

    def _claim(self, lead: Lead, agent: Agent) -> Response:
        result = services.lead_claim(lead=lead, agent=agent)
        if not result.won:
            holder = result.holder or "another agent"
            raise Conflict(f"Too late: {holder} already has this lead.", code="already_claimed")
        return self._answer(lead)

    @extend_schema(
        summary="Assign a lead to an agent (managers)",
        request=AssignSerializer,
        responses={200: LeadSerializer},
        description="The team's manager hands the lead to an active agent of the team.",
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        lead = self._lead()
        if not selectors.lead_access(user=request.user, lead=lead).reassign:
            raise exceptions.PermissionDenied("Only the team's manager may assign its leads.")
        data = AssignSerializer(data=request.data, agents=selectors.team_agents(user=request.user))
        data.is_valid(raise_exception=True)
        try:
            services.lead_reassign(
                lead=lead,
                manager=me(request),
                agent=data.validated_data["agent"],
                reason=data.validated_data["reason"],
            )
        except ValueError as exc:
            raise invalid(exc) from exc
        return self._answer(lead)


# --- Contacts, agents, territories, rules ----------------------------------------------------


class ContactViewSet(ApiViewSet):
    """The people behind the leads the user may see; adding, changing, tagging and deleting
    people (an agent their own, a manager or an integration with ``people:write`` the
    team's)."""

    serializer_class = PersonSerializer
    pagination_class = Cursor
    queryset = Contact.objects.none()
    integration_scopes = {
        "list": Integration.Scope.LEADS_READ,
        "retrieve": Integration.Scope.LEADS_READ,
        "create": Integration.Scope.PEOPLE_WRITE,
        "partial_update": Integration.Scope.PEOPLE_WRITE,
        "destroy": Integration.Scope.PEOPLE_WRITE,
    }

    def get_queryset(self) -> QuerySet[Contact]:
        leads = selectors.visible_leads(user=self.request.user)
        return Contact.objects.filter(pk__in=leads.values("contact_id")).prefetch_related(
            "emails", "phones", "tags"
        )

    def _caller(self) -> tuple[Agent | None, int, str]:
        """(the agent, or None for an integration), their team, and words for the timeline."""
        integration = getattr(self.request.user, "integration", None)
        if isinstance(integration, Integration):
            return None, integration.team_id, f"API: {integration.name}"
        agent = me(self.request)
        return agent, agent.team_id, f"API: {agent}"

    def _writable(self, pk: str) -> Contact:
        contact = self.get_queryset().filter(pk=object_id(pk)).first()
        if contact is None:
            raise exceptions.NotFound("No such contact.")
        agent, team_id, _ = self._caller()
        if not people.people_writable(agent=agent, team_id=team_id).filter(pk=contact.pk).exists():
            raise exceptions.PermissionDenied("Only the person's agent or the team's manager may.")
        return contact

    def _answer(self, contact: Contact, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().filter(pk=contact.pk).first() or contact
        return Response(self.get_serializer(fresh).data, status=status_code)

    @extend_schema(summary="List contacts")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One contact")
    def retrieve(self, request: Request, pk: str) -> Response:
        contact = self.get_queryset().filter(pk=object_id(pk)).first()
        if contact is None:
            raise exceptions.NotFound("No such contact.")
        return Response(self.get_serializer(contact).data)

    @extend_schema(
        summary="Add a person",
        request=PersonWriteSerializer,
        responses={
            201: PersonSerializer,
            200: OpenApiResponse(PersonSerializer, description="Already known: filled in."),
            400: error_response("A field is wrong, or there is neither an email nor a phone."),
        },
        description="A person the team does not know gets a lead of source `api` (or the "
        "integration's), not routed nor alerted: an agent's own, the named agent's, or in the "
        "pool. A known person (any email, then any phone) is filled in, never overwritten.",
    )
    def create(self, request: Request) -> Response:
        data = PersonWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agent, team_id, origin = self._caller()
        named = values.get("agent")
        if named is not None:
            found = Agent.objects.filter(pk=named, team_id=team_id, is_active=True).first()
            if found is None or (agent is not None and not agent.is_manager and found != agent):
                raise invalid(ValueError("agent: no such agent on your team."))
            agent = found
        elif agent is not None and agent.is_manager:
            agent = None  # a manager's person waits in the pool unless an agent is named
        integration = getattr(request.user, "integration", None)
        source = integration.source if isinstance(integration, Integration) else "api"
        try:
            added = people.person_add(
                team_id=team_id, actor_id=request.user.pk, origin=origin, source=source,
                first_name=values.get("first_name", ""), last_name=values.get("last_name", ""),
                emails=values.get("emails", []), phones=values.get("phones", []),
                tags=values.get("tags", []), agent=agent,
            )  # fmt: skip
        except ValueError as exc:
            raise invalid(exc) from exc
        return self._answer(added.contact, status.HTTP_201_CREATED if added.created else 200)

    @extend_schema(
        summary="Change a person",
        request=PersonWriteSerializer,
        responses={200: PersonSerializer, 400: error_response("A field is wrong.")},
        description="Names are set; `emails` and `phones` join the person (one that belongs to "
        "another person is a 400); `tags` become exactly the person's tags.",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        contact = self._writable(pk)
        data = PersonWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        _, _, origin = self._caller()
        try:
            people.person_update(
                contact=contact, actor_id=request.user.pk, origin=origin,
                first_name=values.get("first_name"), last_name=values.get("last_name"),
                emails=values.get("emails"), phones=values.get("phones"), tags=values.get("tags"),
            )  # fmt: skip
        except ValueError as exc:
            raise invalid(exc) from exc
        return self._answer(contact)

    @extend_schema(
        summary="Delete a person and their leads",
        responses={
            204: None,
            403: error_response("Not a manager's, nor an integration's with people:write."),
            409: error_response("The person has leads of another team."),
        },
    )
    def destroy(self, request: Request, pk: str) -> Response:
        contact = self._writable(pk)
        agent, team_id, _ = self._caller()
        if agent is not None and not agent.is_manager:
            raise exceptions.PermissionDenied("Only the team's manager may delete a person.")
        try:
            people.person_delete(contact=contact, team_id=team_id, actor=agent)
        except DjangoPermissionDenied as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentViewSet(ApiViewSet):
    """An agent sees themselves; a manager their team, and sets its availability."""

    serializer_class = AgentSerializer
    pagination_class = Cursor
    queryset = Agent.objects.none()
    integration_scopes = {
        "list": Integration.Scope.LEADS_READ,
        "retrieve": Integration.Scope.LEADS_READ,
    }

    def get_queryset(self) -> QuerySet[Agent]:
        integration = selectors.integration_for(self.request.user)
        if integration is not None:  # whom its events may name as the person's agent
            return Agent.objects.filter(team_id=integration.team_id, is_active=True)
        agent = me(self.request)
        if agent.is_manager:
            return Agent.objects.filter(team_id=agent.team_id)
        return Agent.objects.filter(pk=agent.pk)

    def _agent(self) -> Agent:
        agent = self.get_queryset().filter(pk=object_id(self.kwargs["pk"])).first()
        if agent is None:
            raise exceptions.NotFound("No such agent.")
        return agent

    @extend_schema(summary="List agents")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One agent")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self._agent()).data)

    @extend_schema(
        summary="Pause or resume an agent, set their daily capacity",
        request=AvailabilitySerializer,
        responses={200: AgentSerializer},
        description="An agent pauses themselves; a manager pauses and sets capacity for the team.",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        agent = self._agent()
        data = AvailabilitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.agent_set_availability(agent=agent, actor=me(request), **data.validated_data)
        except ValueError as exc:
            raise invalid(exc) from exc
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        agent.refresh_from_db()
        return Response(self.get_serializer(agent).data)


class TerritoryViewSet(ApiViewSet):
    """The team's territories (managers)."""

    serializer_class = TerritorySerializer
    pagination_class = Cursor
    permission_classes = [IsActiveAgent, IsManager]
    queryset = Territory.objects.none()

    def get_queryset(self) -> QuerySet[Territory]:
        return Territory.objects.filter(team_id=me(self.request).team_id).prefetch_related("agents")

    @extend_schema(summary="List territories")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One territory")
    def retrieve(self, request: Request, pk: str) -> Response:
        territory = self.get_queryset().filter(pk=object_id(pk)).first()
        if territory is None:
            raise exceptions.NotFound("No such territory.")
        return Response(self.get_serializer(territory).data)


class RoutingRuleViewSet(ApiViewSet):
    """The team's routing rules with their members (managers)."""

    serializer_class = RoutingRuleSerializer
    pagination_class = Cursor
    permission_classes = [IsActiveAgent, IsManager]
    queryset = RoutingRule.objects.none()

    def get_queryset(self) -> QuerySet[RoutingRule]:
        return RoutingRule.objects.filter(team_id=me(self.request).team_id).prefetch_related(
            "members"
        )

    @extend_schema(summary="List routing rules")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One routing rule")
    def retrieve(self, request: Request, pk: str) -> Response:
        rule = self.get_queryset().filter(pk=object_id(pk)).first()
        if rule is None:
            raise exceptions.NotFound("No such routing rule.")
        return Response(self.get_serializer(rule).data)


def register(router: SimpleRouter, *, leads: type[LeadViewSet] = LeadViewSet) -> None:
    """Add the domain's resources to ``router``; ``leads`` may be a subclass that adds more
    (integrations adds creating a lead, which goes through the intake pipeline)."""
    router.register("leads", leads, basename="lead")
    router.register("contacts", ContactViewSet, basename="contact")
    router.register("agents", AgentViewSet, basename="agent")
    router.register("territories", TerritoryViewSet, basename="territory")
    router.register("routing-rules", RoutingRuleViewSet, basename="routing-rule")
