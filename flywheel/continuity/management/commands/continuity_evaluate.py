import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from flywheel.continuity.classifier import TrainedClassifier, turn_language
from flywheel.continuity.engine import EmbeddingCache, embed_with
from flywheel.continuity.evaluation import EvaluationSet, evaluation_sets, report, split_sources, train_and_report
from flywheel.continuity.jsonl import BadLine, labelled_conversations
from flywheel.continuity.public_samples import public_sample_sets
from flywheel.continuity.services import PACKAGED_DIR, embedding_cache_path
from flywheel.llm.embeddings import embedding_model_name

SIDES = ("validation", "test")


class Command(BaseCommand):
    help = (
        "Judge continuity on the public samples, per set and per language, beside the char-bigram baseline: "
        "either the packaged default on the test side it never saw, or (--train) a classifier trained here on "
        "the training side with the chosen --embedding, reported on --side (validation to choose, test only "
        "for the final figures). --labelled adds your own human-segmented conversations (JSONL, never trained "
        "on; see docs/continuity.md). Prints a table; --json writes the whole report."
    )

    def add_arguments(self, parser):
        parser.add_argument("--public-samples", type=Path, help="Directory of the public samples.")
        parser.add_argument(
            "--labelled",
            type=Path,
            action="append",
            default=[],
            help='JSONL of conversations with "labels" (one per user turn: null, 1 continues, 0 new topic); '
            "judged as one more set, never trained on. Repeatable.",
        )
        parser.add_argument("--train", action="store_true", help="Train a throwaway classifier first.")
        parser.add_argument(
            "--embedding",
            default=None,
            help="Packaged embedding name or local sentence-transformers path (default: the setting).",
        )
        parser.add_argument(
            "--side", choices=SIDES, default="validation", help="Side of the split to report (--train)."
        )
        parser.add_argument(
            "--no-entity-changes", action="store_true", help="Train with KdConv's entity changes counted as continuing."
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="Read only the first N conversations of each source (a quick look)."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", type=Path, help="Write the report here.")

    def handle(
        self,
        *args,
        public_samples,
        train,
        embedding,
        side,
        no_entity_changes,
        limit,
        seed,
        json: Path | None,
        labelled: list[Path],
        **options,
    ):
        if public_samples is None and not labelled:
            raise CommandError("give --public-samples DIR, --labelled FILE, or both")
        if train and public_samples is None:
            raise CommandError("--train learns from the public samples: give --public-samples DIR")
        sets = {}
        if public_samples is not None:
            if not public_samples.is_dir():
                raise CommandError(f"{public_samples} is not a directory")
            sets = {name: conversations[:limit] for name, conversations in public_sample_sets(public_samples).items()}
            if not sets:
                raise CommandError(f"no public samples found in {public_samples}")
        own = self._labelled_sets(labelled, limit)
        name = embedding_model_name(embedding)
        cache = EmbeddingCache(embed_with(embedding), path=embedding_cache_path(embedding))
        try:
            if train:
                result = self._train(sets, cache, name, side, seed, not no_entity_changes)
            elif sets:
                result = self._packaged(sets, cache, name, seed)
            else:
                result = self._packaged_only(name)
            if own:
                result["report"].update(self._judge_labelled(result["classifier"], own, cache))
        finally:
            cache.save()
        result.pop("classifier")
        self.stdout.write(format_report(result["report"], title=result["title"]))
        if json is not None:
            json.parent.mkdir(parents=True, exist_ok=True)
            json.write_text(_dumps(result))

    def _labelled_sets(self, paths: list[Path], limit: int | None) -> dict[str, EvaluationSet]:
        """Each --labelled file as one set, named after the file; its language is its users' majority."""
        out = {}
        for path in paths:
            if not path.is_file():
                raise CommandError(f"{path} does not exist")
            try:
                conversations = labelled_conversations(path)[:limit]
            except BadLine as exc:
                raise CommandError(str(exc)) from None
            except UnicodeDecodeError:
                raise CommandError(f"{path} is not UTF-8 text") from None
            if not any(label == 0 for c in conversations for label in c.labels):
                raise CommandError(f"{path}: no user turn is labelled 0 (a new topic): there is nothing to find")
            users = [m["content"] for c in conversations for m in c.messages if m["role"] == "user"]
            chinese = sum(turn_language(text) == "zh" for text in users)
            language = "zh" if chinese > len(users) / 2 else "en"
            name = f"labelled:{path.stem}"
            if name in out:
                raise CommandError(f"two --labelled files are named {path.stem}: rename one")
            out[name] = EvaluationSet(name, language, conversations)
        return out

    def _judge_labelled(self, classifier, own: dict[str, EvaluationSet], cache) -> dict:
        thresholds = classifier.meta.get("baseline_thresholds", {})
        found = report(
            classifier, own, cache, {k: v for k, v in thresholds.items() if k != "all"}, thresholds.get("all", 0.5)
        )
        # The pooled "all:<language>" rows belong to the public samples' table.
        return {name: part for name, part in found.items() if not name.startswith("all:")}

    def _packaged_only(self, name) -> dict:
        classifier = self._packaged_classifier(name)
        return {
            "title": f"packaged model {classifier.meta.get('version')} on your labelled conversations",
            "embedding_model": name,
            "side": "test",
            "thresholds": classifier.thresholds,
            "threshold": classifier.threshold,
            "report": {},
            "classifier": classifier,
        }

    def _packaged_classifier(self, name) -> TrainedClassifier:
        classifier = TrainedClassifier.load(PACKAGED_DIR)
        if classifier.meta.get("embedding_model") != name:
            raise CommandError(
                f"the packaged model expects the embedding {classifier.meta.get('embedding_model')!r}, not {name!r}"
            )
        return classifier

    def _train(self, sets, cache, name, side, seed, entity_changes) -> dict:
        result = train_and_report(
            sets,
            embed=cache,
            seed=seed,
            entity_changes=entity_changes,
            report_on=(side,),
            meta={"embedding_model": name},
        )
        return {
            "title": f"trained here on the training side, embedding {name}, reported on the {side} side",
            "embedding_model": name,
            "side": side,
            "thresholds": result.classifier.thresholds,
            "threshold": result.classifier.threshold,
            "training": result.training,
            "baseline_thresholds": result.classifier.meta["baseline_thresholds"],
            "report": result.report[side],
            "classifier": result.classifier,
        }

    def _packaged(self, sets, cache, name, seed) -> dict:
        classifier = self._packaged_classifier(name)
        sides = split_sources(sets)
        recorded = classifier.meta.get("held_out") or {}
        if not recorded:
            raise CommandError("the packaged model records no held-out conversations; retrain it (continuity_train)")
        for source, keys in recorded.items():
            here = {c.meta["key"] for c in sides["test"].get(source, [])}
            if source in sets and not here <= set(keys):
                raise CommandError(f"the test side of {source} here is not the one the packaged model held out")
        thresholds = classifier.meta.get("baseline_thresholds", {})
        found = report(
            classifier,
            evaluation_sets(sides["test"], seed=seed + 7),
            cache,
            {k: v for k, v in thresholds.items() if k != "all"},
            thresholds.get("all", 0.5),
        )
        return {
            "title": f"packaged model {classifier.meta.get('version')} on the test side (never seen)",
            "embedding_model": name,
            "side": "test",
            "thresholds": classifier.thresholds,
            "threshold": classifier.threshold,
            "report": found,
            "classifier": classifier,
        }


def _dumps(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=float)


def format_report(found: dict, *, title: str) -> str:
    """A markdown table: per set, AUC of the model and the baseline, and P/R of "new topic"."""
    lines = [
        f"{title}",
        "",
        "| set | lang | turns | new topic | AUC | baseline AUC | embedding-only AUC | P new | R new | baseline P | "
        "baseline R |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, part in found.items():
        model, baseline = part["model"], part["baseline"]
        lines.append(
            f"| {name} | {part.get('language') or '-'} | {model['n']} | {model['switching']} | "
            f"{model['roc_auc']:.3f} | {baseline['roc_auc']:.3f} | {part.get('embedding_auc', float('nan')):.3f} | "
            f"{model['precision_switch']:.2f} | "
            f"{model['recall_switch']:.2f} | {baseline['precision_switch']:.2f} | {baseline['recall_switch']:.2f} |"
        )
    return "\n".join(lines)
