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
2. Necessity (MoDS): with `necessity_run`, the seed (conversations whose prompt the run's version
   holds) is kept, and of the others those whose prompt the seed model answers with a reward
   below `necessity_max` (`necessity_answered_well` are left out). A prompt not scored yet is
   reported, for the build to have it scored (flywheel/curation/necessity.py) and wait.
3. Diversity: `kcenter` keeps `diversity_k` conversations picked by K-Center-Greedy on their
   embeddings (MoDS); `cluster_uniform` / `cluster_log` take `diversity_k` from k-means clusters,
   evenly or in proportion to log(size). After necessity, the seed is kept and `diversity_k` more
   are picked among the added ones (K-Center-Greedy starts from the seed).

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
from flywheel.curation.necessity import necessity_prompt, necessity_prompt_hash
from flywheel.curation.sampling import log_proportional_per_cluster, top_n_by_score, uniform_per_cluster
from flywheel.i18n import Text

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


def apply_necessity(
    samples, config, seed_prompts: set[str], scores_for: Callable[[list[str]], dict], excluded: Counter
) -> tuple[list, set[int], dict, dict]:
    """(kept, ids of the seed samples kept, report, {prompt hash: prompt} not scored yet)."""
    report = {
        "run": config.necessity_run,
        "reward_model": config.necessity_reward_model or config.quality_model,
        "max": config.necessity_max,
        "seed": 0,
        "added": 0,
        "removed": 0,
        "unscored": 0,
        "failed_scores_kept": 0,
    }
    prompts = {}
    for sample in samples:
        prompt = necessity_prompt(sample.record["messages"])
        prompts[id(sample)] = (necessity_prompt_hash(prompt), prompt) if prompt is not None else None
    wanted = [entry[0] for entry in prompts.values() if entry is not None and entry[0] not in seed_prompts]
    scores = scores_for(wanted) if wanted else {}
    kept, seed, missing = [], set(), {}
    for sample in samples:
        entry = prompts[id(sample)]
        if entry is None:
            excluded["necessity_no_prompt"] += 1
            report["removed"] += 1
        elif entry[0] in seed_prompts:
            kept.append(sample)
            seed.add(id(sample))
            report["seed"] += 1
        elif entry[0] not in scores:
            missing[entry[0]] = entry[1]
            report["unscored"] += 1
        elif scores[entry[0]] is None:
            # The reward model failed on it: kept (not known to be answered well), and counted.
            kept.append(sample)
            report["failed_scores_kept"] += 1
            excluded["necessity_score_failed_kept"] += 1
        elif scores[entry[0]] < config.necessity_max:
            kept.append(sample)
            report["added"] += 1
        else:
            excluded["necessity_answered_well"] += 1
            report["removed"] += 1
    return kept, seed, report, missing


def sample_text(sample) -> str:
    return "\n".join(m["content"] for m in sample.record["messages"])


def apply_diversity(
    samples,
    config,
    embed: Callable[[list[str]], np.ndarray],
    excluded: Counter,
    order_key: Callable,
    seed: set[int] = frozenset(),
) -> tuple[list, dict]:
    """`order_key` fixes the order the rows are embedded in (seeded), so the first centre and the
    k-means seeds do not depend on the order candidates arrived in. `seed`: ids of samples kept
    whatever happens (the necessity stage's seed); k more are chosen among the others."""
    k = config.diversity_k
    ordered = sorted(samples, key=order_key)
    seeded = [index for index, sample in enumerate(ordered) if id(sample) in seed]
    others = [index for index, sample in enumerate(ordered) if id(sample) not in seed]
    if k > len(others):
        raise ValueError(
            Text(
                "diversity_k=%(k)s is larger than the %(count)s conversations left to choose from",
                k=k,
                count=len(others),
            )
        )
    vectors = np.asarray(embed([sample_text(s) for s in ordered]), dtype=np.float32)
    report: dict = {"method": config.diversity, "k": k, "candidates": len(others), "seed": len(seeded)}
    if config.diversity == "kcenter":
        indices, radii = k_center_greedy(vectors, k, selected=seeded)
        chosen = set(indices.tolist()) | set(seeded)
        report["coverage_radius"] = float(radii[-1]) if len(radii) else None
    else:
        from sklearn.cluster import KMeans  # deferred: seconds to import, and only this method needs it

        clusters = max(1, min(config.diversity_clusters, len(ordered)))
        labels = KMeans(n_clusters=clusters, n_init=4, random_state=config.seed).fit(vectors).labels_.tolist()
        strategy = uniform_per_cluster if config.diversity == "cluster_uniform" else log_proportional_per_cluster
        chosen = set(strategy(others, [labels[i] for i in others], k, seed=config.seed)) | set(seeded)
        report["clusters"] = clusters
    kept = [sample for index, sample in enumerate(ordered) if index in chosen]
    excluded["diversity_not_selected"] += len(ordered) - len(kept)
    report["removed"] = len(ordered) - len(kept)
    return kept, report
