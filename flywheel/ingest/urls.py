from django.urls import path

from flywheel.ingest import views

app_name = "ingest"
urlpatterns = [
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/<path:external_id>/", views.session_detail, name="session_detail"),
    path("imports/", views.import_upload, name="import_upload"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/status/", views.import_status, name="import_status"),
]
