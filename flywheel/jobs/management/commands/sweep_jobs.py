import json

from django.core.management.base import BaseCommand

from flywheel.jobs.services import jobs_sweep


class Command(BaseCommand):
    help = "Re-send jobs whose broker message or worker was lost (Celery beat runs this periodically)."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(jobs_sweep()))
