"""Evaluation sets (immutable, content-addressed), evaluations, stored answers and judgements.

Answers and judgements are keyed by what produced them, so a killed worker's rerun, or judging
the same answers again, never generates or pays twice."""

from django.conf import settings
from django.db import models


class EvalSet(models.Model):
    content_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the canonical items.")
    name = models.CharField(max_length=120)
    source = models.CharField(max_length=32, help_text="upload, dataset_version or review.")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    item_count = models.PositiveIntegerField(default=0)
    task_types = models.JSONField(default=dict, help_text="{task_type: items}.")
    weights = models.JSONField(
        default=dict, blank=True, help_text="{task_type or '*': {dimension: weight}}; empty: the documented defaults."
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version this one extends (a set frozen again from review with more items).",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"eval set {self.pk} {self.name}"


class EvalSetDraft(models.Model):
    """An evaluation set being gathered from review, one session at a time. Mutable, so nothing
    evaluates it: freezing it writes an immutable, content-addressed EvalSet (a new version
    whenever its items changed since the last one; the same items give the same set)."""

    name = models.CharField(max_length=120)
    base = models.ForeignKey(
        EvalSet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="drafts",
        help_text="The version it extends: its items were copied in first.",
    )
    weights = models.JSONField(default=dict, blank=True, help_text="Carried over from the base set.")
    latest = models.ForeignKey(
        EvalSet, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Last version frozen."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"draft {self.pk} {self.name}"


class EvalSetDraftItem(models.Model):
    """One item of a draft: the conversation before a reviewed answer, and that answer as the
    reference (a reviewer's rewrite, an accepted constructed answer or an approved answer)."""

    class Source(models.TextChoices):
        REWRITE = "rewrite"
        CONSTRUCTED = "constructed"
        APPROVED = "approved"
        BASE = "base"

    draft = models.ForeignKey(EvalSetDraft, on_delete=models.CASCADE, related_name="items")
    item_hash = models.CharField(max_length=64, help_text="sha256 of the conversation (context + reference).")
    messages = models.JSONField(help_text="The context: the conversation before the reference answer.")
    reference = models.TextField()
    task_type = models.CharField(max_length=64)
    reference_source = models.CharField(max_length=16, choices=Source.choices)
    session = models.ForeignKey(
        "ingest.ChatSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_id = models.BigIntegerField(null=True, blank=True, help_text="The answer the reference stands for.")
    overlap = models.JSONField(
        default=list, blank=True, help_text="Dataset versions whose train split holds this conversation or prompt."
    )
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["draft", "item_hash"], name="eval_draft_item_once")]


class EvalItem(models.Model):
    eval_set = models.ForeignKey(EvalSet, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    item_hash = models.CharField(
        max_length=64, help_text="sha256 of the canonical conversation (messages + reference)."
    )
    messages = models.JSONField(help_text="The context: the conversation without the reference answer.")
    reference = models.TextField(blank=True)
    task_type = models.CharField(max_length=64)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["eval_set", "position"], name="eval_item_position")]
        indexes = [models.Index(fields=["item_hash"])]


class Evaluation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        WAITING = "waiting"
        DONE = "done"
        FAILED = "failed"

    eval_set = models.ForeignKey(EvalSet, on_delete=models.PROTECT, related_name="evaluations")
    candidate = models.CharField(max_length=1100, help_text="run:<id>, model:<dir> or endpoint:<model>.")
    baseline = models.CharField(max_length=1100, blank=True)
    run = models.ForeignKey(
        "runs.TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evaluations",
        help_text="The run the candidate came from.",
    )
    judge_repeats = models.PositiveSmallIntegerField(default=1)
    mode = models.CharField(max_length=8, default="judge", help_text="judge (LLM) or offline (reference metrics).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    overlap = models.JSONField(default=list, blank=True, help_text="Items also in a compared training split.")
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]


class CandidateAnswer(models.Model):
    """One answer of one candidate (its spec is the key) to one item: generated once."""

    item = models.ForeignKey(EvalItem, on_delete=models.CASCADE, related_name="answers")
    candidate = models.CharField(max_length=1100)
    candidate_key = models.CharField(max_length=64, help_text="sha256 of the candidate spec (the unique key).")
    answer = models.TextField()
    new_tokens = models.PositiveIntegerField(null=True, blank=True)
    reference_loss = models.FloatField(
        null=True, blank=True, help_text="Per-turn loss of the item's reference under this model (models only)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "candidate_key"], name="eval_answer_once")]


class Judgement(models.Model):
    """One judge verdict, keyed by everything that determines it (kind, answers, order, repeat, judge
    model, prompt version): asking again finds it instead of paying."""

    class Kind(models.TextChoices):
        POINTWISE = "pointwise"
        PAIRWISE = "pairwise"

    key = models.CharField(max_length=64, unique=True)
    item = models.ForeignKey(EvalItem, on_delete=models.CASCADE, related_name="judgements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    answer = models.ForeignKey(CandidateAnswer, on_delete=models.CASCADE, related_name="judgements")
    other = models.ForeignKey(
        CandidateAnswer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Pairwise: the baseline's answer.",
    )
    order = models.CharField(max_length=2, blank=True, help_text="Pairwise: AB (candidate shown first) or BA.")
    repeat = models.PositiveSmallIntegerField(default=0)
    model = models.CharField(max_length=200)
    scores = models.JSONField(default=dict, blank=True)
    winner = models.CharField(max_length=4, blank=True)
    reasons = models.TextField(blank=True)
    dead = models.BooleanField(default=False, help_text="The judge gave no valid answer after two re-asks.")
    error = models.TextField(blank=True)
    usage = models.JSONField(default=dict, blank=True, help_text="calls, prompt_tokens, completion_tokens paid for it.")
    created_at = models.DateTimeField(auto_now_add=True)


class RunPromotion(models.Model):
    run = models.OneToOneField("runs.TrainingRun", on_delete=models.CASCADE, related_name="promotion")
    evaluation = models.ForeignKey(Evaluation, on_delete=models.PROTECT, related_name="+")
    overridden = models.BooleanField(default=False)
    regressions = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    promoted_at = models.DateTimeField(auto_now_add=True)


class HumanComparison(models.Model):
    """One blind A/B review of an item: which answer was shown first is drawn on the server and
    kept here, never in the review item (the reviewer must not learn which model is which)."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="human_comparisons")
    item = models.ForeignKey(EvalItem, on_delete=models.CASCADE, related_name="+")
    candidate_first = models.BooleanField()
    winner = models.CharField(max_length=10, blank=True, help_text="candidate, baseline or tie; empty until decided.")
    scores = models.JSONField(default=dict, blank=True, help_text="{candidate|baseline: {dimension: 1-10}}.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["evaluation", "item"], name="eval_human_once_per_item")]
