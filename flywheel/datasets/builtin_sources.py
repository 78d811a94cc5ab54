"""The sample sources the datasets app brings (registered in DatasetsConfig.ready): logged
sessions and the preference pairs that came with the logs (hh-rlhf and the like). Construction
registers its accepted answers, pairs and synthetic conversations itself
(flywheel/construction/dataset_sources.py).

Text is always the PII-scrubbed text (cleaning's `message_texts_for_llm`; a reviewer's rewrite
is scrubbed here): a message whose scrubbing failed keeps its whole sample out of the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator

from flywheel.cleaning.models import SessionCleaning
from flywheel.cleaning.pii import SCRUBBER_VERSION
from flywheel.cleaning.selectors import sessions_ready_for_labeling
from flywheel.cleaning.services import message_texts_for_llm
from flywheel.datasets.facts import session_facts, topic_switches
from flywheel.datasets.sources import Candidate, SampleSource
from flywheel.datasets.supervision import messages_prepare
from flywheel.ingest.models import Feedback, Message, PreferencePair
from flywheel.review.models import ReviewItem
from flywheel.review.selectors import message_review_overrides

BATCH = 200


def _cleaning_versions(fingerprint: str) -> dict[str, list[str]]:
    return {"cleaning": [fingerprint] if fingerprint else [], "scrubber": [str(SCRUBBER_VERSION)]}


def _segments(messages: list[dict], switches: set[int]) -> list[list[dict]]:
    """The transcript cut before each user turn that starts a new topic; a leading system
    prompt belongs to every part."""
    system = [m for m in messages[:1] if m["role"] == "system"]
    parts: list[list[dict]] = [[]]
    for message in messages[len(system) :]:
        if message["role"] == "user" and message["id"] in switches and parts[-1]:
            parts.append([])
        parts[-1].append(message)
    return [system + part for part in parts if part]


class SessionSource(SampleSource):
    name = "sessions"
    title = "Logged sessions"
    kind = "sft"
    description = (
        "Sessions cleaning kept (or flagged), split where the topic changes, with reviewers' train "
        "flags and rewritten answers; answers with a thumbs-down are never trained on unless rewritten."
    )

    def candidates(self, *, config, progress) -> Iterator[Candidate]:
        after, seen = 0, 0
        while True:
            sessions = list(sessions_ready_for_labeling(after_id=after, limit=BATCH))
            if not sessions:
                return
            after = sessions[-1].id
            yield from self._batch(sessions, config)
            seen += len(sessions)
            progress(seen, None, f"sessions: read {seen}")

    def _batch(self, sessions, config) -> Iterator[Candidate]:
        ids = [s.id for s in sessions]
        cleaning = {row.session_id: row for row in SessionCleaning.objects.filter(session_id__in=ids)}
        rows = list(
            Message.objects.filter(session_id__in=ids, alternative_to__isnull=True)
            .order_by("session_id", "seq")
            .values("id", "session_id", "role", "content")
        )
        message_ids = [row["id"] for row in rows]
        texts = message_texts_for_llm(message_ids=message_ids)
        negative = set(
            Feedback.objects.filter(message_id__in=message_ids, rating=-1).values_list("message_id", flat=True)
        )
        overrides = message_review_overrides(message_ids=message_ids)
        facts = session_facts(session_ids=ids)
        switches = topic_switches(
            session_ids=ids,
            message_sessions={row["id"]: row["session_id"] for row in rows},
            reviewer_continuity={mid: turn["continuity"] for mid, turn in overrides.items() if "continuity" in turn},
        )
        by_session: dict[int, list[dict]] = {}
        for row in rows:
            by_session.setdefault(row["session_id"], []).append(row)
        for session in sessions:
            messages = by_session.get(session.id, [])
            clean = cleaning.get(session.id)
            if not messages or clean is None:
                continue
            yield from self._session_candidates(
                session, messages, clean, texts, negative, overrides, facts[session.id], switches[session.id], config
            )

    def _session_candidates(self, session, messages, clean, texts, negative, overrides, facts, switches, config):
        # The same rules as the review page's loss preview: flywheel/datasets/supervision.py.
        prepared_messages = messages_prepare(messages, texts=texts, overrides=overrides, facts=facts, negative=negative)
        prepared, blocked, edited_ids = (
            prepared_messages.messages,
            prepared_messages.blocked,
            prepared_messages.edited_ids,
        )
        switched = bool(switches)
        parts = _segments(prepared, switches) if config.continuity == "split" else [prepared]
        versions = {**_cleaning_versions(clean.config_fingerprint), "labels": facts.label_versions}
        for index, part in enumerate(parts):
            yield Candidate(
                source=self.name,
                source_id=f"{session.id:012d}/{index:04d}",
                kind="sft",
                messages=[{k: m[k] for k in ("role", "content", "mark")} for m in part],
                task_type=facts.task_type,
                quality=facts.quality,
                trusted_label=facts.trusted,
                usable=facts.usable,
                reviewed=facts.reviewed,
                cleaning_status=clean.status,
                topic_switched=switched,
                session_id=session.id,
                blocked_reason=blocked,
                lineage={
                    "session_id": session.id,
                    "session": session.external_id,
                    "message_ids": [m["id"] for m in part],
                    "segment": index,
                    "segments": len(parts),
                    "review_item_ids": facts.review_item_ids,
                    "edited_message_ids": [i for i in edited_ids if i in {m["id"] for m in part}],
                    "cleaning_status": clean.status,
                },
                versions=versions,
            )


class IngestPairSource(SampleSource):
    name = "ingest_pairs"
    title = "Logged preference pairs"
    kind = "pair"
    description = (
        "Pairs that came with the logs or an import (e.g. hh-rlhf chosen/rejected); a reviewer who "
        "prefers the rejected answer swaps them, one who finds both bad or equal drops the pair."
    )

    def candidates(self, *, config, progress) -> Iterator[Candidate]:
        after, read = 0, 0
        while True:
            pairs = list(
                PreferencePair.objects.filter(id__gt=after)
                .select_related("chosen", "rejected", "session")
                .order_by("id")[:BATCH]
            )
            if not pairs:
                return
            after, read = pairs[-1].id, read + len(pairs)
            yield from self._batch(pairs)
            progress(read, None, f"logged pairs: read up to #{after}")

    def _batch(self, pairs) -> Iterator[Candidate]:
        session_ids = sorted({p.session_id for p in pairs})
        cleaning = {row.session_id: row for row in SessionCleaning.objects.filter(session_id__in=session_ids)}
        contexts: dict[int, list[dict]] = {}
        for row in (
            Message.objects.filter(session_id__in=session_ids, alternative_to__isnull=True)
            .order_by("session_id", "seq")
            .values("id", "session_id", "seq", "role")
        ):
            contexts.setdefault(row["session_id"], []).append(row)
        wanted = {m["id"] for rows in contexts.values() for m in rows}
        wanted |= {p.chosen_id for p in pairs} | {p.rejected_id for p in pairs}
        texts = message_texts_for_llm(message_ids=sorted(wanted))
        facts = session_facts(session_ids=session_ids)
        verdicts = dict(
            ReviewItem.objects.filter(
                kind="preference_pair",
                status=ReviewItem.Status.DONE,
                subject_type="pair",
                subject_id__in=[str(p.id) for p in pairs],
            ).values_list("subject_id", "final_decision")
        )
        for pair in pairs:
            clean = cleaning.get(pair.session_id)
            prompt = [m for m in contexts.get(pair.session_id, []) if m["seq"] < pair.chosen.seq]
            blocked = ""
            if clean is None or clean.status == "dropped" or clean.duplicate_of_id is not None:
                blocked = "session_not_ready"
            if (
                any(m["id"] not in texts for m in prompt)
                or pair.chosen_id not in texts
                or pair.rejected_id not in texts
            ):
                blocked = blocked or "pii_scrub_failed"
            chosen, rejected = texts.get(pair.chosen_id, ""), texts.get(pair.rejected_id, "")
            decision = verdicts.get(str(pair.id))
            preferred = (decision or {}).get("preferred")
            if preferred == "rejected":
                chosen, rejected = rejected, chosen
            elif preferred in ("tie", "both_bad"):
                blocked = blocked or "reviewer_rejected_pair"
            session_facts_ = facts[pair.session_id]
            yield Candidate(
                source=self.name,
                source_id=f"{pair.id:012d}",
                kind="pair",
                prompt=[{"role": m["role"], "content": texts.get(m["id"], "")} for m in prompt],
                chosen=chosen,
                rejected=rejected,
                task_type=session_facts_.task_type,
                quality=session_facts_.quality,
                trusted_label=session_facts_.trusted,
                usable=session_facts_.usable,
                reviewed=decision is not None or session_facts_.reviewed,
                cleaning_status=clean.status if clean else "",
                session_id=pair.session_id,
                blocked_reason=blocked,
                lineage={
                    "pair_id": pair.id,
                    "pair": pair.external_id,
                    "pair_source": pair.source,
                    "session_id": pair.session_id,
                    "session": pair.session.external_id,
                    "message_ids": [m["id"] for m in prompt] + [pair.chosen_id, pair.rejected_id],
                    "chosen_message_id": pair.chosen_id,
                    "rejected_message_id": pair.rejected_id,
                    "swapped_by_reviewer": preferred == "rejected",
                    "review_item_ids": session_facts_.review_item_ids,
                },
                versions={
                    **_cleaning_versions(clean.config_fingerprint if clean else ""),
                    "labels": session_facts_.label_versions,
                },
            )
