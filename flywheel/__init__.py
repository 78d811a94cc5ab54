"""Flywheel: the Django project. The Celery app is loaded with Django so tasks can be sent."""

from flywheel.celery import app as celery_app

__all__ = ["celery_app"]
