"""The continuity figures of an earlier packaged model, on today's test-side evaluation sets.

An older model needs its own feature code and embedding model, so it runs from its own commit:
this script builds the test-side evaluation sets with the current code, exports their
conversations, lets a copy of the given commit (`git archive`, in a temporary directory) score
every user turn with that commit's packaged model, and reports each set with the current
metrics (AUC, precision and recall of "new topic" at that model's own threshold).

Only fair for a model that never saw the test side: the commit 997728b model (all-MiniLM-L6-v2)
held out exactly the conversations `flywheel/continuity/public_split.json` pins to the test side
for the sources it was trained on (KdConv film and music, hh-rlhf); the others are new to it.

Run: `python bench/continuity_previous_model.py [--commit 997728b] [--json FILE]`. No database.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Runs inside the old checkout: reads conversations (JSON list of message lists), writes P(continue)
# for every user turn after the first, and the model's threshold.
SCORER = """
import json, os, sys
import django
django.setup()
from flywheel.continuity.classifier import TrainedClassifier
from flywheel.continuity.engine import EmbeddingCache, predict_conversations
from flywheel.continuity.services import PACKAGED_DIR
model = TrainedClassifier.load(PACKAGED_DIR)
conversations = json.load(open(sys.argv[1]))
scores = predict_conversations(conversations, model, embed=EmbeddingCache())
json.dump({"threshold": model.threshold, "version": model.meta.get("version"),
           "embedding_model": model.meta.get("embedding_model"), "scores": scores}, open(sys.argv[2], "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commit", default="997728b")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import django

    django.setup()
    import numpy as np

    from flywheel.continuity.classifier import evaluate, turn_language
    from flywheel.continuity.evaluation import evaluation_sets, split_sources
    from flywheel.continuity.public_samples import public_sample_sets
    from tests.support.datasets import SHARED_DATASETS

    sets = evaluation_sets(split_sources(public_sample_sets(SHARED_DATASETS))["test"], seed=7)
    flat = [(name, conv) for name, s in sets.items() for conv in s.conversations]
    with tempfile.TemporaryDirectory() as directory:
        old = Path(directory) / "checkout"
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.commit], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        conversations, scored = Path(directory) / "in.json", Path(directory) / "out.json"
        conversations.write_text(json.dumps([conv.messages for _, conv in flat], ensure_ascii=False))
        env = {
            **os.environ,
            "FLYWHEEL_VAR_DIR": str(Path(directory) / "var"),
            "FLYWHEEL_EMBEDDING_MODEL": "",
            "PYTHONPATH": str(old),
        }
        subprocess.run([sys.executable, "-c", SCORER, str(conversations), str(scored)], cwd=old, env=env, check=True)
        result = json.loads(scored.read_text())

    threshold = float(result["threshold"])
    per_set: dict[str, dict[str, list]] = {}
    for (name, conv), scores in zip(flat, result["scores"]):
        users = [i for i, m in enumerate(conv.messages) if m["role"] == "user"]
        part = per_set.setdefault(name, {"scores": [], "labels": [], "baseline": [], "languages": []})
        for k, (score, label) in enumerate(zip(scores[1:], conv.labels[1:]), start=1):
            if label is None:
                continue
            part["scores"].append(score)
            part["labels"].append(label)
            part["languages"].append(turn_language(conv.messages[users[k]]["content"]))
    report = {}
    for name, part in per_set.items():
        labels = np.asarray(part["labels"])
        if len(set(labels.tolist())) == 2:
            report[name] = evaluate(np.asarray(part["scores"]), labels, threshold)
    for language in ("zh", "en"):
        scores = [s for p in per_set.values() for s, lang in zip(p["scores"], p["languages"]) if lang == language]
        labels = [y for p in per_set.values() for y, lang in zip(p["labels"], p["languages"]) if lang == language]
        if len(set(labels)) == 2:
            report[f"all:{language}"] = evaluate(np.asarray(scores), np.asarray(labels), threshold)
    print(f"previous model {result['version']} ({result['embedding_model']}), threshold {threshold:.3f}, test side")
    print("| set | turns | new topic | AUC | P new | R new |\n| --- | --- | --- | --- | --- | --- |")
    for name, r in report.items():
        print(
            f"| {name} | {r['n']} | {r['switching']} | {r['roc_auc']:.3f} | {r['precision_switch']:.2f} | "
            f"{r['recall_switch']:.2f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"version": result["version"], "threshold": threshold, "report": report}, indent=2)
        )


if __name__ == "__main__":
    main()
