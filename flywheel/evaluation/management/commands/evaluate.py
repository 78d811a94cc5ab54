import json
import time

from django.core.management.base import BaseCommand, CommandError

from flywheel.evaluation.models import EvalSet
from flywheel.evaluation.services import (
    CandidateError,
    GenerationUnavailable,
    evaluation_create,
    evaluation_execute,
    overlap_warning,
)
from flywheel.llm.client import LLMRequestRejected, LLMUnavailable


class Command(BaseCommand):
    help = (
        "Evaluate a candidate (run:<id>, model:<dir> or endpoint:<model>) on an evaluation set in the foreground, "
        "judged per dimension and, with --baseline, pairwise in both orders. Stored answers and verdicts are "
        "reused: a rerun pays nothing twice. Prints one JSON summary line last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--eval-set", type=int, required=True)
        parser.add_argument("--candidate", required=True)
        parser.add_argument("--baseline", default="")
        parser.add_argument("--judge-repeats", type=int, default=1)
        parser.add_argument(
            "--offline", action="store_true", help="no judge: reference metrics only (exact match, character/word F1)"
        )
        parser.add_argument(
            "--max-wait",
            type=float,
            default=900.0,
            help="seconds to keep waiting for a server that is down before giving up",
        )

    def handle(self, *args, eval_set, candidate, baseline, judge_repeats, offline, max_wait, **options):
        if not EvalSet.objects.filter(id=eval_set).exists():
            raise CommandError(f"no evaluation set {eval_set}")
        try:
            evaluation = evaluation_create(
                eval_set_id=eval_set,
                candidate=candidate,
                baseline=baseline,
                judge_repeats=judge_repeats,
                mode="offline" if offline else "judge",
                with_job=False,
            )
        except (CandidateError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if evaluation.overlap:
            self.stderr.write("warning: " + overlap_warning(evaluation.overlap))
        deadline = time.monotonic() + max_wait
        while True:
            try:
                summary = evaluation_execute(
                    evaluation_id=evaluation.id,
                    progress=lambda done, total, note: self.stderr.write(f"[{done}/{total}] {note}"),
                )
                break
            except (GenerationUnavailable, LLMUnavailable) as exc:
                if time.monotonic() + exc.retry_after_s > deadline:
                    raise CommandError(
                        f"gave up waiting: {exc} (rerun the same command to resume: stored answers "
                        "and verdicts are kept)"
                    ) from exc
                self.stderr.write(f"waiting {exc.retry_after_s:.0f}s: {exc}")
                time.sleep(exc.retry_after_s)
            except LLMRequestRejected as exc:
                raise CommandError(f"the judge refused the request: {exc}") from exc
        self.stdout.write(json.dumps(summary, ensure_ascii=False))
