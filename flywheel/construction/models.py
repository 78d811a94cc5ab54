"""What construction keeps: bad cases and why they are bad, the runs (jobs) that build better
data from them, every LLM call with its prompt, answer and usage, the candidates and the
judgements on them, the SFT answers and preference pairs that came out, and synthetic samples.

Everything a run pays for is written as soon as it arrives (a candidate, a judgement), keyed so
that a run resumed after a kill finds it and does not ask again: `Candidate` by (bad case,
index), `Judgement` by (bad case, key), `SyntheticSample` by (run, slot).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class BadCase(models.Model):
    """One bad assistant answer (one row per answer, however many signals point at it)."""

    class Status(models.TextChoices):
        NEW = "new"  # waiting for construction
        CONSTRUCTING = "constructing"  # claimed by a run
        DONE = "done"  # constructed: see the refusals and the SFT answer / pair
        BLOCKED = "blocked"  # its text could not be PII-scrubbed: it must not go to an LLM
        DISMISSED = "dismissed"  # a reviewer found the answer acceptable

    message = models.OneToOneField("ingest.Message", on_delete=models.CASCADE, related_name="bad_case")
    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="bad_cases")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    context = models.JSONField(
        default=list,
        blank=True,
        help_text="The scrubbed conversation before the bad answer: [{message_id, role, content}].",
    )
    bad_answer = models.TextField(blank=True, help_text="The bad answer, PII-scrubbed.")
    feedback_hint = models.TextField(blank=True, help_text="What users said about the answer, scrubbed.")
    blocked_reason = models.CharField(max_length=300, blank=True)
    reference_text = models.TextField(blank=True, help_text="A reference answer for the judge (a reviewer's edit).")
    reference_source = models.CharField(max_length=64, blank=True)
    task_type = models.CharField(max_length=32, blank=True)
    verifier = models.JSONField(
        null=True,
        blank=True,
        help_text='{"kind": "math", "expected": "42"} or {"kind": "code", "tests": "assert f(1) == 2"}',
    )
    proposed_tests = models.TextField(
        blank=True,
        help_text="Asserts found in the user's prompt. Chat text is untrusted: they become the code "
        "verifier only when an engineer accepts them.",
    )
    run = models.ForeignKey(
        "ConstructionRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bad_cases",
        help_text="The run that claimed (or last constructed) this bad case.",
    )
    sft_refusal = models.CharField(max_length=32, blank=True, help_text="Why no SFT answer was made.")
    pair_refusal = models.CharField(max_length=32, blank=True, help_text="Why no pair was kept.")
    account = models.TextField(blank=True, help_text="What construction did and why, in words.")
    mined_at = models.DateTimeField(auto_now_add=True)
    constructed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "id"])]

    def __str__(self) -> str:
        return f"bad case {self.pk} (message {self.message_id})"


class BadCaseReason(models.Model):
    """One signal that an answer is bad: a thumbs-down, a cleaning flag, a reviewer's verdict,
    a low label. One row per (bad case, source); `detail` keeps the source rows' ids."""

    bad_case = models.ForeignKey(BadCase, on_delete=models.CASCADE, related_name="reasons")
    source = models.CharField(max_length=32)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bad_case", "source"], name="badcase_reason_once_per_source")]
        indexes = [models.Index(fields=["source", "bad_case"])]

    def __str__(self) -> str:
        return f"{self.source} on bad case {self.bad_case_id}"


class ConstructionRun(models.Model):
    """One construction or synthesis run, with its settings, budget and outcome. A run started
    from the UI has a job; `manage.py construct` runs one in the foreground (no job)."""

    class Kind(models.TextChoices):
        CONSTRUCT = "construct"
        SYNTHESIZE = "synthesize"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        FINISHED = "finished"
        STOPPED = "stopped"  # a budget ran out, or the judge kept failing: see stop_reason
        FAILED = "failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CONSTRUCT)
    job = models.OneToOneField(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="construction_run"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    config = models.JSONField(default=dict, blank=True)
    bad_case_ids = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    stop_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of a foreground run.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "-id"])]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.FINISHED, self.Status.STOPPED, self.Status.FAILED)


