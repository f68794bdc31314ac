"""The REST API's edge: creating a lead through the intake pipeline, and the edge's rows.

``POST /api/v1/leads/`` is a lead source like any other (``api``): the request is checked,
stored raw as an ``InboundEvent`` and answered at once with ``202``; the queue parses it,
captures the lead and routes it. The rest of ``/api/v1/leads/`` is the domain's
(:class:`leads.api.LeadViewSet`), which this view extends, since leads never imports
integrations.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from leads import api as leads_api
from leads import selectors
from leads.models import Integration
from leads.serializers import ErrorSerializer, LeadCreateSerializer

from .models import InboundEvent, WebForm
from .services import (
    IdempotencyConflict,
    StoreResult,
    event_request_create,
    lead_request_create,
)
from .sources.events import EventSerializer, agents_of

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces


class LeadRequestSerializer(serializers.Serializer):
    """A lead sent through the API, and what became of it."""

    id = serializers.UUIDField(help_text="The request's id: poll status_url with it.")
    status = serializers.ChoiceField(
        choices=InboundEvent.Status.choices,
        help_text="received (queued), processed (the lead exists), failed or ignored.",
    )
    status_url = serializers.URLField()
    received_at = serializers.DateTimeField()
    lead = serializers.IntegerField(
        allow_null=True, help_text="The lead's id once processed, if it is one you may see."
    )
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, when it did.")


def _request_body(request: Request, event: InboundEvent, *, live: bool) -> dict[str, Any]:
    """The answer about ``event``. The create answer (``live=False``) depends only on what
    never changes, so a repeated request gets exactly the first answer."""
    lead_id = None
    if live and event.lead_id is not None:
        visible = selectors.visible_leads(user=request.user).filter(pk=event.lead_id)
        lead_id = event.lead_id if visible.exists() else None
    path = reverse("api:lead-request-detail", args=[event.public_id])
    return {
        "id": str(event.public_id),
        "status": event.status if live else InboundEvent.Status.RECEIVED,
        "status_url": request.build_absolute_uri(path),
        "received_at": event.received_at.isoformat(),
        "lead": lead_id,
        "error": event.error if live else "",
    }


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if key and not IDEMPOTENCY_KEY.match(key):
        raise exceptions.ValidationError(
            {"Idempotency-Key": ["Use 1 to 200 printable characters without spaces."]}
        )
    return key


def _accepted(request: Request, stored: StoreResult) -> Response:
    """202 with the request's status URL (also in ``Location``); a repeat says so."""
    response = Response(_request_body(request, stored.event, live=False), status=202)
    response["Location"] = response.data["status_url"]
    if not stored.created:
        response["Idempotent-Replayed"] = "true"
    return response


ACCEPTED_HEADERS = [
    OpenApiParameter(
        "Idempotency-Key",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description=(
            "Your own unique id for this request (1-200 printable characters): sent "
            "again, with the same body, it gives the same result and the same answer."
        ),
    ),
    OpenApiParameter(
        "Location",
        OpenApiTypes.URI,
        OpenApiParameter.HEADER,
        response=[202],
        description="The request's status_url.",
    ),
    OpenApiParameter(
        "Idempotent-Replayed",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[202],
        description="true when this answer repeats the first one for the same key.",
    ),
]
ACCEPTED_RESPONSES = {
    202: LeadRequestSerializer,
    409: OpenApiResponse(ErrorSerializer, description="The key was used with another body."),
}


class LeadViewSet(leads_api.LeadViewSet):
    """The domain's lead views, and creating a lead through the intake pipeline."""

    @extend_schema(
        summary="Send in a lead",
        request=LeadCreateSerializer,
        parameters=ACCEPTED_HEADERS,
        responses=ACCEPTED_RESPONSES,
        description=(
            "Stored at once and processed on the queue like a lead from any source: the person "
            "is matched or created, the lead routed by the team's rules, and the agent alerted. "
            "Poll `status_url` for the lead's id."
        ),
    )
    def create(self, request: Request) -> Response:
        agent = leads_api.me(request)
        key = _idempotency_key(request)
        raw = request.body  # read before request.data, so the stored body is the one sent
        data = LeadCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            stored = lead_request_create(
                request=request._request,
                body=raw,
                data=request.data,
                agent=agent,
                token_id=getattr(request.auth, "pk", None),
                idempotency_key=key,
            )
        except IdempotencyConflict as exc:
            raise leads_api.Conflict(str(exc), code="idempotency_key_reused") from exc
        return _accepted(request, stored)


