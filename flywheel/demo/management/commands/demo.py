import json
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from flywheel.dashboard.services import stats_rollup
from flywheel.demo.decisions import demo_review_decide
from flywheel.demo.loop import (
    DemoError,
    demo_dataset_build,
    demo_replay_file_ensure,
    demo_tiny_model_ensure,
    demo_training_run,
)
from flywheel.demo.services import demo_allowed_check, demo_logs_ingest, demo_users_ensure
from flywheel.pipeline.services import pipeline_run


class Command(BaseCommand):
    help = (
        "Run the whole loop on generated logs: migrate, create a user per role, ingest demo logs, run every "
        "pipeline stage (cleaning, labels, continuity, bad cases, review routing), decide the review items as the "
        "demo annotators (marked as demo decisions), build a dataset version, train the tiny model on CPU for a "
        "few steps, then serve the UI (unless --no-serve). Asks nothing; prints a one-line JSON summary last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--serve", dest="serve", action="store_true", default=True)
        parser.add_argument("--no-serve", dest="serve", action="store_false")
        parser.add_argument("--sessions", type=int, default=300)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-train", dest="train", action="store_false", default=True, help="stop after the dataset version"
        )

    def say(self, text: str) -> None:
        self.stderr.write(text)

    def handle(self, *args, serve, sessions, seed, addr, train, **options):
        started = time.monotonic()
        try:
            demo_allowed_check()  # before migrate touches the database
            summary = self.loop(sessions=sessions, seed=seed, train=train)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        summary["seconds"] = round(time.monotonic() - started, 1)
        self.say("\nDemo logins (username / password / role):")
        for username, password, role in summary.pop("logins"):
            self.say(f"  {username:<11} {password:<16} {role}")
        if summary.get("run"):
            self.say(f"\nThe loss curve: http://{addr}/runs/{summary['run']}/  (log in as ops)")
        self.stdout.write(json.dumps(summary, default=str))
        if serve:
            self.say(f"\nServing Flywheel on http://{addr}/  (Ctrl-C to stop)")
            call_command("runserver", addr, use_reloader=False)

    def loop(self, *, sessions: int, seed: int, train: bool) -> dict:
        call_command("migrate", interactive=False, verbosity=0)
        logins = demo_users_ensure()
        ops = get_user_model().objects.get(username="ops")
        ingested = demo_logs_ingest(seed=seed, sessions=sessions)
        self.say(f"ingested {ingested['sessions']} demo sessions")
        stages = pipeline_run(progress=lambda done, total, note: self.say(f"[{done + 1}/{total}] {note}"))
        decided = demo_review_decide(seed=seed, sessions=sessions)
        self.say(
            f"review: the demo annotators decided {sum(decided.values())} items {decided or ''} (marked as demo decisions)"
        )
        demo_replay_file_ensure()
        build = demo_dataset_build(seed=seed, user=ops)
        version = build.version
        self.say(
            f"dataset v{version.id} {version.short_hash}: {version.train_count} train / {version.eval_count} eval "
            f"conversations, {version.pair_count} pairs{' (the same content as before: reused)' if build.reused else ''}"
        )
        summary = {
            "sessions": ingested["sessions"],
            "stages": stages,
            "review_decisions": decided,
            "dataset_version": version.id,
            "dataset_hash": version.content_hash,
            "dataset_size": version.sample_count,
            "dataset_train": version.train_count,
            "dataset_eval": version.eval_count,
            "run": None,
            "first_loss": None,
            "last_loss": None,
            "database": str(settings.DATABASES["default"]["NAME"]),
            "logins": logins,
        }
        stats_rollup()
        if not train:
            return summary
        model = demo_tiny_model_ensure()
        self.say(f"training the tiny model ({model}) on CPU")
        run = demo_training_run(version=version, model=model, user=ops, on_step=self.on_step)
        self.say(
            f"run #{run.id} {run.status}: loss {run.first_loss:.3f} → {run.last_loss:.3f} in {run.current_step} steps"
        )
        return {
            **summary,
            "run": run.id,
            "steps": run.current_step,
            "first_loss": run.first_loss,
            "last_loss": run.last_loss,
            "channels": run.channels,
        }

    def on_step(self, step: int, total: int | None, loss: float | None) -> None:
        if step and (step == 1 or step % 10 == 0 or step == total):
            self.say(
                f"  step {step}{f'/{total}' if total else ''}  loss {loss:.3f}"
                if loss is not None
                else f"  step {step}"
            )
