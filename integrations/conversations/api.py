"""A person's thread in the REST API: ``/api/v1/leads/{id}/messages/``.

``GET`` lists the thread of the lead's person (oldest first), ``POST {"body": ...}`` texts
them. The lead's agent and the team's manager only; a send the person has not consented to
is refused with 400 and the code ``no_consent``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from leads import api as leads_api
from leads import selectors as leads_selectors
from leads.models import Lead

from .models import Message
from .selectors import may_see_thread, thread
from .services import NoConsent, message_send


class MessageSerializer(serializers.ModelSerializer):
    contact = serializers.IntegerField(source="contact_id", read_only=True)
    lead = serializers.IntegerField(source="lead_id", read_only=True, allow_null=True)
    author = serializers.CharField(
        source="author.display_name", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Message
        fields = [
            "id", "contact", "lead", "direction", "kind", "channel", "status", "body", "media",
            "author", "error_code", "last_error", "created_at", "sent_at", "delivered_at",
            "failed_at", "read_at",
        ]  # fmt: skip
        read_only_fields = fields


class MessageInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=1600, trim_whitespace=True)


class NoConsentError(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "This person may not be texted."
    default_code = "no_consent"


class LeadMessageViewSet(leads_api.ApiViewSet):
    """The conversation with the person of one lead."""

    serializer_class = MessageSerializer
    queryset = Message.objects.none()

    def _lead(self) -> Lead:
        pk = leads_api.object_id(self.kwargs["lead_pk"])
        lead = (
            leads_selectors.visible_leads(user=self.request.user)
            .select_related("contact", "assigned_agent")
            .filter(pk=pk)
            .first()
        )
        if lead is None:
            raise exceptions.NotFound("No such lead.")
        if not may_see_thread(user=self.request.user, lead=lead):
            raise exceptions.PermissionDenied(
                "Only the lead's agent or the team's manager reads the conversation."
            )
        return lead

    @extend_schema(
        summary="The person's text thread",
        responses={200: MessageSerializer(many=True)},
        description=(
            "Oldest first, the latest 200; the lead's agent reading it marks the person's "
            "texts read."
        ),
    )
    def list(self, request: Request, lead_pk: str) -> Response:
        lead = self._lead()
        rows = thread(contact_id=lead.contact_id)
        if lead.assigned_agent_id == leads_api.me(request).pk:  # as on the lead page
            Message.objects.filter(
                contact_id=lead.contact_id,
                direction=Message.Direction.INBOUND,
                read_at__isnull=True,
            ).update(read_at=timezone.now())
        return Response(MessageSerializer(rows, many=True).data)

    @extend_schema(
        summary="Text the person",
        request=MessageInputSerializer,
        responses={
            201: MessageSerializer,
            400: leads_api.error_response("`no_consent`: may not be texted; or an invalid body."),
        },
    )
    def create(self, request: Request, lead_pk: str) -> Response:
        lead = self._lead()
        data = MessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            message = message_send(
                lead=lead, agent=leads_api.me(request), body=data.validated_data["body"]
            )
        except NoConsent as exc:
            raise NoConsentError(str(exc)) from exc
        except PermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        except ValueError as exc:
            raise leads_api.invalid(exc) from exc
        return Response(MessageSerializer(message).data, status=201)


def register(router: SimpleRouter) -> None:
    router.register("leads/<int:lead_pk>/messages", LeadMessageViewSet, basename="lead-message")
