from django.urls import path

from flywheel.continuity import views

app_name = "continuity"
urlpatterns = [
    path("", views.index, name="index"),
    path("train/", views.train, name="train"),
    path("versions/<int:version_id>/activate/", views.activate, name="activate"),
]