class LLMCall(models.Model):
    """One teacher or judge call as sent and answered: the ledger a run's budget is read from."""

    run = models.ForeignKey(ConstructionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    bad_case = models.ForeignKey(BadCase, null=True, blank=True, on_delete=models.CASCADE, related_name="calls")
    synthetic = models.ForeignKey(
        "SyntheticSample", null=True, blank=True, on_delete=models.CASCADE, related_name="calls"
    )
    purpose = models.CharField(max_length=32, help_text="teacher, pointwise, pairwise, synth-prompt, synth-answer, ...")
    role = models.CharField(max_length=16)
    model = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=64)
    messages = models.JSONField(default=list)
    answers = models.JSONField(default=list, blank=True, help_text="Raw answers (several for n > 1 or re-asks).")
    requests = models.PositiveIntegerField(
        default=1, help_text="HTTP requests that returned an answer (re-asks count)."
    )
    cached = models.BooleanField(default=False)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["run", "purpose"])]


class Candidate(models.Model):
    """One answer to a bad case's context: the original bad answer (index 0) or a teacher sample."""

    class Source(models.TextChoices):
        ORIGINAL = "original"
        TEACHER = "teacher"

    bad_case = models.ForeignKey(BadCase, on_delete=models.CASCADE, related_name="candidates")
    index = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=16, choices=Source.choices)
    text = models.TextField()
    normalized_hash = models.CharField(max_length=16)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="An earlier candidate with the same text (after normalisation).",
    )
    llm_call = models.ForeignKey(LLMCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates")
    model = models.CharField(max_length=128, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    length_chars = models.PositiveIntegerField(default=0)
    verifier = models.JSONField(null=True, blank=True, help_text="{kind, passed, detail}; null: not checkable.")
    score = models.FloatField(null=True, blank=True, help_text="The pointwise judge score (1..10).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bad_case", "index"]
        constraints = [models.UniqueConstraint(fields=["bad_case", "index"], name="candidate_once_per_index")]

    def __str__(self) -> str:
        return f"candidate {self.index} of bad case {self.bad_case_id}"

    @property
    def verifier_failed(self) -> bool:
        return bool(self.verifier) and self.verifier.get("passed") is False


class Judgement(models.Model):
    """One judge answer: a pointwise score of one candidate, or a pairwise verdict on two
    candidates in one order (AB: `candidate` shown first; BA: `other` shown first)."""

    class Kind(models.TextChoices):
        POINTWISE = "pointwise"
        PAIRWISE = "pairwise"

    bad_case = models.ForeignKey(BadCase, on_delete=models.CASCADE, related_name="judgements")
    key = models.CharField(max_length=64, help_text="point:<candidate index> or pair:<a>:<b>:<AB|BA>")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="judgements")
    other = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    order = models.CharField(max_length=2, blank=True)
    ok = models.BooleanField()
    score = models.FloatField(null=True, blank=True)
    winner = models.CharField(max_length=8, blank=True, help_text="Pairwise: A, B or tie, as the judge saw the order.")
    reasons = models.TextField(blank=True)
    error = models.TextField(blank=True)
    model = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=64)
    llm_call = models.ForeignKey(LLMCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run = models.ForeignKey(
        ConstructionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="judgements"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bad_case", "key"], name="judgement_once_per_key")]


class ReviewStatus(models.TextChoices):
    PENDING = "pending"  # waiting in a review queue
    ACCEPTED = "accepted"  # dataset-ready
    REJECTED = "rejected"


class SftAnswer(models.Model):
    """The best candidate of a bad case, as the answer to train on once a reviewer accepts it."""

    bad_case = models.OneToOneField(BadCase, on_delete=models.CASCADE, related_name="sft_answer")
    candidate = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="+")
    score = models.FloatField()
    decided_by = models.CharField(max_length=32, help_text="pointwise, or pointwise+pairwise")
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    final_text = models.TextField(blank=True, help_text="The accepted text (the reviewer's edit, if any).")
    edited = models.BooleanField(default=False)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_item_id = models.BigIntegerField(null=True, blank=True)
    run = models.ForeignKey(ConstructionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "id"])]


