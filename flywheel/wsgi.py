import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
application = get_wsgi_application()

# After the application, so that Django is set up; the import is here for the same reason.
from flywheel.jobs.services import jobs_thread_runner_start  # noqa: E402

jobs_thread_runner_start()
