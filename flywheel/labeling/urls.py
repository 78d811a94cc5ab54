from django.urls import path

from flywheel.labeling import views

app_name = "labeling"
urlpatterns = [
    path("", views.index, name="index"),
    path("redrive/", views.redrive, name="redrive"),
    path("run/", views.run_now, name="run"),
]
