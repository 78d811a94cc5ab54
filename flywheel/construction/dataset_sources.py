"""The dataset sample sources construction brings (registered in ConstructionConfig.ready):
the answers, pairs and synthetic conversations reviewers accepted, read through
flywheel/construction/selectors.py, each with its lineage and the prompt and model versions
that made it."""

from __future__ import annotations

from collections.abc import Iterator

from flywheel.construction.selectors import dataset_ready_pairs, dataset_ready_sft_samples, dataset_ready_synthetic
from flywheel.datasets.sources import Candidate, SampleSource
from flywheel.jobs.progress import Progress

BATCH = 200


def _prompt_versions(lineage: dict) -> dict[str, list[str]]:
    prompts = set(lineage.get("judge_prompt_versions") or [])
    models = set(lineage.get("judge_models") or [])
    for key, value in lineage.items():
        if key.endswith("prompt_version") and value:
            prompts.add(str(value))
        if key.endswith("model") and isinstance(value, str) and value:
            models.add(value)
    return {"prompts": sorted(prompts), "models": sorted(models)}


def _message_ids(lineage: dict) -> list[int]:
    return [lineage["message_id"]] if lineage.get("message_id") else []


class _ConstructionSource(SampleSource):
    def select(self, *, after_id: int, limit: int) -> list[dict]:
        """One page of accepted rows after `after_id`, in id order."""
        raise NotImplementedError

    def rows(self, progress: Progress) -> Iterator[dict]:
        after, read = 0, 0
        while True:
            rows = self.select(after_id=after, limit=BATCH)
            if not rows:
                return
            after, read = rows[-1]["id"], read + len(rows)
            yield from rows
            progress(read, None, f"{self.name}: read up to #{after}")

    def candidate(self, row: dict, *, lineage_extra: dict, from_session: bool = True, **fields) -> Candidate:
        """A reviewer-accepted construction row as a candidate, with its lineage and versions."""
        lineage = row.get("lineage") or {}
        return Candidate(
            source=self.name,
            source_id=f"{row['id']:012d}",
            kind=self.kind,
            task_type=row.get("task_type") or "",
            reviewed=True,
            trusted_label=bool(row.get("task_type")),
            session_id=lineage.get("session_id") if from_session else None,
            lineage={
                **lineage,
                **lineage_extra,
                "message_ids": _message_ids(lineage) if from_session else [],
                "review_item_ids": [lineage["review_item_id"]] if lineage.get("review_item_id") else [],
            },
            versions=_prompt_versions(lineage),
            **fields,
        )


class ConstructedAnswerSource(_ConstructionSource):
    name = "constructed_sft"
    title = "Constructed answers"
    kind = "sft"
    description = "Better answers to bad cases, accepted by reviewers; only the new answer is trained on."

    def select(self, *, after_id, limit):
        return dataset_ready_sft_samples(after_id=after_id, limit=limit)

    def candidates(self, *, config, progress) -> Iterator[Candidate]:
        for row in self.rows(progress):
            messages = [
                {"role": m["role"], "content": m["content"], "mark": "context" if m["role"] == "assistant" else None}
                for m in row["messages"]
            ]
            if messages and messages[-1]["role"] == "assistant":
                messages[-1]["mark"] = "ticked"
            yield self.candidate(row, messages=messages, lineage_extra={"sft_answer_id": row["id"]})


class ConstructedPairSource(_ConstructionSource):
    name = "constructed_pairs"
    title = "Constructed preference pairs"
    kind = "pair"
    description = "Chosen and rejected answers to bad cases, judged and accepted by reviewers."

    def select(self, *, after_id, limit):
        return dataset_ready_pairs(after_id=after_id, limit=limit)

    def candidates(self, *, config, progress) -> Iterator[Candidate]:
        for row in self.rows(progress):
            yield self.candidate(
                row,
                prompt=[{"role": m["role"], "content": m["content"]} for m in row["prompt_messages"]],
                chosen=row["chosen"],
                rejected=row["rejected"],
                lineage_extra={"constructed_pair_id": row["id"], "margin": row.get("margin")},
            )


class SyntheticSource(_ConstructionSource):
    name = "synthetic"
    title = "Synthetic conversations"
    kind = "sft"
    description = "Conversations synthesised from seed prompts and accepted by reviewers."

    def select(self, *, after_id, limit):
        return dataset_ready_synthetic(after_id=after_id, limit=limit)

    def candidates(self, *, config, progress) -> Iterator[Candidate]:
        for row in self.rows(progress):
            yield self.candidate(
                row,
                messages=[{"role": m["role"], "content": m["content"], "mark": None} for m in row["messages"]],
                lineage_extra={"synthetic_sample_id": row["id"]},
                from_session=False,
            )
