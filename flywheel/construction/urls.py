from django.urls import path

from flywheel.construction import views

app_name = "construction"
urlpatterns = [
    path("", views.index, name="index"),
    path("badcases/<int:bad_case_id>/", views.badcase_detail, name="badcase"),
    path("badcases/<int:bad_case_id>/settings/", views.badcase_settings, name="badcase_settings"),
    path("badcases/<int:bad_case_id>/reset/", views.badcase_reset_view, name="badcase_reset"),
    path("badcases/<int:bad_case_id>/accept-tests/", views.badcase_tests_accept, name="badcase_tests_accept"),
    path("runs/", views.run_list, name="runs"),
    path("runs/start/", views.run_start, name="run_start"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("synthesis/", views.synthesis, name="synthesis"),
    path("synthesis/start/", views.synthesis_start, name="synthesis_start"),
    path("synthesis/seeds/", views.seed_add, name="seed_add"),
    path("synthesis/samples/<int:sample_id>/", views.synthetic_detail, name="synthetic"),
]
