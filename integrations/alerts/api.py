"""Agent alerts in the REST API: ``/api/v1/agent-alerts/``, an agent's own, a manager's team's."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from leads import api as leads_api

from .models import AgentAlert


class AgentAlertSerializer(serializers.ModelSerializer):
    lead = serializers.IntegerField(source="lead_id", read_only=True)
    agent = serializers.IntegerField(source="agent_id", read_only=True)

    class Meta:
        model = AgentAlert
        fields = [
            "id", "lead", "agent", "channel", "kind", "status", "attempts", "error_code",
            "last_error", "created_at", "sent_at", "delivered_at", "failed_at",
        ]  # fmt: skip
        read_only_fields = fields


class AgentAlertViewSet(leads_api.ApiViewSet):
    """Alerts sent about leads: an agent's own; a manager's whole team's."""

    serializer_class = AgentAlertSerializer
    pagination_class = leads_api.Cursor
    queryset = AgentAlert.objects.none()

    def get_queryset(self) -> QuerySet[AgentAlert]:
        agent = leads_api.me(self.request)
        rows = AgentAlert.objects.all()
        if agent.is_manager:
            return rows.filter(agent__team_id=agent.team_id)
        return rows.filter(agent=agent)

    @extend_schema(
        summary="List agent alerts",
        parameters=[
            OpenApiParameter("lead", int, description="Only the alerts about this lead."),
            OpenApiParameter(
                "status", str, enum=list(AgentAlert.Status.values), description="Only this status."
            ),
        ],
    )
    def list(self, request: Request) -> Response:
        rows = self.get_queryset()
        lead = request.query_params.get("lead")
        if lead is not None:
            rows = rows.filter(lead_id=leads_api.object_id(lead))
        status = request.query_params.get("status")
        if status is not None:
            if status not in AgentAlert.Status.values:
                raise exceptions.ValidationError({"status": [f"Not a status: {status[:40]}."]})
            rows = rows.filter(status=status)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One agent alert")
    def retrieve(self, request: Request, pk: str) -> Response:
        alert = self.get_queryset().filter(pk=leads_api.object_id(pk)).first()
        if alert is None:
            raise exceptions.NotFound("No such agent alert.")
        return Response(self.get_serializer(alert).data)


def register(router: SimpleRouter) -> None:
    """Add the agent alerts to the API's ``router``."""
    router.register("agent-alerts", AgentAlertViewSet, basename="agent-alert")
