"""The continuity classifier: a small torch MLP over `features.FEATURE_NAMES`, and its artifacts.

An artifact directory holds `model.pt` (state dict), `meta.json` (feature names, standardisation,
decision threshold, embedding model, training counts, evaluation report). Nothing here touches
the database, so `continuity_predict` and the tests use it directly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from torch import nn

from flywheel.continuity.features import FEATURE_NAMES

ARCHITECTURE = "mlp-32-16"


class ContinuityNet(nn.Module):
    def __init__(self, n_features: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, 32), nn.GELU(), nn.Dropout(0.1),
            nn.Linear(32, 16), nn.GELU(),
            nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B,) logits
        return self.layers(x).squeeze(-1)


@dataclass
class TrainedClassifier:
    net: ContinuityNet
    mean: np.ndarray
    std: np.ndarray
    threshold: float
    meta: dict

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """P(the turn continues the session's topic), one per feature row."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)
        x = torch.from_numpy(((features - self.mean) / self.std).astype(np.float32))
        self.net.eval()
        with torch.no_grad():
            return torch.sigmoid(self.net(x)).numpy()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), directory / "model.pt")
        meta = {**self.meta, "architecture": ARCHITECTURE, "feature_names": list(FEATURE_NAMES),
                "mean": self.mean.tolist(), "std": self.std.tolist(), "threshold": self.threshold}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> "TrainedClassifier":
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("feature_names") != list(FEATURE_NAMES):
            raise ValueError(f"{directory} was trained on other features; retrain it (continuity_train)")
        net = ContinuityNet(len(FEATURE_NAMES))
        net.load_state_dict(torch.load(directory / "model.pt", map_location="cpu", weights_only=True))
        net.eval()
        return cls(net=net, mean=np.asarray(meta["mean"], dtype=np.float32),
                   std=np.asarray(meta["std"], dtype=np.float32), threshold=float(meta["threshold"]), meta=meta)


def fit(features: np.ndarray, labels: np.ndarray, *, weights: np.ndarray | None = None, seed: int = 0,
        epochs: int = 400, meta: dict | None = None) -> TrainedClassifier:
    """Full-batch AdamW with class-balanced weights; the best epoch on a 15% validation split
    is kept, and the decision threshold is the one that maximises macro F1 there (balanced
    accuracy would cut too many real multi-turn sessions where switches are rare)."""
    if len(set(labels.tolist())) < 2:
        raise ValueError("training needs both continuing and switching turns")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    random.seed(seed)
    order = rng.permutation(len(labels))
    cut = max(1, int(0.15 * len(order)))
    valid, train = order[:cut], order[cut:]
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0) + 1e-6
    x = torch.from_numpy(((features - mean) / std).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.float32))
    w = torch.from_numpy((weights if weights is not None else np.ones(len(labels))).astype(np.float32))
    positives = float((y[train] * w[train]).sum())
    negatives = float(((1 - y[train]) * w[train]).sum())
    balance = torch.where(y == 1, (positives + negatives) / (2 * max(positives, 1e-6)),
                          (positives + negatives) / (2 * max(negatives, 1e-6)))
    w = w * balance

    net = ContinuityNet(features.shape[1])
    optimizer = torch.optim.AdamW(net.parameters(), lr=0.01, weight_decay=1e-3)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    t_idx, v_idx = torch.from_numpy(train), torch.from_numpy(valid)
    best_loss, best_state = float("inf"), None
    for _ in range(epochs):
        net.train()
        optimizer.zero_grad()
        loss = (loss_fn(net(x[t_idx]), y[t_idx]) * w[t_idx]).sum() / w[t_idx].sum()
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            valid_loss = float((loss_fn(net(x[v_idx]), y[v_idx]) * w[v_idx]).sum() / w[v_idx].sum())
        if valid_loss < best_loss:
            best_loss, best_state = valid_loss, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        valid_proba = torch.sigmoid(net(x[v_idx])).numpy()
    threshold = best_threshold(valid_proba, labels[valid], metric="f1_macro")
    return TrainedClassifier(net=net, mean=mean.astype(np.float32), std=std.astype(np.float32),
                             threshold=threshold, meta={**(meta or {}), "validation_loss": best_loss})


def best_threshold(scores: np.ndarray, labels: np.ndarray, *, metric: str = "balanced_accuracy") -> float:
    """The cut that maximises balanced accuracy (switches are the minority class) or macro F1."""
    if len(set(labels.tolist())) < 2:
        return 0.5
    best, best_score = 0.5, -1.0
    for cut in np.unique(np.quantile(scores, np.linspace(0.02, 0.98, 97))):
        predicted = scores >= cut
        if metric == "f1_macro":
            score = float(f1_score(labels, predicted.astype(int), average="macro", zero_division=0))
        else:
            tpr = float((predicted & (labels == 1)).sum() / max(1, (labels == 1).sum()))
            tnr = float((~predicted & (labels == 0)).sum() / max(1, (labels == 0).sum()))
            score = (tpr + tnr) / 2
        if score > best_score:
            best, best_score = float(cut), score
    return best


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """Accuracy, F1 of both classes and ROC AUC of P(continue) against the true labels."""
    predicted = (scores >= threshold).astype(int)
    report = {
        "n": int(len(labels)),
        "continuing": int(labels.sum()),
        "switching": int(len(labels) - labels.sum()),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "f1_continue": round(float(f1_score(labels, predicted, pos_label=1, zero_division=0)), 4),
        "f1_switch": round(float(f1_score(labels, predicted, pos_label=0, zero_division=0)), 4),
        "f1_macro": round(float(f1_score(labels, predicted, average="macro", zero_division=0)), 4),
        "roc_auc": round(float(roc_auc_score(labels, scores)), 4) if len(set(labels.tolist())) == 2 else None,
        "threshold": round(float(threshold), 4),
    }
    return report
