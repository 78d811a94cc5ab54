"""The Celery application. Queues: `default` (cleaning, dedup, continuity, curation), `llm`
(labeling, judging, Best-of-N, synthesis) and `gpu` (training, evaluation; its own worker)."""

import os

from celery import Celery
from celery.signals import beat_init
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")

app = Celery("flywheel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("llm"), Queue("gpu")]
app.autodiscover_tasks()


@beat_init.connect
def _sweep_from_beat(**kwargs) -> None:
    """Beat, the one process a deployment runs for periodic work, sweeps for lost jobs on a
    thread of its own. As a task on the `default` queue the sweep waited behind long pipeline
    runs holding every default worker, while jobs lost with Redis waited on other queues for
    minutes (seen by bench/soak.py)."""
    from flywheel.jobs.services import jobs_sweeper_start

    jobs_sweeper_start()
