"""POST /api/v1/ingest/: the chat product's batch endpoint.

The body is checked before it is parsed: no Content-Length gets 411, more than
FLYWHEEL_INGEST_MAX_BYTES gets 413 without reading it, then strict UTF-8 and JSON (400, also
for JSON nested too deeply to parse), then the item count (413). Past that, every item gets its own result.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from flywheel.accounts.permissions import API_KEY
from flywheel.accounts.roles import ENGINEERS
from flywheel.ingest.schema import IngestRequest, IngestResponse
from flywheel.ingest.services import ingest_batch

LISTS = ("sessions", "feedback", "pairs")


def _error(status: int, code: str, detail: str) -> Response:
    # `error` is a code for programs and stays as it is; `detail` is for the person reading it,
    # in the request's language (Accept-Language, through LocaleMiddleware, like the pages).
    return Response({"error": code, "detail": detail}, status=status)


class IngestView(APIView):
    allowed_roles = frozenset(ENGINEERS | {API_KEY})
    # Declared for the schema only: request.data is never touched, the body is read and checked
    # in post() so that size and encoding errors come before any parsing.
    parser_classes = [JSONParser]

    @extend_schema(
        request=IngestRequest,
        responses={
            200: IngestResponse,
            400: OpenApiResponse(
                description="Body is not UTF-8, not JSON, nested too deeply, or not an object of lists."
            ),
            401: OpenApiResponse(description="Missing or unknown API key."),
            411: OpenApiResponse(description="No Content-Length header."),
            413: OpenApiResponse(description="Body over the size limit, or too many items."),
            415: OpenApiResponse(description="Content-Type is not application/json."),
        },
        summary="Ingest a batch of sessions (with their messages), feedback and preference pairs",
        description=(
            "Idempotent: an id sent again changes nothing (status `unchanged`); messages for an "
            "existing session are appended after its last one. Each item gets its own result."
        ),
    )
    def post(self, request):
        raw_request = request._request
        content_type = raw_request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "unsupported_media_type", _("send the batch as application/json"))
        length = raw_request.META.get("CONTENT_LENGTH") or ""
        if not length.isdigit():
            return _error(411, "length_required", _("a Content-Length header is required"))
        limit = settings.FLYWHEEL_INGEST_MAX_BYTES
        if int(length) > limit:
            return _error(
                413,
                "payload_too_large",
                _("the body is %(length)s bytes; the limit is %(limit)s") % {"length": length, "limit": limit},
            )
        body = raw_request.read(limit + 1)
        if len(body) < int(length):
            return _error(
                400,
                "incomplete_body",
                _("received %(received)s of %(length)s bytes") % {"received": len(body), "length": length},
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _error(400, "invalid_utf8", _("the body is not valid UTF-8 (byte %(byte)s)") % {"byte": exc.start})
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            return _error(
                400,
                "malformed_json",
                _("%(reason)s at line %(line)s column %(column)s")
                % {"reason": exc.msg, "line": exc.lineno, "column": exc.colno},
            )
        except RecursionError:
            # The parser recurses once per level: a body of nothing but `[` reaches Python's
            # recursion limit. Nothing valid nests that deep (metadata stops at
            # FLYWHEEL_JSON_MAX_DEPTH, schema.py).
            return _error(400, "too_deep", _("the JSON is nested too deeply"))
        if not isinstance(payload, dict):
            return _error(400, "invalid_body", _('the body must be an object: {"sessions": [...], "feedback": [...]}'))
        unknown = sorted(set(payload) - set(LISTS))
        if unknown:
            return _error(
                400,
                "invalid_body",
                _("unknown keys: %(unknown)s; expected %(expected)s")
                % {"unknown": ", ".join(unknown), "expected": ", ".join(LISTS)},
            )
        for key in LISTS:
            if not isinstance(payload.get(key, []), list):
                return _error(400, "invalid_body", _('"%(key)s" must be a list') % {"key": key})
        items = sum(len(payload.get(key, [])) for key in LISTS)
        if items > settings.FLYWHEEL_INGEST_MAX_ITEMS:
            return _error(
                413,
                "too_many_items",
                _("%(items)s items; send at most %(limit)s per batch")
                % {"items": items, "limit": settings.FLYWHEEL_INGEST_MAX_ITEMS},
            )
        source = "api"
        result = ingest_batch(**{key: payload.get(key, []) for key in LISTS}, source=source)
        return Response(result.as_dict())