class LeadRequestViewSet(leads_api.ApiViewSet):
    """Leads and events sent through the API by the caller, and what became of them."""

    serializer_class = LeadRequestSerializer
    lookup_value_converter = "uuid"
    queryset = InboundEvent.objects.none()
    integration_scopes = {"retrieve": Integration.Scope.EVENTS_WRITE}

    @extend_schema(summary="What became of a lead or an event sent in")
    def retrieve(self, request: Request, pk: uuid.UUID) -> Response:
        if isinstance(request.auth, Integration):
            sender = Q(meta__integration_id=request.auth.pk)
        else:
            sender = Q(meta__user_id=request.user.pk)
        event = InboundEvent.objects.filter(
            sender, source__in=("api", "events"), public_id=pk
        ).first()
        if event is None:
            raise exceptions.NotFound("No such request.")
        return Response(_request_body(request, event, live=True))


class EventViewSet(leads_api.ApiViewSet):
    """Events from any source: inquiries that make leads, and what people did."""

    serializer_class = EventSerializer
    queryset = InboundEvent.objects.none()
    integration_scopes = {"create": Integration.Scope.EVENTS_WRITE}

    @extend_schema(
        summary="Send an event (an inquiry, a registration, a viewed property...)",
        request=EventSerializer,
        parameters=ACCEPTED_HEADERS,
        responses=ACCEPTED_RESPONSES,
        description=(
            "Stored at once and processed on the queue. An inquiry, registration or open-house "
            "visit makes a lead, routed by the team's rules (the named `agent` first) and "
            "alerted; a viewed or saved property or a search goes on the timeline of the "
            "person it names, with no new lead (a person nobody knows yet is a new lead). "
            "Sent with an integration's key, the lead's source is the integration's; with a "
            "person's token, `api`. Idempotent on `Idempotency-Key`, or else the event's `id`."
        ),
    )
    def create(self, request: Request) -> Response:
        key = _idempotency_key(request)
        raw = request.body  # read before request.data, so the stored body is the one sent
        integration = request.auth if isinstance(request.auth, Integration) else None
        if integration is not None:
            team_id, lead_source, user_id = integration.team_id, integration.source, None
        else:
            agent = leads_api.me(request)
            team_id, lead_source, user_id = agent.team_id, "api", agent.user_id
        data = EventSerializer(data=request.data, agents=agents_of(team_id))
        data.is_valid(raise_exception=True)
        try:
            stored = event_request_create(
                request=request._request,
                body=raw,
                data=request.data,
                team_id=team_id,
                lead_source=lead_source,
                integration_id=integration.pk if integration else None,
                user_id=user_id,
                idempotency_key=key or data.validated_data.get("id", ""),
            )
        except IdempotencyConflict as exc:
            raise leads_api.Conflict(str(exc), code="idempotency_key_reused") from exc
        return _accepted(request, stored)


class WebFormSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The hosted form.")

    class Meta:
        model = WebForm
        fields = [
            "id", "public_key", "name", "title", "url", "is_active", "default_lead_type",
            "allowed_origins", "consent_required", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, web_form: WebForm) -> str:
        return self.context["request"].build_absolute_uri(web_form.get_absolute_url())


class WebFormViewSet(leads_api.ApiViewSet):
    """The team's web forms."""

    serializer_class = WebFormSerializer
    pagination_class = leads_api.Cursor
    queryset = WebForm.objects.none()

    def get_queryset(self) -> QuerySet[WebForm]:
        return WebForm.objects.filter(team_id=leads_api.me(self.request).team_id)

    @extend_schema(summary="List web forms")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One web form")
    def retrieve(self, request: Request, pk: str) -> Response:
        web_form = self.get_queryset().filter(pk=leads_api.object_id(pk)).first()
        if web_form is None:
            raise exceptions.NotFound("No such web form.")
        return Response(self.get_serializer(web_form).data)


def register(router: SimpleRouter) -> None:
    """Add the edge's resources, and the leads collection that can create, to ``router``."""
    leads_api.register(router, leads=LeadViewSet)
    router.register("lead-requests", LeadRequestViewSet, basename="lead-request")
    router.register("events", EventViewSet, basename="event")
    router.register("web-forms", WebFormViewSet, basename="web-form")
