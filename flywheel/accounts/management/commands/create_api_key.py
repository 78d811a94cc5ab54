from django.core.management.base import BaseCommand, CommandError

from flywheel.accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a machine client. The key is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the key is for (shown in the admin).")

    def handle(self, *args, name, **options):
        try:
            created = api_key_create(name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"Created API key {created.api_key.name!r}. Store it now: it is not shown again.")
        self.stdout.write(created.raw_key)
