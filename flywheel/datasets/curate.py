"""The builder's curation steps (pure: scores and embeddings come in as arguments), run on the SFT
conversations after mixing and capping, before the split:

0. Quality (MoDS): with `quality_model` and `quality_min`, conversations whose stored reward is
   below `quality_min` are left out (`quality_below_min`); unscored ones are kept and counted.
1. IFD (Cherry): with `ifd_model` set, every assistant turn scored with that model
   (flywheel.curation) is judged by its IFD. `drop_above_1` stops supervising turns whose IFD is
   above 1 (the history does not help the model predict the reply: Cherry drops them) and leaves
   out conversations with no supervised turn left; `top_share` keeps, per task type, the
   `ifd_top_share` of conversations with the highest mean IFD. Conversations without a score are
   kept and counted (`ifd_unscored`), never treated as 0.
2. Diversity: `kcenter` keeps `diversity_k` conversations picked by K-Center-Greedy on their
   embeddings (MoDS); `cluster_uniform` / `cluster_log` take `diversity_k` from k-means clusters,
   evenly or in proportion to log(size).

What each step removed is counted in `excluded` and described in the returned report, which the
manifest keeps with the scoring model and its version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from django.utils.translation import gettext_noop

from flywheel.curation.kcenter import k_center_greedy
from flywheel.curation.sampling import log_proportional_per_cluster, top_n_by_score, uniform_per_cluster

IFD_MODES = {
    "drop_above_1": gettext_noop("stop supervising turns with IFD above 1 (Cherry)"),
    "top_share": gettext_noop("keep the given share of conversations with the highest IFD, per task type"),
}
DIVERSITY_METHODS = {
    "": gettext_noop("none"),
    "kcenter": gettext_noop("K-Center-Greedy on embeddings (MoDS)"),
    "cluster_uniform": gettext_noop("the same number from each k-means cluster"),
    "cluster_log": gettext_noop("from each k-means cluster in proportion to log(1 + size)"),
}

# (sample_hash, message index) -> IFD (None when the turn could not be scored).
IfdScores = dict[tuple[str, int], float | None]


def apply_quality(samples, config, rewards: dict[str, float], excluded: Counter) -> tuple[list, dict]:
    """MoDS's quality stage: keep conversations whose reward is at least quality_min; those
    without a reward are kept and counted."""
    report = {"model": config.quality_model, "min": config.quality_min, "removed": 0, "unscored": 0}
    kept = []
    for sample in samples:
        reward = rewards.get(sample.sample_hash)
        if reward is None:
            report["unscored"] += 1
            excluded["quality_unscored_kept"] += 1
            kept.append(sample)
        elif reward >= config.quality_min:
            kept.append(sample)
        else:
            report["removed"] += 1
            excluded["quality_below_min"] += 1
    return kept, report


def apply_ifd(samples, config, scores: IfdScores, excluded: Counter, *, rehash: Callable) -> tuple[list, dict]:
    report = {
        "model": config.ifd_model,
        "mode": config.ifd_mode,
        "turns_unsupervised": 0,
        "samples_removed": 0,
        "samples_unscored": 0,
    }
    kept, means = [], {}
    for sample in samples:
        messages = sample.record["messages"]
        trained = [i for i, m in enumerate(messages) if m.get("train")]
        values = {i: scores.get((sample.sample_hash, i)) for i in trained}
        scored = {i: v for i, v in values.items() if v is not None}
        if not scored:
            report["samples_unscored"] += 1
            excluded["ifd_unscored_kept"] += 1
            kept.append(sample)
            continue
        if config.ifd_mode == "drop_above_1":
            above = [i for i, v in scored.items() if v > 1.0]
            if above:
                report["turns_unsupervised"] += len(above)
                if len(above) == len(trained):
                    excluded["ifd_above_1"] += 1
                    report["samples_removed"] += 1
                    continue
                new_messages = [dict(m, train=False) if i in above else m for i, m in enumerate(messages)]
                record = {**sample.record, "messages": new_messages}
                sample = replace(sample, record=record, sample_hash=rehash("sft", record))
            kept.append(sample)
        else:
            means[id(sample)] = sum(scored.values()) / len(scored)
            kept.append(sample)
    if config.ifd_mode == "top_share":
        chosen_ids = set()
        by_type: dict[str, list] = {}
        for sample in kept:
            if id(sample) in means:
                by_type.setdefault(sample.task_type, []).append(sample)
        for members in by_type.values():
            n = max(1, round(len(members) * config.ifd_top_share))
            chosen_ids.update(top_n_by_score([id(s) for s in members], [means[id(s)] for s in members], n))
        before = len(kept)
        kept = [s for s in kept if id(s) not in means or id(s) in chosen_ids]
        excluded["ifd_below_top_share"] += before - len(kept)
        report["samples_removed"] = before - len(kept)
    return kept, report


def sample_text(sample) -> str:
    return "\n".join(m["content"] for m in sample.record["messages"])


def apply_diversity(
    samples, config, embed: Callable[[list[str]], np.ndarray], excluded: Counter, order_key: Callable
) -> tuple[list, dict]:
    """`order_key` fixes the order the rows are embedded in (seeded), so the first centre and the
    k-means seeds do not depend on the order candidates arrived in."""
    k = config.diversity_k
    ordered = sorted(samples, key=order_key)
    if k > len(ordered):
        raise ValueError(f"diversity_k={k} is larger than the {len(ordered)} conversations left to choose from")
    vectors = np.asarray(embed([sample_text(s) for s in ordered]), dtype=np.float32)
    report: dict = {"method": config.diversity, "k": k, "candidates": len(ordered)}
    if config.diversity == "kcenter":
        indices, radii = k_center_greedy(vectors, k)
        chosen = set(indices.tolist())
        report["coverage_radius"] = float(radii[-1]) if len(radii) else None
    else:
        from sklearn.cluster import KMeans  # deferred: seconds to import, and only this method needs it

        clusters = max(1, min(config.diversity_clusters, len(ordered)))
        labels = KMeans(n_clusters=clusters, n_init=4, random_state=config.seed).fit(vectors).labels_.tolist()
        strategy = uniform_per_cluster if config.diversity == "cluster_uniform" else log_proportional_per_cluster
        chosen = set(strategy(list(range(len(ordered))), labels, k, seed=config.seed))
        report["clusters"] = clusters
    kept = [sample for index, sample in enumerate(ordered) if index in chosen]
    excluded["diversity_not_selected"] += len(ordered) - len(kept)
    report["removed"] = len(ordered) - len(kept)
    return kept, report
