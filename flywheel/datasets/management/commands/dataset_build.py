import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from flywheel.datasets.services import dataset_build_request, dataset_build_run


class Command(BaseCommand):
    help = (
        "Build a dataset version in the foreground (the same work as the build job) and print a JSON line: "
        "version id, content hash, sample count, whether an existing version was reused."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default="")
        parser.add_argument("--config", default="{}", help="build settings as a JSON object (see the README)")
        parser.add_argument("--config-file", help="build settings in a JSON file")

    def handle(self, *args, name, config, config_file, **options):
        try:
            settings = json.loads(Path(config_file).read_text() if config_file else config)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read the build settings: {exc}") from exc
        try:
            build = dataset_build_request(config=settings, name=name, enqueue=False)
            report = dataset_build_run(build_id=build.id, progress=lambda done, total, note: self.stderr.write(note))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps({"build": build.id, **report}))
