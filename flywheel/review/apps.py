from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "flywheel.review"
    label = "review"
