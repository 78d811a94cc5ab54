"""The Celery application. Queues: `default` (cleaning, dedup, continuity, curation), `llm`
(labeling, judging, Best-of-N, synthesis) and `gpu` (training, evaluation; its own worker)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")

app = Celery("flywheel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("llm"), Queue("gpu")]
app.autodiscover_tasks()
