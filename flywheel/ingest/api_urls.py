from django.urls import path

from flywheel.ingest.api import IngestView

app_name = "ingest_api"
urlpatterns = [path("ingest/", IngestView.as_view(), name="ingest")]
