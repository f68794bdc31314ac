from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.bare.models import Submission


@csrf_exempt
@require_POST
def submit(request: HttpRequest) -> JsonResponse:
    """Store the JSON body as one row; 201 with its id, 400 when the body is not JSON."""
    try:
        data = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    submission = Submission.objects.create(data=data)
    return JsonResponse({"id": submission.pk}, status=201)
