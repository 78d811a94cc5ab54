"""The continuity classifier: a small torch MLP over `features.FEATURE_NAMES`, and its artifacts.

An artifact directory holds `model.pt` (state dict), `meta.json` (feature names, standardisation,
decision thresholds per language, embedding model, training data, evaluation report). Nothing here
touches the database, so `continuity_predict` and the tests use it directly.

Thresholds are per language ("zh" for a turn that is mostly Chinese characters, "en" for any
other: English is the only other language the public samples have), chosen on validation
conversations; `threshold` is the one for turns of a language the validation data did not hold.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

if TYPE_CHECKING:
    import torch

from flywheel.continuity.features import FEATURE_NAMES, cjk_share, normalise

ARCHITECTURE = "mlp-32-16"
LANGUAGES = ("zh", "en")


def turn_language(text: str) -> str:
    """ "zh" when at least 30% of the turn's letters are Chinese characters, else "en"."""
    return "zh" if cjk_share(normalise(text)) >= 0.3 else "en"


def _torch():
    # Deferred: web processes import this module (pages read LANGUAGES and turn_language), and
    # only workers and commands that run the model should pay for loading torch.
    import torch

    return torch


def continuity_net(n_features: int) -> torch.nn.Module:
    """The MLP; its parameters are named `layers.N.*` (the packaged model.pt's keys)."""
    nn = _torch().nn
    net = nn.Module()
    net.layers = nn.Sequential(
        nn.Linear(n_features, 32),
        nn.GELU(),
        nn.Dropout(0.1),
        nn.Linear(32, 16),
        nn.GELU(),
        nn.Linear(16, 1),
    )
    return net


def logits(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B,)
    return net.layers(x).squeeze(-1)


