"""Synthesis: new training conversations where the data is thin.

Methods (each sample records its method, variant, seed or source, prompt version and model):
- self_instruct: a new prompt written from a few seed prompts of one task type (Self-Instruct);
- rewrite: an existing prompt in another form (plain, Markdown, JSON, personas, Chinese, English);
- evol: a harder version of an existing prompt (Evol-Instruct in-depth operations);
- multi_turn: a single-turn conversation grown by a follow-up question, then its answer.

New prompts are compared with existing ones (seed prompts, earlier synthetic prompts, recent
user prompts from the logs) before they are answered: a cosine similarity of the embeddings at
or above FLYWHEEL_SYNTH_DEDUP_COSINE makes a duplicate. The packaged default embedding reads
Chinese; only with an English-only model (FLYWHEEL_EMBEDDING_MODEL=all-MiniLM-L6-v2) is text that
is mostly Chinese compared by character-bigram Jaccard instead.

A run is a list of slots; each slot's plan (variant, seeds, source) depends only on the run and
the slot number, and each slot's sample is stored as soon as its prompt arrives, so a resumed
run fills only the slots left and asks only for what is missing.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flywheel.accounts.services import audit_record
from flywheel.cleaning.services import message_texts_for_llm
from flywheel.construction import prompts
from flywheel.construction.ledger import BudgetExhausted, JsonCall, Ledger
from flywheel.construction.models import ConstructionRun, SeedPrompt, SftAnswer, SyntheticSample
from flywheel.construction.selection import normalize_text, text_hash
from flywheel.i18n import Text
from flywheel.ingest.models import Message
from flywheel.jobs.progress import Progress, progress_ignored
from flywheel.jobs.registry import JobCancelled
from flywheel.jobs.services import job_create
from flywheel.llm.client import LLMRequestRejected, llm_is_configured
from flywheel.llm.embeddings import embed_texts, embedding_reads_chinese
from flywheel.review.services import review_item_enqueue

Method = SyntheticSample.Method
VERSIONS = {
    Method.SELF_INSTRUCT: prompts.SELF_INSTRUCT_VERSION,
    Method.REWRITE: prompts.REWRITE_VERSION,
    Method.EVOL: prompts.EVOL_VERSION,
    Method.MULTI_TURN: prompts.FOLLOW_UP_VERSION,
}
VARIANTS = {Method.REWRITE: tuple(prompts.REWRITE_FORMS), Method.EVOL: tuple(prompts.EVOL_OPERATIONS)}
SOURCES = {
    Method.REWRITE: ("seeds", "logs", "synthetic"),
    Method.EVOL: ("seeds", "logs", "synthetic"),
    Method.MULTI_TURN: ("synthetic", "sft"),
}
EXAMPLES_PER_PROMPT = 3
FINAL = (
    SyntheticSample.Status.PENDING,
    SyntheticSample.Status.ACCEPTED,
    SyntheticSample.Status.REJECTED,
    SyntheticSample.Status.DUPLICATE,
    SyntheticSample.Status.FAILED,
)


# --- seeds --------------------------------------------------------------------------------------


def seed_prompt_add(*, task_type: str, text: str, user=None) -> SeedPrompt:
    task_type, text = task_type.strip(), text.strip()
    if not re.fullmatch(r"[\w-]{1,32}", task_type):
        raise ValueError(Text("a task type is a short word (letters, digits, - or _)"))
    if not 3 <= len(text) <= 8000:
        raise ValueError(Text("a seed prompt is between 3 and 8000 characters"))
    seed, created = SeedPrompt.objects.get_or_create(
        text_hash=text_hash(text), defaults={"task_type": task_type, "text": text, "created_by": user}
    )
    if not created and not seed.active:
        seed.active = True
        seed.save(update_fields=["active"])
    return seed


# --- sources ------------------------------------------------------------------------------------


def _sources(method: str, source: str, task_type: str, limit: int) -> list[dict]:
    """What rewrite, evol and multi-turn start from: [{"ref", "text" | "conversation"}]."""
    if source == "seeds":
        qs = SeedPrompt.objects.filter(active=True).order_by("id")
        if task_type:
            qs = qs.filter(task_type=task_type)
        return [{"ref": f"seed:{s.id}", "text": s.text} for s in qs[:limit]]
    if source == "logs":
        ids = list(
            Message.objects.filter(role=Message.Role.USER, alternative_to__isnull=True)
            .order_by("-id")
            .values_list("id", flat=True)[:limit]
        )
        texts = message_texts_for_llm(message_ids=ids)  # only scrubbed text goes to the LLM
        return [{"ref": f"message:{i}", "text": texts[i][:4000]} for i in ids if texts.get(i, "").strip()]
    if source == "synthetic":
        rows = (
            SyntheticSample.objects.filter(status__in=(SyntheticSample.Status.ACCEPTED, SyntheticSample.Status.PENDING))
            .exclude(method=Method.MULTI_TURN)
            .defer("embedding")
            .order_by("-id")[:limit]
        )
        if method == Method.MULTI_TURN:
            return [{"ref": f"synthetic:{s.id}", "conversation": s.messages} for s in rows if len(s.messages) == 2]
        return [{"ref": f"synthetic:{s.id}", "text": s.prompt} for s in rows]
    if source == "sft":
        rows = SftAnswer.objects.filter(status="accepted").select_related("bad_case").order_by("-id")[:limit]
        out = []
        for row in rows:
            users = [t for t in row.bad_case.context if t["role"] == "user"]
            if len(users) == 1:
                out.append(
                    {
                        "ref": f"sft:{row.id}",
                        "conversation": [
                            {"role": "user", "content": users[0]["content"]},
                            {"role": "assistant", "content": row.final_text},
                        ],
                    }
                )
        return out
    raise ValueError(Text("unknown source %(source)r", source=source))


# --- runs ---------------------------------------------------------------------------------------


def synthesis_run_create(
    *,
    method: str,
    count: int,
    user=None,
    task_type: str = "",
    variants: list[str] | None = None,
    source: str = "",
    temperature: float | None = None,
    max_calls: int | None = None,
    max_cost_usd: float | None = None,
    with_job: bool = True,
) -> ConstructionRun:
    """Plan a synthesis run; ValueError says what is missing or wrong."""
    if method not in Method.values:
        raise ValueError(
            Text("unknown method %(method)r; use one of %(names)s", method=method, names=", ".join(Method.values))
        )
    if not 1 <= count <= settings.FLYWHEEL_SYNTH_MAX_COUNT:
        raise ValueError(Text("count must be between 1 and %(maximum)s", maximum=settings.FLYWHEEL_SYNTH_MAX_COUNT))
    variants = [v for v in (variants or []) if v]
    allowed = VARIANTS.get(method, ())
    if allowed:
        unknown = set(variants) - set(allowed)
        if unknown:
            raise ValueError(
                Text(
                    "unknown %(method)s variants %(variants)s; use %(names)s",
                    method=method,
                    variants=", ".join(sorted(unknown)),
                    names=", ".join(allowed),
                )
            )
        variants = variants or list(allowed)
    config = {
        "method": method,
        "count": count,
        "task_type": task_type.strip(),
        "variants": variants,
        "temperature": settings.FLYWHEEL_SYNTH_TEMPERATURE if temperature is None else float(temperature),
        "max_calls": max_calls or max(4 * count, 10),
        "max_cost_usd": max_cost_usd or settings.FLYWHEEL_CONSTRUCTION_MAX_COST_USD,
    }
    if not 0.0 <= config["temperature"] <= 2.0:
        raise ValueError(Text("temperature must be between 0 and 2"))
    if method == Method.SELF_INSTRUCT:
        seeds = list(
            SeedPrompt.objects.filter(active=True, **({"task_type": task_type} if task_type else {}))
            .order_by("id")
            .values_list("id", flat=True)[:500]
        )
        if not seeds:
            if task_type:
                raise ValueError(Text("add seed prompts of task type %(task_type)s first", task_type=task_type))
            raise ValueError(Text("add seed prompts first"))
        config["seed_ids"] = seeds
    else:
        source = source or SOURCES[method][0]
        if source not in SOURCES[method]:
            raise ValueError(
                Text("%(method)s starts from one of %(names)s", method=method, names=", ".join(SOURCES[method]))
            )
        found = _sources(method, source, config["task_type"], limit=max(count, 50))
        if not found:
            raise ValueError(Text("there is nothing to start from in %(source)r", source=source))
        config["source"], config["sources"] = source, found
    with transaction.atomic():
        run = ConstructionRun.objects.create(
            kind=ConstructionRun.Kind.SYNTHESIZE,
            config=config,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        if with_job:
            run.job = job_create(
                kind="construction.synthesize", payload={"run_id": run.id}, created_by=user, total=count
            )
            run.save(update_fields=["job"])
        if user is not None:
            audit_record(
                actor=user,
                action="construction.synthesis.start",
                target_type="construction_run",
                target_id=run.id,
                detail={k: v for k, v in config.items() if k not in ("sources", "seed_ids")},
            )
    return run


def _plan(run: ConstructionRun, slot: int) -> dict:
    config = run.config
    rng = random.Random(f"{run.id}:{slot}")
    method = config["method"]
    variant = config["variants"][slot % len(config["variants"])] if config.get("variants") else ""
    if method == Method.SELF_INSTRUCT:
        seeds = list(SeedPrompt.objects.filter(id__in=config["seed_ids"]).order_by("id"))
        picked = rng.sample(seeds, min(EXAMPLES_PER_PROMPT, len(seeds)))
        task_type = config["task_type"] or picked[0].task_type
        same_type = [s for s in picked if s.task_type == task_type] or picked
        return {
            "variant": "",
            "seed": picked[0],
            "source_ref": f"seed:{picked[0].id}",
            "task_type": task_type,
            "source_text": "\n---\n".join(s.text for s in same_type),
            "messages": prompts.self_instruct_messages(task_type=task_type, examples=[s.text for s in same_type]),
        }
    source = config["sources"][slot % len(config["sources"])]
    seed_id = int(source["ref"].split(":")[1]) if source["ref"].startswith("seed:") else None
    base = {
        "variant": variant,
        "seed": SeedPrompt.objects.filter(id=seed_id).first() if seed_id else None,
        "source_ref": source["ref"],
        "task_type": config["task_type"],
    }
    if method == Method.REWRITE:
        return {
            **base,
            "source_text": source["text"],
            "messages": prompts.rewrite_messages(source=source["text"], form=variant),
        }
    if method == Method.EVOL:
        return {
            **base,
            "source_text": source["text"],
            "messages": prompts.evol_messages(source=source["text"], operation=variant),
        }
    conversation = source["conversation"]
    return {
        **base,
        "source_text": conversation[0]["content"],
        "conversation": conversation,
        "messages": prompts.follow_up_messages(conversation=conversation),
    }


# --- deduplication ------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def mostly_cjk(text: str) -> bool:
    letters = [c for c in text if not c.isspace()]
    return bool(letters) and len(_CJK.findall(text)) / len(letters) > 0.3


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"\s+", "", normalize_text(text))
    return {text[i : i + 2] for i in range(max(len(text) - 1, 1))}


class PromptIndex:
    """The prompts new ones must not repeat: embeddings for the model's languages, character
    bigrams for Chinese when the embedding model is English-only."""

    def __init__(self, texts: list[str]):
        self.lexical_cjk = not embedding_reads_chinese()
        self.texts: list[str] = []
        self.vectors = np.zeros((0, 1), dtype=np.float32)
        self.cjk: list[tuple[str, set[str]]] = []
        self.add(texts)

    def add(self, texts: list[str], vectors: np.ndarray | None = None) -> None:
        """Add prompts; `vectors` (one row per text) are reused when they fit the current model."""
        keep = [i for i, t in enumerate(texts) if t and t.strip()]
        cjk = [i for i in keep if self.lexical_cjk and mostly_cjk(texts[i])]
        plain = [i for i in keep if i not in set(cjk)]
        self.cjk += [(texts[i], _bigrams(texts[i])) for i in cjk]
        if not plain:
            return
        new = vectors[plain] if vectors is not None else None
        if new is None or (self.texts and new.shape[1] != self.vectors.shape[1]):
            new = embed_texts([texts[i] for i in plain])
        self.vectors = new if not self.texts else np.vstack([self.vectors, new])
        self.texts += [texts[i] for i in plain]

    def nearest(self, text: str, *, ignore: str = "") -> tuple[float, str, np.ndarray | None]:
        """(similarity, closest text, the text's embedding or None for lexical comparison)."""
        ignore_norm = normalize_text(ignore) if ignore else None
        if self.lexical_cjk and mostly_cjk(text):
            grams, best = _bigrams(text), (0.0, "")
            for other, other_grams in self.cjk:
                if ignore_norm and normalize_text(other) == ignore_norm:
                    continue
                score = len(grams & other_grams) / max(len(grams | other_grams), 1)
                best = max(best, (score, other))
            return best[0], best[1], None
        vector = embed_texts([text])
        if not self.texts:
            return 0.0, "", vector
        sims = self.vectors @ vector[0]
        for index in np.argsort(-sims):
            if ignore_norm and normalize_text(self.texts[index]) == ignore_norm:
                continue
            return float(sims[index]), self.texts[index], vector
        return 0.0, "", vector

    def threshold_for(self, text: str) -> float:
        if self.lexical_cjk and mostly_cjk(text):
            return settings.FLYWHEEL_SYNTH_DEDUP_CJK_JACCARD
        return settings.FLYWHEEL_SYNTH_DEDUP_COSINE


def _prompt_index(run: ConstructionRun) -> PromptIndex:
    """Seeds, earlier synthetic prompts (their stored embeddings are reused) and recent user
    prompts. A prompt of a slot that was stored but not yet compared is left out: it must not
    find itself."""
    texts = list(SeedPrompt.objects.filter(active=True).values_list("text", flat=True)[:5000])
    log_prompts = settings.FLYWHEEL_SYNTH_DEDUP_LOG_PROMPTS
    if log_prompts:
        texts += list(
            Message.objects.filter(role=Message.Role.USER, alternative_to__isnull=True)
            .order_by("-id")
            .values_list("content", flat=True)[:log_prompts]
        )
    index = PromptIndex(list(dict.fromkeys(texts)))
    stored = (
        SyntheticSample.objects.exclude(status__in=(SyntheticSample.Status.FAILED, SyntheticSample.Status.DUPLICATE))
        .exclude(prompt="")
        .exclude(status=SyntheticSample.Status.PROMPTED, similarity__isnull=True)
        .order_by("-id")
        .values_list("prompt", "embedding")[:5000]
    )
    with_vectors = [(p, np.frombuffer(bytes(e), dtype=np.float32)) for p, e in stored if e]
    if with_vectors and len({v.shape[0] for _, v in with_vectors}) == 1:
        index.add([p for p, _ in with_vectors], vectors=np.vstack([v for _, v in with_vectors]))
    else:
        index.add([p for p, _ in with_vectors])
    index.add([p for p, e in stored if not e])
    return index


# --- running ------------------------------------------------------------------------------------


def _prompt_slot(run: ConstructionRun, slot: int, *, ledger: Ledger) -> SyntheticSample:
    plan = _plan(run, slot)
    method = run.config["method"]
    common = dict(
        run=run,
        slot=slot,
        method=method,
        variant=plan["variant"],
        task_type=plan["task_type"],
        seed=plan["seed"],
        source_ref=plan["source_ref"],
        source_text=plan["source_text"][:8000],
        prompt_version=VERSIONS[method],
    )
    stored: dict = {}

    def store(call: JsonCall) -> None:
        if call.result is None:
            stored["sample"] = SyntheticSample.objects.create(
                **common, status=SyntheticSample.Status.FAILED, model=call.record.model, error=call.record.error[:2000]
            )
        else:
            prompt = call.result.data["prompt"].strip()
            base = plan.get("conversation", [])
            stored["sample"] = SyntheticSample.objects.create(
                **common,
                status=SyntheticSample.Status.PROMPTED,
                model=call.record.model,
                prompt=prompt,
                messages=[*base, {"role": "user", "content": prompt}],
            )
        call.record.synthetic = stored["sample"]
        call.record.save(update_fields=["synthetic"])

    ledger.json(
        purpose="synth-prompt",
        role="teacher",
        messages=plan["messages"],
        schema=prompts.PROMPT_SCHEMA,
        prompt_version=VERSIONS[method],
        temperature=run.config["temperature"],
        use_cache=False,
        on_answer=store,
    )
    return stored["sample"]


def _dedupe(sample: SyntheticSample, index: PromptIndex) -> bool:
    """Mark a duplicate (True) or store the prompt's embedding and add it to the index."""
    ignore = sample.source_text if sample.method in (Method.REWRITE, Method.EVOL) else ""
    if ignore and normalize_text(sample.prompt) == normalize_text(ignore):
        sample.status, sample.similarity, sample.duplicate_of = SyntheticSample.Status.DUPLICATE, 1.0, ignore[:4000]
        sample.error = "the model returned the source prompt unchanged"
        sample.save(update_fields=["status", "similarity", "duplicate_of", "error"])
        return True
    similarity, closest, vector = index.nearest(sample.prompt, ignore=ignore)
    sample.similarity = round(similarity, 4)
    if similarity >= index.threshold_for(sample.prompt):
        sample.status, sample.duplicate_of = SyntheticSample.Status.DUPLICATE, closest[:4000]
        sample.save(update_fields=["status", "similarity", "duplicate_of"])
        return True
    if vector is not None:
        sample.embedding = vector[0].astype(np.float32).tobytes()
    index.add([sample.prompt], vectors=vector)
    sample.save(update_fields=["similarity", "embedding"])
    return False


def _answer(sample: SyntheticSample, *, run: ConstructionRun, ledger: Ledger) -> None:
    def store(record, result) -> None:
        answer = (result.contents[0] if result.contents else "").strip()
        if not answer:
            SyntheticSample.objects.filter(id=sample.id).update(
                status=SyntheticSample.Status.FAILED, error="the teacher gave an empty answer"
            )
            return
        sample.messages = [*sample.messages, {"role": "assistant", "content": answer}]
        sample.status = SyntheticSample.Status.PENDING
        item = review_item_enqueue(
            kind="synthetic_sample",
            subject_type="synthetic_sample",
            subject_id=str(sample.id),
            payload={"method": sample.method, "variant": sample.variant, "task_type": sample.task_type},
        )
        sample.review_item_id = item.id
        sample.save(update_fields=["messages", "status", "review_item_id"])

    ledger.texts(
        purpose="synth-answer",
        messages=prompts.synth_answer_messages(conversation=sample.messages),
        n=1,
        temperature=0.7,
        prompt_version=prompts.SYNTH_ANSWER_VERSION,
        synthetic=sample,
        on_answer=store,
    )


def synthesis_run_execute(
    *, run_id: int, progress: Progress = progress_ignored, check_cancelled: Callable[[], None] = lambda: None
) -> dict:
    run = ConstructionRun.objects.get(id=run_id)
    if run.is_finished:
        return run.summary
    if not llm_is_configured():
        raise LLMRequestRejected("no LLM is configured (OPENAI_BASE_URL is empty): synthesis needs a teacher")
    config = run.config
    ledger = Ledger(run, max_calls=int(config["max_calls"]), max_cost_usd=float(config["max_cost_usd"] or 0))
    ConstructionRun.objects.filter(id=run.id).update(status=ConstructionRun.Status.RUNNING)
    index = _prompt_index(run)
    samples = {s.slot: s for s in SyntheticSample.objects.filter(run=run).defer("embedding")}
    stop_reason, status = "", ConstructionRun.Status.FINISHED
    try:
        for slot in range(int(config["count"])):
            check_cancelled()
            progress(slot, int(config["count"]), f"slot {slot + 1}")
            sample = samples.get(slot)
            if sample is not None and sample.status in FINAL:
                continue
            try:
                if sample is None:
                    sample = _prompt_slot(run, slot, ledger=ledger)
                if (
                    sample.status == SyntheticSample.Status.PROMPTED
                    and sample.embedding is None
                    and sample.similarity is None
                ):
                    if _dedupe(sample, index):
                        continue
                if sample.status == SyntheticSample.Status.PROMPTED:
                    _answer(sample, run=run, ledger=ledger)
            except BudgetExhausted as exc:
                stop_reason, status = f"stopped at slot {slot + 1}: {exc}", ConstructionRun.Status.STOPPED
                break
    except (JobCancelled, LLMRequestRejected) as exc:
        reason = "cancelled" if isinstance(exc, JobCancelled) else f"the LLM server refused the request: {exc}"
        ConstructionRun.objects.filter(id=run.id).update(
            status=ConstructionRun.Status.STOPPED if isinstance(exc, JobCancelled) else ConstructionRun.Status.FAILED,
            stop_reason=reason[:2000],
            summary=synthesis_summary(run=run, stop_reason=reason),
            finished_at=timezone.now(),
        )
        raise
    summary = synthesis_summary(run=run, stop_reason=stop_reason)
    ConstructionRun.objects.filter(id=run.id).update(
        status=status, stop_reason=stop_reason, summary=summary, finished_at=timezone.now()
    )
    return summary


def synthesis_summary(*, run: ConstructionRun, stop_reason: str = "") -> dict:
    statuses: dict[str, int] = {}
    for status in SyntheticSample.objects.filter(run=run).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    requests = sum(run.calls.values_list("requests", flat=True))
    cost = sum(run.calls.values_list("cost_usd", flat=True))
    return {
        "run_id": run.id,
        "method": run.config.get("method"),
        "slots": run.config.get("count"),
        "samples": statuses,
        "pending_review": statuses.get(SyntheticSample.Status.PENDING, 0),
        "duplicates": statuses.get(SyntheticSample.Status.DUPLICATE, 0),
        "failed": statuses.get(SyntheticSample.Status.FAILED, 0),
        "llm_calls": requests,
        "cost_usd": round(float(cost), 6),
        "stopped": stop_reason,
    }


def synthetic_review_apply(*, sample_id: int, accepted: bool, user) -> None:
    SyntheticSample.objects.filter(id=sample_id).update(
        status=SyntheticSample.Status.ACCEPTED if accepted else SyntheticSample.Status.REJECTED,
        reviewer=user,
        reviewed_at=timezone.now(),
    )
