from django.urls import path

from flywheel.curation import views

app_name = "curation"
urlpatterns = [
    path("versions/<int:version_id>/diversity/", views.version_diversity, name="diversity"),
    path("versions/<int:version_id>/ifd/", views.version_ifd, name="ifd"),
    path("versions/<int:version_id>/reward/", views.version_reward, name="reward"),
]
