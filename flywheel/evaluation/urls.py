from django.urls import path

from flywheel.evaluation import views

app_name = "evaluation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:evaluation_id>/", views.detail, name="detail"),
    path("<int:evaluation_id>/items/<int:item_id>/", views.regression, name="regression"),
    path("<int:evaluation_id>/human-review/", views.human_review, name="human_review"),
    path("runs/<int:run_id>/promote/", views.promote, name="promote"),
]
