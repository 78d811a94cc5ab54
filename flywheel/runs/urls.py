from django.urls import path

from flywheel.runs import views

app_name = "runs"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.run_new, name="new"),
    path("<int:run_id>/", views.run_page, name="detail"),
    path("<int:run_id>/status/", views.run_status, name="status"),
    path("<int:run_id>/charts/<str:name>/", views.run_chart_json, name="chart"),
    path("<int:run_id>/cancel/", views.run_cancel, name="cancel"),
    path("<int:run_id>/resume/", views.run_resume, name="resume"),
]
