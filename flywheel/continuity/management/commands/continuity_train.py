import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from flywheel.continuity.services import ContinuityTrainingError, continuity_model_train, packaged_model_write


class Command(BaseCommand):
    help = (
        "Train a continuity classifier version from the stored sessions (real sessions as positives, spliced "
        "ones as negatives, reviewers' answers as labels) and the public samples if given (their real topic "
        "changes too), choose thresholds per language on the validation side, evaluate it on the test side "
        "(split by conversation before any splicing) and activate it. Prints the version and its evaluation "
        "as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--public-samples",
            type=Path,
            help="Also learn from the public samples in this directory "
            "(KdConv, CrossWOZ, TIAGE, hh-rlhf; about 30%% of each is held out for the report).",
        )
        parser.add_argument(
            "--no-entity-changes",
            action="store_true",
            help="Count KdConv's entity changes as continuing instead of (down-weighted) new topics.",
        )
        parser.add_argument("--no-stored", action="store_true", help="Do not use the stored sessions.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-activate", action="store_true", help="Keep the current version active.")
        parser.add_argument(
            "--write-packaged",
            action="store_true",
            help="Also copy the new version into the package as the default model.",
        )

    def handle(self, *args, public_samples, no_stored, seed, no_activate, write_packaged, no_entity_changes, **options):
        if public_samples is not None and not public_samples.is_dir():
            raise CommandError(f"{public_samples} is not a directory")
        try:
            row = continuity_model_train(
                public_samples=public_samples,
                seed=seed,
                activate=not no_activate,
                use_stored=not no_stored,
                entity_changes=not no_entity_changes,
                progress=lambda done, total, note: self.stderr.write(note),
            )
        except ContinuityTrainingError as exc:
            raise CommandError(str(exc)) from exc
        if write_packaged:
            packaged_model_write(version_id=row.id)
        self.stdout.write(
            json.dumps(
                {
                    "version": row.version,
                    "active": row.active,
                    "threshold": row.threshold,
                    "training": row.training,
                    "evaluation": row.evaluation,
                }
            )
        )
