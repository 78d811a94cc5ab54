import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from flywheel.continuity.classifier import LANGUAGES
from flywheel.continuity.engine import predict_conversations
from flywheel.continuity.jsonl import BadLine, conversation_from_line
from flywheel.continuity.models import ContinuityModelVersion
from flywheel.continuity.services import (
    PACKAGED_DIR,
    ActiveModel,
    ContinuityModelMissing,
    _load,
    continuity_model_active,
)

BATCH = 256


class Command(BaseCommand):
    help = (
        'Read conversations ({"messages": [...]} per line) and write each with "continuity": '
        "[null, p2, p3, ...]: P(the user turn continues the topic), one value per user turn, null for the "
        "first. The output appears only when every line was read; a bad line names its number. A turn is a "
        "new topic below its language's threshold (printed at the end)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, help="JSONL file of conversations.")
        parser.add_argument("--output", required=True, help="JSONL file to write.")
        parser.add_argument(
            "--model-version", dest="model_version", default="", help="A trained version (default: the active one)."
        )

    def handle(self, *args, input, output, model_version, **options):
        source, target = Path(input), Path(output)
        if not source.is_file():
            raise CommandError(f"{source} does not exist")
        model = self._model(model_version)
        self.stderr.write(f"continuity model {model.version}{' (packaged default)' if model.packaged else ''}")
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".continuity-", dir=target.parent)
        counts = {"conversations": 0, "user_turns": 0, "switches": 0}
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out, source.open(encoding="utf-8") as lines:
                batch: list[tuple[dict, list[dict]]] = []
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        batch.append(conversation_from_line(line, f"{source}:{number}"))
                    except BadLine as exc:
                        raise CommandError(str(exc)) from None
                    if len(batch) >= BATCH:
                        self._write(batch, model, out, counts)
                        batch = []
                self._write(batch, model, out, counts)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        thresholds = {
            language: round(
                model.override if model.override is not None else model.classifier.threshold_for(language), 4
            )
            for language in LANGUAGES
        }
        self.stdout.write(
            json.dumps({**counts, "model_version": model.version, "thresholds": thresholds, "output": str(target)})
        )

    def _write(self, batch, model, out, counts) -> None:
        if not batch:
            return
        probabilities = predict_conversations([messages for _, messages in batch], model.classifier)
        for (record, messages), values in zip(batch, probabilities):
            out.write(json.dumps({**record, "continuity": values}, ensure_ascii=False) + "\n")
            counts["conversations"] += 1
            counts["user_turns"] += len(values)
            users = [m["content"] for m in messages if m["role"] == "user"]
            counts["switches"] += sum(
                1 for text, v in zip(users, values) if v is not None and v < model.threshold_for(text)
            )

    def _model(self, version: str):
        try:
            if version:
                row = ContinuityModelVersion.objects.filter(version=version).first()
                if row is None:
                    raise CommandError(f"no continuity model version {version!r}")
                classifier = _load(Path(row.path))
                return ActiveModel(version=row.version, classifier=classifier, threshold=row.threshold, packaged=False)
            return continuity_model_active()
        except ContinuityModelMissing as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            if version or not (PACKAGED_DIR / "meta.json").exists():
                raise CommandError(f"the database is not available ({exc}); run `manage.py migrate` first") from exc
            self.stderr.write(
                f"note: the database is not available ({str(exc).strip()[:120]}); using the packaged default model"
            )
            classifier = _load(PACKAGED_DIR)
            return ActiveModel(
                version=str(classifier.meta.get("version")),
                classifier=classifier,
                threshold=classifier.threshold,
                packaged=True,
            )
