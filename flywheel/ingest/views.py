from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages as flash
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from flywheel.accounts.roles import ENGINEERS, REVIEWERS, role_required, user_has_any_role
from flywheel.accounts.services import audit_record
from flywheel.ingest.facets import session_facets
from flywheel.ingest.formats import FORMATS, RecordError
from flywheel.ingest.imports import UploadTooLarge, import_file_outcome, import_file_start
from flywheel.ingest.models import ImportFile
from flywheel.ingest.panels import session_panels
from flywheel.ingest.selectors import (
    THUMBS_CHOICES,
    SessionFilters,
    imports_recent,
    session_filter_choices,
    session_get,
    session_texts_attach,
    session_transcript,
    session_visible_to,
    sessions_page,
)
from flywheel.ingest.uploads import upload_limit_message, uploads_refused
from flywheel.jobs.models import Job
from flywheel.ui.paging import page_key

# Raw chat logs are for the people who run the pipelines. Ops launch training runs from
# datasets (PII-scrubbed) and need no chat logs; annotators open the sessions of their own items.


@role_required(ENGINEERS)
def session_list(request):
    filters = SessionFilters.from_params(request.GET)
    page = sessions_page(filters=filters, before_id=page_key(request))
    facets = session_facets()
    next_url = None
    if page.next_key is not None:
        next_url = "?" + urlencode({**filters.query_params(), "before": page.next_key})
    return render(
        request,
        "ingest/session_list.html",
        {
            "sessions": page.rows,
            "filters": filters,
            "facets": [{"facet": f, "choices": f.choices(), "value": filters.facets.get(f.name, "")} for f in facets],
            "columns": [f for f in facets if f.column is not None],
            "thumbs_choices": THUMBS_CHOICES.items(),
            # Offered under the free-text app and model boxes (a <datalist>: any other value can
            # still be typed, e.g. one past the listed ones).
            "app_choices": session_filter_choices("app"),
            "model_version_choices": session_filter_choices("model_version"),
            # A pasted session id opens that session; the search still runs over message text.
            "exact_session": session_get(external_id=filters.q) if filters.q else None,
            "next_url": next_url,
        },
    )


@role_required(REVIEWERS)
def session_detail(request, external_id: str):
    """Engineers and admins: the session as stored, with every app's panel. Annotators: only a
    session of an item given to them (any other answers 404, like one that does not exist, so
    ids cannot be probed), its text as a dataset holds it (PII scrubbed), no metadata or panels."""
    session = session_get(external_id=external_id)
    if session is None or not session_visible_to(session=session, user=request.user):
        raise Http404("no session with that id")
    originals = user_has_any_role(request.user, ENGINEERS)
    turns = session_transcript(session=session)
    pairs = list(session.preference_pairs.select_related("chosen", "rejected"))
    session_texts_attach(turns=turns, pairs=pairs, originals=originals)
    return render(
        request,
        "ingest/session_detail.html",
        {
            "session": session,
            "turns": turns,
            "originals": originals,
            "panels": session_panels(session) if originals else [],
            "pairs": pairs,
        },
    )


@require_http_methods(["GET", "POST"])
@role_required(ENGINEERS)
def import_upload(request):
    if request.method == "POST":
        upload = request.FILES.get("file")
        fmt = request.POST.get("format", "auto")
        refused = uploads_refused(request)
        if refused or (upload is not None and upload.size > settings.FLYWHEEL_UPLOAD_MAX_BYTES):
            name = refused[0] if refused else upload.name
            flash.error(
                request,
                _("%(name)s is %(limit)s; nothing was stored.") % {"name": name, "limit": upload_limit_message()},
            )
        elif upload is None:
            flash.error(request, _("Choose a file to import."))
        elif fmt not in FORMATS + ("auto",):
            flash.error(request, _("Unknown format %(format)r.") % {"format": fmt})
        else:
            try:
                import_file = import_file_start(source=upload, name=upload.name, fmt=fmt, user=request.user)
            except (RecordError, UploadTooLarge) as exc:
                flash.error(request, str(exc))
            else:
                audit_record(
                    actor=request.user,
                    action="import.start",
                    target_type="import",
                    target_id=import_file.id,
                    detail={"name": import_file.name, "format": import_file.format},
                )
                return redirect("ingest:import_detail", import_id=import_file.id)
    imports = imports_recent()
    for item in imports:
        item.outcome = import_file_outcome(item)
    return render(request, "ingest/import_upload.html", {"formats": FORMATS, "imports": imports})


@role_required(ENGINEERS)
def import_detail(request, import_id: int):
    return render(request, "ingest/import_detail.html", _import_context(import_id))


@role_required(ENGINEERS)
def import_status(request, import_id: int):
    """The page's status block; it polls itself until the import has finished."""
    return render(request, "ingest/_import_status.html", _import_context(import_id))


def _import_context(import_id: int) -> dict:
    import_file = get_object_or_404(ImportFile.objects.select_related("job"), id=import_id)
    job, report = import_file.job, import_file.report
    outcome = import_file_outcome(import_file)
    follow_on = list(Job.objects.filter(id__in=report.get("follow_on_jobs", []))) if report else []
    return {"import_file": import_file, "job": job, "report": report, "outcome": outcome, "follow_on": follow_on}