@dataclass
class TrainedClassifier:
    net: torch.nn.Module
    mean: np.ndarray
    std: np.ndarray
    threshold: float
    meta: dict
    thresholds: dict[str, float] = field(default_factory=dict)

    def threshold_for(self, language: str) -> float:
        return self.thresholds.get(language, self.threshold)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """P(the turn continues the session's topic), one per feature row."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)
        torch = _torch()
        x = torch.from_numpy(((features - self.mean) / self.std).astype(np.float32))
        self.net.eval()
        with torch.no_grad():
            return torch.sigmoid(logits(self.net, x)).numpy()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        _torch().save(self.net.state_dict(), directory / "model.pt")
        meta = {
            **self.meta,
            "architecture": ARCHITECTURE,
            "feature_names": list(FEATURE_NAMES),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "threshold": self.threshold,
            "thresholds": self.thresholds,
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> TrainedClassifier:
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("feature_names") != list(FEATURE_NAMES):
            raise ValueError(f"{directory} was trained on other features; retrain it (continuity_train)")
        net = continuity_net(len(FEATURE_NAMES))
        net.load_state_dict(_torch().load(directory / "model.pt", map_location="cpu", weights_only=True))
        net.eval()
        return cls(
            net=net,
            mean=np.asarray(meta["mean"], dtype=np.float32),
            std=np.asarray(meta["std"], dtype=np.float32),
            threshold=float(meta["threshold"]),
            meta=meta,
            thresholds={k: float(v) for k, v in (meta.get("thresholds") or {}).items()},
        )


def fit(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    seed: int = 0,
    epochs: int = 400,
    meta: dict | None = None,
    validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    languages: list[str] | None = None,
) -> TrainedClassifier:
    """Full-batch AdamW with class-balanced weights; the best epoch on the validation examples is
    kept. `validation` is (features, labels, weights) of conversations kept apart from training
    (without it, 15% of the examples are drawn at random). The thresholds are then chosen there:
    one per language in `languages` (one per validation row) that has both classes, each
    maximising the F1 of the "new topic" class (the class that decides which sessions get cut),
    and one over all rows."""
    if len(set(labels.tolist())) < 2:
        raise ValueError("training needs both continuing and switching turns")
    torch = _torch()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    random.seed(seed)
    if validation is not None:
        x_valid, y_valid, w_valid = validation
        features = np.concatenate([features, x_valid])
        labels = np.concatenate([labels, y_valid])
        weights = np.concatenate([weights if weights is not None else np.ones(len(features) - len(y_valid)), w_valid])
        train = np.arange(len(labels) - len(y_valid))
        valid = np.arange(len(labels) - len(y_valid), len(labels))
    else:
        order = rng.permutation(len(labels))
        cut = max(1, int(0.15 * len(order)))
        valid, train = order[:cut], order[cut:]
        languages = None
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0) + 1e-6
    x = torch.from_numpy(((features - mean) / std).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.float32))
    w = torch.from_numpy((weights if weights is not None else np.ones(len(labels))).astype(np.float32))
    positives = float((y[train] * w[train]).sum())
    negatives = float(((1 - y[train]) * w[train]).sum())
    balance = torch.where(
        y == 1,
        (positives + negatives) / (2 * max(positives, 1e-6)),
        (positives + negatives) / (2 * max(negatives, 1e-6)),
    )
    w = w * balance

    net = continuity_net(features.shape[1])
    optimizer = torch.optim.AdamW(net.parameters(), lr=0.01, weight_decay=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    t_idx, v_idx = torch.from_numpy(train), torch.from_numpy(valid)
    best_loss, best_state = float("inf"), None
    for _ in range(epochs):
        net.train()
        optimizer.zero_grad()
        loss = (loss_fn(logits(net, x[t_idx]), y[t_idx]) * w[t_idx]).sum() / w[t_idx].sum()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            valid_loss = float((loss_fn(logits(net, x[v_idx]), y[v_idx]) * w[v_idx]).sum() / w[v_idx].sum())
        if valid_loss < best_loss:
            best_loss, best_state = valid_loss, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        valid_proba = torch.sigmoid(logits(net, x[v_idx])).numpy()
    threshold, thresholds = language_thresholds(valid_proba, labels[valid], languages)
    return TrainedClassifier(
        net=net,
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        threshold=threshold,
        thresholds=thresholds,
        meta={**(meta or {}), "validation_loss": best_loss},
    )


def language_thresholds(
    scores: np.ndarray, labels: np.ndarray, languages: list[str] | None
) -> tuple[float, dict[str, float]]:
    """(the threshold over all rows, {language: its own threshold}), each maximising the F1 of
    the "new topic" class (label 0) on these rows."""
    overall = best_threshold(scores, labels, metric="f1_switch")
    per_language = {}
    if languages is not None:
        tags = np.asarray(languages)
        for language in sorted(set(languages)):
            mask = tags == language
            if len(set(labels[mask].tolist())) == 2:
                per_language[language] = best_threshold(scores[mask], labels[mask], metric="f1_switch")
    return overall, per_language


def best_threshold(scores: np.ndarray, labels: np.ndarray, *, metric: str = "balanced_accuracy") -> float:
    """The cut that maximises balanced accuracy (switches are the minority class), macro F1, or the
    F1 of the "new topic" class (`f1_switch`). A turn continues when its score is >= the cut."""
    if len(set(labels.tolist())) < 2:
        return 0.5
    best, best_score = 0.5, -1.0
    for cut in np.unique(np.quantile(scores, np.linspace(0.02, 0.98, 97))):
        predicted = scores >= cut
        if metric == "f1_macro":
            score = float(f1_score(labels, predicted.astype(int), average="macro", zero_division=0))
        elif metric == "f1_switch":
            score = float(f1_score(labels, predicted.astype(int), pos_label=0, zero_division=0))
        else:
            tpr = float((predicted & (labels == 1)).sum() / max(1, (labels == 1).sum()))
            tnr = float((~predicted & (labels == 0)).sum() / max(1, (labels == 0).sum()))
            score = (tpr + tnr) / 2
        if score > best_score:
            best, best_score = float(cut), score
    return best


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float | np.ndarray) -> dict:
    """Accuracy, F1 of both classes, precision and recall of the "new topic" class, and ROC AUC
    of P(continue) against the true labels. `threshold`: one cut, or one per row (per language)."""
    predicted = (scores >= threshold).astype(int)
    report = {
        "n": int(len(labels)),
        "continuing": int(labels.sum()),
        "switching": int(len(labels) - labels.sum()),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "f1_continue": round(float(f1_score(labels, predicted, pos_label=1, zero_division=0)), 4),
        "f1_switch": round(float(f1_score(labels, predicted, pos_label=0, zero_division=0)), 4),
        "f1_macro": round(float(f1_score(labels, predicted, average="macro", zero_division=0)), 4),
        "precision_switch": round(float(precision_score(labels, predicted, pos_label=0, zero_division=0)), 4),
        "recall_switch": round(float(recall_score(labels, predicted, pos_label=0, zero_division=0)), 4),
        "roc_auc": round(float(roc_auc_score(labels, scores)), 4) if len(set(labels.tolist())) == 2 else None,
    }
    if np.ndim(threshold) == 0:
        report["threshold"] = round(float(threshold), 4)
    return report
