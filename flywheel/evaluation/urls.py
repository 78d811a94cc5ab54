from django.urls import path

from flywheel.evaluation import views

app_name = "evaluation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:evaluation_id>/", views.detail, name="detail"),
    path("<int:evaluation_id>/items/<int:item_id>/", views.regression, name="regression"),
    path("<int:evaluation_id>/human-review/", views.human_review, name="human_review"),
    path("runs/<int:run_id>/promote/", views.promote, name="promote"),
    path("sessions/<int:session_id>/add/", views.session_answer_add, name="session_answer_add"),
    path("drafts/<int:draft_id>/", views.draft_detail, name="draft"),
    path("drafts/<int:draft_id>/freeze/", views.draft_freeze, name="draft_freeze"),
    path("drafts/items/<int:item_id>/remove/", views.draft_item_remove, name="draft_item_remove"),
]
