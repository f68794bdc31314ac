"""Webhook subscriptions in the REST API: ``/api/v1/webhook-subscriptions/``.

A team's manager, or an integration with ``webhooks:manage``, lists, adds, changes, deletes
and pings the team's subscriptions (a subscription made here always has the team; the ones
operations made for every team stay in the admin). The signing secret is in the answer
that made the subscription, and never again.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from leads import api as leads_api
from leads import selectors
from leads.models import Integration

from .models import WebhookDelivery, WebhookSubscription
from .services import UnsafeDestination, check_destination, subscription_enable, webhook_ping


class SubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=2000, help_text="Where events are POSTed.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookSubscription.Event.choices),
        required=False, max_length=len(WebhookSubscription.Event.choices),
        help_text="The events wanted; empty: every event.",
    )  # fmt: skip

    class Meta:
        model = WebhookSubscription
        fields = [
            "id", "name", "url", "events", "is_active", "team", "events_from",
            "consecutive_failures", "disabled_at", "disabled_reason", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "team", "events_from", "consecutive_failures", "disabled_at", "disabled_reason",
            "created_at",
        ]  # fmt: skip

    def validate_url(self, url: str) -> str:
        try:
            check_destination(url)
        except UnsafeDestination as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return url

    def validate_events(self, events: list[str]) -> list[str]:
        return list(dict.fromkeys(events))


class NewSubscriptionSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_...): shown in this answer only."
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class PingSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True, help_text="What the receiver answered.")
    error = serializers.CharField(help_text="Why it failed; empty when delivered.")
    message_id = serializers.CharField(help_text="The ping's webhook-id.")


class IsManagerOrIntegration(BasePermission):
    message = "Only a team manager, or an integration with webhooks:manage, may."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(getattr(request.user, "integration", None), Integration):
            return True  # its scope was checked by IsActiveAgent
        agent = selectors.agent_for(request.user)
        return agent is not None and agent.is_manager


MANAGE = Integration.Scope.WEBHOOKS_MANAGE


class WebhookSubscriptionViewSet(leads_api.ApiViewSet):
    """The team's webhook subscriptions."""

    serializer_class = SubscriptionSerializer
    pagination_class = leads_api.Cursor
    permission_classes = [leads_api.IsActiveAgent, IsManagerOrIntegration]
    queryset = WebhookSubscription.objects.none()
    integration_scopes = {
        name: MANAGE for name in ("list", "retrieve", "create", "partial_update", "destroy", "test")
    }

    def _team_id(self) -> int:
        integration = getattr(self.request.user, "integration", None)
        if isinstance(integration, Integration):
            return integration.team_id
        return leads_api.me(self.request).team_id

    def get_queryset(self) -> QuerySet[WebhookSubscription]:
        return WebhookSubscription.objects.filter(team_id=self._team_id())

    def _subscription(self, pk: str) -> WebhookSubscription:
        subscription = self.get_queryset().filter(pk=leads_api.object_id(pk)).first()
        if subscription is None:
            raise exceptions.NotFound("No such webhook subscription.")
        return subscription

    @extend_schema(summary="List the team's webhook subscriptions")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One webhook subscription")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self._subscription(pk)).data)

    @extend_schema(
        summary="Subscribe to events",
        request=SubscriptionSerializer,
        responses={201: NewSubscriptionSerializer},
        description="The answer carries the signing secret, shown this once.",
    )
    def create(self, request: Request) -> Response:
        data = SubscriptionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = data.save(team_id=self._team_id())
        return Response(
            NewSubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(summary="Change a webhook subscription", request=SubscriptionSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        subscription = self._subscription(pk)
        data = SubscriptionSerializer(subscription, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        enabling = bool(data.validated_data.get("is_active")) and not subscription.is_active
        if enabling:
            data.validated_data.pop("is_active")
        subscription = data.save()
        if enabling:  # enabled again: its failure counters reset, events from a moment on
            subscription = subscription_enable(subscription=subscription)
        return Response(self.get_serializer(subscription).data)

    @extend_schema(summary="Delete a webhook subscription", responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        self._subscription(pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send a test event (webhook.test) now",
        request=None,
        responses={200: OpenApiResponse(PingSerializer, description="How the receiver answered.")},
        description="Signed like every event; one attempt, never retried. It is listed "
        "among the subscription's deliveries in the admin.",
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        delivery = webhook_ping(subscription=self._subscription(pk))
        return Response(
            PingSerializer(
                {
                    "delivered": delivery.status == WebhookDelivery.Status.DELIVERED,
                    "status_code": delivery.last_status_code,
                    "error": delivery.last_error,
                    "message_id": delivery.message_id,
                }
            ).data
        )


def register(router: SimpleRouter) -> None:
    router.register(
        "webhook-subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription"
    )
