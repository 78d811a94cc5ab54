"""Training and evaluating the continuity classifier on conversations held out before any splicing.

Splits. Every conversation has a key (its source and id). The key alone decides its side: test,
validation or train (a salted hash; the conversations in `public_split.json` are pinned to test:
the previous packaged model never saw them). Splices are made inside one side only, donors
included, so no conversation, nor a piece of one, is ever on two sides.

Evaluation sets, made from one side (each with its language):
  kdconv-splice-cross  zh  KdConv conversations as they are (every turn continues) plus one splice
                           each, the donor from another KdConv domain (film / music / travel);
  kdconv-splice-same   zh  the same with a donor from the same domain (a film into a film);
  kdconv-entity        zh  KdConv's own turns, labelled by the knowledge-graph entity they talk
                           about: a real, mostly smooth change of subject (the film, then its star);
  crosswoz             zh  CrossWOZ sessions: the user's subject changes (restaurant -> hotel),
                           real and unspliced;
  tiage                en  TIAGE chit-chat, human topic-shift labels;
  hh-rlhf-splice       en  hh-rlhf sessions plus one splice each (random donors);
  stored-splice        --  stored sessions (reviewers' labels where they exist) plus splices.
Each set is scored for the classifier and for the baseline (char-bigram overlap of the turn with
the previous user turn and answer), with ROC AUC, and precision and recall of the "new topic"
class at the thresholds chosen on validation data (per language, for both).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from flywheel.continuity.classifier import (
    TrainedClassifier,
    evaluate,
    fit,
    language_thresholds,
)
from flywheel.continuity.data import LabelledConversation, real_conversation, spliced_negatives
from flywheel.continuity.engine import Embed, Examples, examples, with_splices
from flywheel.continuity.features import FEATURE_NAMES

SPLITS = ("train", "validation", "test")
TEST_SHARE, VALIDATION_SHARE = 0.3, 0.15
SPLIT_SALT = "flywheel-continuity-split-1"
_EMBEDDING_ONLY = [FEATURE_NAMES.index("emb_prev_user"), FEATURE_NAMES.index("emb_prev_answer")]
PINNED = json.loads((Path(__file__).resolve().parent / "public_split.json").read_text())


def source_language(source: str) -> str:
    return "zh" if source.startswith(("kdconv", "crosswoz")) else "en"


def _pinned_test() -> tuple[set[str], set[str]]:
    """(sources whose test side is pinned, the pinned keys)."""
    keys = {f"{source}/{index}" for source, indices in PINNED["test"].items() for index in indices}
    return set(PINNED["test"]), keys


def split_of(key: str) -> str:
    """train / validation / test, from the conversation's key alone."""
    source = key.split("/", 1)[0]
    pinned_sources, pinned_keys = _pinned_test()
    if key in pinned_keys:
        return "test"
    draw = int.from_bytes(hashlib.sha256(f"{SPLIT_SALT}:{key}".encode()).digest()[:8], "big") / 2**64
    if source in pinned_sources:  # the test side is the pinned one: the rest is train or validation
        return "validation" if draw < VALIDATION_SHARE / (1 - TEST_SHARE) else "train"
    if draw < TEST_SHARE:
        return "test"
    return "validation" if draw < TEST_SHARE + VALIDATION_SHARE else "train"


def split_sources(sets: dict[str, Sequence[LabelledConversation]]) -> dict[str, dict[str, list[LabelledConversation]]]:
    """{split: {source: conversations}}; a conversation without a key is an error, not a guess."""
    out: dict[str, dict[str, list[LabelledConversation]]] = {split: {} for split in SPLITS}
    for source, conversations in sets.items():
        for conv in conversations:
            key = conv.meta.get("key")
            if not key:
                raise ValueError(f"a conversation of {source} has no key to split on")
            out[split_of(key)].setdefault(source, []).append(conv)
    return out


@dataclass
class EvaluationSet:
    name: str
    language: str  # "zh", "en", or "" when the set mixes languages
    conversations: list[LabelledConversation]


def _as_real(conversations: Sequence[LabelledConversation]) -> list[LabelledConversation]:
    """The conversations with every user turn after the first labelled "continues"."""
    out = []
    for conv in conversations:
        copy = real_conversation(conv.messages, group=conv.group)
        copy.meta["key"] = conv.meta.get("key")
        out.append(copy)
    return out


