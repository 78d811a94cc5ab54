from django.urls import path

from flywheel.cleaning import views

app_name = "cleaning"
urlpatterns = [
    path("", views.index, name="index"),
    path("rules/", views.rules_edit, name="rules"),
    path("rules/<slug:rule>/samples/", views.samples, name="samples"),
    path("rerun/", views.rerun, name="rerun"),
    path("pii/", views.pii, name="pii"),
    path("duplicates/", views.duplicates, name="duplicates"),
]
