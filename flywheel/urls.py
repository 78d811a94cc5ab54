from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView

from flywheel.accounts import views as account_views
from flywheel.accounts.permissions import HasAllowedRole
from flywheel.accounts.roles import STAFF_ROLES, public


@public
def healthz(request):
    return JsonResponse({"status": "ok"})


class SchemaView(SpectacularAPIView):
    allowed_roles = STAFF_ROLES
    # SpectacularAPIView sets its own (AllowAny) permission classes; without this line the
    # schema is served to anyone, whatever allowed_roles says.
    permission_classes = [HasAllowedRole]


urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    # The translations static/js uses (gettext() in scripts), in the request's language.
    path("jsi18n/", public(JavaScriptCatalog.as_view()), name="javascript-catalog"),
    path("accounts/", include("flywheel.accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("flywheel.ingest.api_urls")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("dashboard/", include("flywheel.dashboard.urls")),
    path("jobs/", include("flywheel.jobs.urls")),
    path("", include("flywheel.ingest.urls")),
    path("cleaning/", include("flywheel.cleaning.urls")),
    path("labeling/", include("flywheel.labeling.urls")),
    path("continuity/", include("flywheel.continuity.urls")),
    path("review/", include("flywheel.review.urls")),
    path("construction/", include("flywheel.construction.urls")),
    path("datasets/", include("flywheel.datasets.urls")),
    path("curation/", include("flywheel.curation.urls")),
    path("runs/", include("flywheel.runs.urls")),
    path("evaluations/", include("flywheel.evaluation.urls")),
]
