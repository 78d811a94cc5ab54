from django.urls import path

from flywheel.datasets import views

app_name = "datasets"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.build_new, name="build_new"),
    path("builds/<int:build_id>/", views.build_detail, name="build"),
    path("<int:version_id>/", views.version_detail, name="version"),
    path("<int:version_id>/samples/", views.version_samples, name="samples"),
    path("<int:version_id>/samples/<int:position>/", views.sample_detail, name="sample"),
    path("<int:version_id>/diff/", views.version_diff, name="diff"),
    path("<int:version_id>/export/", views.version_export, name="export"),
]