def evaluation_sets(by_source: dict[str, list[LabelledConversation]], *, seed: int = 0) -> dict[str, EvaluationSet]:
    """The evaluation sets of one side of the split (see the module's docstring). Donors are drawn
    at random (never by embedding similarity), so the sets are the same whatever model is judged."""
    rng = random.Random(seed)
    sets: dict[str, EvaluationSet] = {}
    kdconv = {source: _as_real(convs) for source, convs in sorted(by_source.items()) if source.startswith("kdconv")}
    if len(kdconv) > 1:
        cross, same = [], []
        for source, convs in kdconv.items():
            others = [c for other, group in kdconv.items() if other != source for c in group]
            cross += convs + spliced_negatives(convs, rng=rng, donors=others, hard_share=0.0)
            if len(convs) > 1:
                same += convs + spliced_negatives(convs, rng=rng, hard_share=0.0)
        sets["kdconv-splice-cross"] = EvaluationSet("kdconv-splice-cross", "zh", cross)
        sets["kdconv-splice-same"] = EvaluationSet("kdconv-splice-same", "zh", same)
    entity = [c for source, convs in sorted(by_source.items()) if source.startswith("kdconv") for c in convs]
    if entity:
        sets["kdconv-entity"] = EvaluationSet("kdconv-entity", "zh", entity)
    for source, name in (("crosswoz-val", "crosswoz"), ("tiage", "tiage")):
        if by_source.get(source):
            sets[name] = EvaluationSet(name, source_language(source), list(by_source[source]))
    for source, name, language in (("hh-rlhf", "hh-rlhf-splice", "en"), ("stored", "stored-splice", "")):
        convs = [c for c in by_source.get(source, []) if c.messages]
        if len(convs) > 1:
            real = _as_real(convs) if source == "hh-rlhf" else convs
            sets[name] = EvaluationSet(name, language, real + spliced_negatives(real, rng=rng, hard_share=0.0))
    return sets


def training_conversations(
    by_source: dict[str, list[LabelledConversation]], *, embed: Embed, seed: int = 0, entity_changes: bool = True
) -> list[LabelledConversation]:
    """One side's conversations with their real labels, plus splices made from that side only,
    Chinese, English and stored sessions apart (a Chinese turn in an English session is too easy
    to teach anything). `entity_changes=False` counts KdConv's entity changes as continuing."""
    rng = random.Random(seed)
    buckets: dict[str, list[LabelledConversation]] = {}
    for source, conversations in sorted(by_source.items()):
        bucket = "stored" if source == "stored" else source_language(source)
        if source.startswith("kdconv") and not entity_changes:
            conversations = _as_real(conversations)
        buckets.setdefault(bucket, []).extend(conversations)
    out: list[LabelledConversation] = []
    for bucket in sorted(buckets):
        out += with_splices(buckets[bucket], rng=rng, embed=embed)
    return out


def report(
    classifier: TrainedClassifier,
    sets: dict[str, EvaluationSet],
    embed: Embed,
    baseline_thresholds: dict[str, float],
    baseline_threshold: float,
) -> dict:
    """{set name: {"language", "model": metrics, "baseline": metrics, "real_turns", "spliced_turns"}}, plus
    "all:zh" and "all:en" over every labelled turn of that language in these sets."""
    out: dict = {}
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray, Examples]]] = {}
    for name, evaluation_set in sets.items():
        found = examples(evaluation_set.conversations, embed)
        if len(found) == 0 or len(set(found.labels.tolist())) < 2:
            continue
        scores = classifier.predict_proba(found.features)
        out[name] = _metrics(found, scores, classifier, baseline_thresholds, baseline_threshold)
        out[name]["language"] = evaluation_set.language
        for language in ("zh", "en"):
            mask = np.asarray([lang == language for lang in found.languages])
            if mask.any():
                pooled.setdefault(language, []).append((mask, scores, found))
    for language, parts in pooled.items():
        merged = Examples(
            np.concatenate([f.features[m] for m, _, f in parts]),
            np.concatenate([f.labels[m] for m, _, f in parts]),
            np.concatenate([f.weights[m] for m, _, f in parts]),
            [lang for m, _, f in parts for lang, keep in zip(f.languages, m) if keep],
            [o for m, _, f in parts for o, keep in zip(f.origins, m) if keep],
        )
        if len(set(merged.labels.tolist())) == 2:
            scores = np.concatenate([s[m] for m, s, _ in parts])
            out[f"all:{language}"] = _metrics(merged, scores, classifier, baseline_thresholds, baseline_threshold)
            out[f"all:{language}"]["language"] = language
    return out


