from django.core.management.base import BaseCommand, CommandError

from flywheel.accounts.roles import Role
from flywheel.accounts.services import user_create_with_role


class Command(BaseCommand):
    help = "Create (or reset) a user with one role: annotator, engineer, ops or admin."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--password", required=True)

    def handle(self, *args, username, role, password, **options):
        if len(password) < 8:
            raise CommandError("the password must have at least 8 characters")
        user_create_with_role(username=username, password=password, role=Role(role))
        self.stdout.write(f"{username} ({role}) ready")