class ConstructedPair(models.Model):
    """A chosen/rejected pair kept because the judge's margin cleared the threshold."""

    bad_case = models.OneToOneField(BadCase, on_delete=models.CASCADE, related_name="pair")
    chosen = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="+")
    rejected = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="+")
    chosen_score = models.FloatField()
    rejected_score = models.FloatField()
    margin = models.FloatField()
    decided_by = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    swapped = models.BooleanField(default=False, help_text="The reviewer preferred the marked 'rejected' answer.")
    final_chosen = models.TextField(blank=True)
    final_rejected = models.TextField(blank=True)
    edited = models.BooleanField(default=False)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_item_id = models.BigIntegerField(null=True, blank=True)
    run = models.ForeignKey(ConstructionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(chosen=F("rejected")), name="constructed_pair_sides_differ"),
            models.CheckConstraint(condition=Q(margin__gt=0), name="constructed_pair_has_a_margin"),
        ]
        indexes = [models.Index(fields=["status", "id"])]


class SeedPrompt(models.Model):
    """A hand-picked example prompt of one task type: what Self-Instruct grows new prompts from."""

    task_type = models.CharField(max_length=32)
    text = models.TextField()
    text_hash = models.CharField(max_length=16, unique=True)
    language = models.CharField(max_length=8, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["task_type", "active"])]

    def __str__(self) -> str:
        return f"{self.task_type}: {self.text[:40]}"


class SyntheticSample(models.Model):
    """A made-up conversation and how it was made (method, variant, seed or source, prompt
    version, models). One per (run, slot), so a resumed run fills only the slots left."""

    class Method(models.TextChoices):
        SELF_INSTRUCT = "self_instruct", "Self-Instruct (new prompt from seeds)"
        REWRITE = "rewrite", "Rewrite into another form"
        EVOL = "evol", "Evol-Instruct (harder version)"
        MULTI_TURN = "multi_turn", "Multi-turn growth (follow-up and answer)"

    class Status(models.TextChoices):
        PROMPTED = "prompted"  # the new prompt is stored, its answer not yet
        PENDING = "pending"  # answered, waiting for review
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        DUPLICATE = "duplicate"  # too close to an existing prompt: not answered
        FAILED = "failed"  # the model gave no usable prompt

    run = models.ForeignKey(ConstructionRun, on_delete=models.CASCADE, related_name="synthetic_samples")
    slot = models.PositiveIntegerField()
    method = models.CharField(max_length=16, choices=Method.choices)
    variant = models.CharField(max_length=32, blank=True, help_text="Rewrite form or evolution operation.")
    task_type = models.CharField(max_length=32, blank=True)
    seed = models.ForeignKey(SeedPrompt, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_ref = models.CharField(max_length=64, blank=True, help_text="seed:<id>, message:<id>, synthetic:<id>")
    source_text = models.TextField(blank=True, help_text="The prompt (or conversation) this one was made from.")
    prompt = models.TextField(blank=True)
    messages = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    similarity = models.FloatField(null=True, blank=True, help_text="To the closest existing prompt.")
    duplicate_of = models.TextField(blank=True, help_text="The closest existing prompt, when a duplicate.")
    embedding = models.BinaryField(null=True, blank=True, help_text="float32 prompt embedding, for later dedup.")
    prompt_version = models.CharField(max_length=64)
    model = models.CharField(max_length=128, blank=True)
    error = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_item_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "slot"], name="synthetic_once_per_slot")]
        indexes = [models.Index(fields=["status", "id"]), models.Index(fields=["method", "-id"])]