def _metrics(
    found: Examples,
    scores: np.ndarray,
    classifier: TrainedClassifier,
    baseline_thresholds: dict[str, float],
    baseline_threshold: float,
) -> dict:
    cuts = np.asarray([classifier.threshold_for(lang) for lang in found.languages], dtype=np.float32)
    baseline_cuts = np.asarray([baseline_thresholds.get(lang, baseline_threshold) for lang in found.languages])
    result = {
        "model": evaluate(scores, found.labels, cuts),
        "baseline": evaluate(found.baseline, found.labels, baseline_cuts),
        # How much the embedding alone tells: its closest cosine to the last exchange.
        "embedding_auc": round(float(roc_auc_score(found.labels, found.features[:, _EMBEDDING_ONLY].max(axis=1))), 4),
    }
    for origin in ("real", "spliced"):
        mask = np.asarray([o == origin for o in found.origins])
        if mask.any():
            result[f"{origin}_turns"] = {
                "n": int(mask.sum()),
                "accuracy": round(float(((scores[mask] >= cuts[mask]) == found.labels[mask]).mean()), 4),
            }
    return result


@dataclass
class TrainingResult:
    classifier: TrainedClassifier
    report: dict  # {"validation": {...}, "test": {...}}
    training: dict  # counts


def train_and_report(
    sets: dict[str, Sequence[LabelledConversation]],
    *,
    embed: Embed,
    seed: int = 0,
    entity_changes: bool = True,
    meta: dict | None = None,
    report_on: Sequence[str] = ("validation", "test"),
) -> TrainingResult:
    """Split, splice each side, fit on train (early stopping and thresholds on validation), and
    report on the sides named in `report_on`."""
    sides = split_sources(sets)
    train = training_conversations(sides["train"], embed=embed, seed=seed, entity_changes=entity_changes)
    valid = training_conversations(sides["validation"], embed=embed, seed=seed + 1, entity_changes=entity_changes)
    x, x_valid = examples(train, embed), examples(valid, embed)
    if len(set(x.labels.tolist())) < 2 or len(set(x_valid.labels.tolist())) < 2:
        raise ValueError(
            "not enough multi-turn conversations to make both continuing and switching examples "
            "on the training and the validation side"
        )
    classifier = fit(
        x.features,
        x.labels,
        weights=x.weights,
        seed=seed,
        meta=meta,
        validation=(x_valid.features, x_valid.labels, x_valid.weights),
        languages=x_valid.languages,
    )
    baseline_threshold, baseline_thresholds = language_thresholds(x_valid.baseline, x_valid.labels, x_valid.languages)
    classifier.meta["baseline_thresholds"] = {"all": baseline_threshold, **baseline_thresholds}
    reports = {
        side: report(
            classifier, evaluation_sets(sides[side], seed=seed + 7), embed, baseline_thresholds, baseline_threshold
        )
        for side in report_on
    }
    training = {
        "conversations": {side: {source: len(convs) for source, convs in sides[side].items()} for side in SPLITS},
        "examples": int(len(x)),
        "continuing": int(x.labels.sum()),
        "switching": int(len(x) - x.labels.sum()),
        "validation_examples": int(len(x_valid)),
        "kdconv_entity_changes": "new topic (weighted)" if entity_changes else "continuing",
    }
    return TrainingResult(classifier=classifier, report=reports, training=training)


def held_out_keys(sets: dict[str, Sequence[LabelledConversation]]) -> dict[str, list[str]]:
    """The keys of every test-side conversation, per source (recorded in a model's meta.json)."""
    return {source: [c.meta["key"] for c in convs] for source, convs in split_sources(sets)["test"].items()}
