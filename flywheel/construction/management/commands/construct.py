import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from flywheel.construction.mining import badcase_mine_pending
from flywheel.construction.services import (
    NothingToConstruct,
    construction_run_abandon,
    construction_run_create,
    construction_run_execute,
)
from flywheel.llm.client import LLMRequestRejected, LLMUnavailable, llm_is_configured
from flywheel.pipeline.registry import STAGES
from flywheel.pipeline.services import pipeline_run


class Command(BaseCommand):
    help = (
        "Clean pending sessions and mine new bad cases, then run Best-of-N construction for up to --limit of them in the foreground "
        "(teacher and judge from OPENAI_BASE_URL). Prints a one-line JSON summary last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, required=True, help="Bad cases to construct at most.")
        parser.add_argument(
            "--n", type=int, default=settings.FLYWHEEL_CONSTRUCTION_N, help="Teacher answers per bad case."
        )
        parser.add_argument("--temperature", type=float, default=settings.FLYWHEEL_CONSTRUCTION_TEMPERATURE)
        parser.add_argument(
            "--margin",
            type=float,
            default=settings.FLYWHEEL_CONSTRUCTION_PAIR_MARGIN,
            help="Judge-score margin (1..10 scale) a pair must clear.",
        )
        parser.add_argument(
            "--max-calls",
            type=int,
            default=settings.FLYWHEEL_CONSTRUCTION_MAX_CALLS,
            help="LLM request budget of the run.",
        )
        parser.add_argument(
            "--max-cost",
            type=float,
            default=settings.FLYWHEEL_CONSTRUCTION_MAX_COST_USD,
            help="Cost budget in USD (0: none).",
        )

    def handle(self, *args, limit, n, temperature, margin, max_calls, max_cost, **options):
        if not llm_is_configured():
            raise CommandError(
                "no LLM is configured: set OPENAI_BASE_URL (and OPENAI_API_KEY, FLYWHEEL_TEACHER_MODEL, "
                "FLYWHEEL_JUDGE_MODEL); construction needs a teacher and a judge"
            )
        # Only sessions cleaning kept are constructed: clean what is pending first (cheap, no LLM),
        # then mine.
        stages = pipeline_run(
            only={"cleaning"} & set(STAGES),
            progress=lambda done, total, note: self.stderr.write(f"running the {note} stage"),
        )
        mined = badcase_mine_pending(progress=lambda done, total, note: self.stderr.write(f"mining {note}"))
        new_cases = sum(source["bad_cases_new"] for source in mined.values())
        if stages.get("cleaning"):
            self.stderr.write(f"cleaning: {stages['cleaning']}")
        self.stderr.write(f"mined {new_cases} new bad cases")
        config = {
            "n": n,
            "temperature": temperature,
            "margin": margin,
            "max_calls": max_calls,
            "max_cost_usd": max_cost,
        }
        try:
            run = construction_run_create(limit=limit, config=config, with_job=False)
        except NothingToConstruct as exc:
            self.stderr.write(str(exc))
            summary = {
                "run_id": None,
                "bad_cases_mined": new_cases,
                "bad_cases": 0,
                "candidates": 0,
                "sft_answers": 0,
                "pairs": 0,
                "pairs_refused": {},
                "sft_refused": {},
                "judge_failures": 0,
                "llm_calls": 0,
                "cost_usd": 0.0,
                "length_bias": None,
                "stopped": "",
            }
            self.stdout.write(json.dumps(summary))
            return
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        def progress(done, total, note):
            self.stderr.write(f"[{done}/{total}] {note}")

        try:
            summary = construction_run_execute(run_id=run.id, progress=progress)
        except LLMUnavailable as exc:
            construction_run_abandon(run_id=run.id, reason=f"the LLM server is unavailable: {exc}")
            raise CommandError(
                f"run {run.id} stopped: {exc} (run the command again to resume; what was paid for is kept)"
            ) from exc
        except KeyboardInterrupt:
            construction_run_abandon(run_id=run.id, reason="interrupted")
            raise
        except LLMRequestRejected as exc:
            raise CommandError(
                f"run {run.id} stopped: {exc} (run the command again to resume; what was paid for is kept)"
            ) from exc
        for line in summary.pop("account", []):
            self.stderr.write(line)
        if summary.get("stopped"):
            self.stderr.write(summary["stopped"])
        self.stdout.write(json.dumps({"bad_cases_mined": new_cases, **summary}, default=str))
