"""JSON endpoints for reviewers' tools (and the load test): claim the next item of a queue."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from flywheel.accounts.roles import REVIEWERS
from flywheel.review.models import ReviewQueue
from flywheel.review.services import ReviewError, review_item_claim_next


class ClaimNextView(APIView):
    """POST: the caller's running claim in the queue, or a new one; 204 when nothing is left."""

    allowed_roles = REVIEWERS

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "ReviewClaim",
                {
                    "item": serializers.IntegerField(),
                    "kind": serializers.CharField(),
                    "resumed": serializers.BooleanField(
                        help_text="Your running claim, handed back with a fresh lease."
                    ),
                    "lease_expires_at": serializers.DateTimeField(),
                    "url": serializers.CharField(),
                },
            ),
            204: OpenApiResponse(description="Nothing is left in this queue for you."),
            403: OpenApiResponse(description="Not a reviewer, or the queue is for engineers."),
        },
        summary="Claim the next item of a review queue",
    )
    def post(self, request, slug: str):
        queue = get_object_or_404(ReviewQueue, slug=slug, active=True)
        try:
            claim = review_item_claim_next(queue=queue, user=request.user)
        except ReviewError as exc:
            return Response({"error": "forbidden", "detail": str(exc)}, status=403)
        if claim is None:
            return Response(status=204)
        return Response(
            {
                "item": claim.item.id,
                "kind": claim.item.kind,
                "resumed": claim.resumed,
                "lease_expires_at": claim.assignment.lease_expires_at.isoformat(),
                "url": reverse("review:item", args=[claim.item.id]),
            }
        )
