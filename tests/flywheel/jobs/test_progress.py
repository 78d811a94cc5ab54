"""Long-running work reports progress in one shape, `progress(done, total, note)`
(flywheel.jobs.progress): a job hands its JobContext.progress straight to the service, with no
adapter in between, and no app defines a shape of its own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from flywheel.jobs.models import Job
from flywheel.jobs.services import JobContext

REPO = Path(__file__).resolve().parents[3]


def flywheel_modules() -> list[Path]:
    return [path for path in sorted((REPO / "flywheel").rglob("*.py")) if "migrations" not in path.parts]


def test_no_app_defines_a_progress_shape_of_its_own():
    offenders = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in flywheel_modules()
        if path != REPO / "flywheel/jobs/progress.py"
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.match(r"\s*(class )?Progress\b.*[=(:]", line)
    ]
    assert offenders == []


def test_no_job_handler_wraps_its_progress_report_in_an_adapter():
    """`progress=lambda ...: ctx.progress(...)` is what the one shape removed."""
    offenders = []
    for path in flywheel_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "progress" and isinstance(node.value, ast.Lambda):
                if "ctx.progress" in ast.unparse(node.value):
                    offenders.append(f"{path.relative_to(REPO)}:{node.value.lineno}")
    assert offenders == []


@pytest.mark.django_db
def test_a_jobs_progress_report_lands_on_its_row_in_the_one_shape():
    job = Job.objects.create(kind="tests.selftest", status=Job.Status.RUNNING, worker="here")
    progress = JobContext(job, "here").progress
    progress(3, 10, "three of ten")
    progress(4, None, "")  # total unknown, nothing to add: the last total and note stay
    job.refresh_from_db()
    assert (job.progress_done, job.progress_total, job.progress_note) == (4, 10, "three of ten")
