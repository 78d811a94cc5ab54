import time

from flywheel.jobs.registry import RetryableJobError
from flywheel.jobs.services import JobContext
from tests.support.selftest.models import SelfTestMark


def selftest(ctx: JobContext) -> dict:
    """Sleeps through `steps` progress reports, fails its first `fail_attempts` attempts on
    purpose, then leaves one mark."""
    steps = int(ctx.payload.get("steps", 5))
    step_seconds = float(ctx.payload.get("step_seconds", 0.5))
    if ctx.attempt <= int(ctx.payload.get("fail_attempts", 0)):
        raise RetryableJobError(f"failing attempt {ctx.attempt} on purpose", retry_after_s=0.5)
    for step in range(steps):
        time.sleep(step_seconds)
        ctx.progress(step + 1, steps, note=f"step {step + 1} of {steps}")
    SelfTestMark.objects.get_or_create(job_id=ctx.job_id)
    return {"steps": steps, "attempt": ctx.attempt}
