"""What cleaning stores: per-app rule configuration, each rule's verdicts, each message's
cleaned and scrubbed text, each session's outcome, and the duplicate index.

Verdicts (`RuleResult`) are written once per (message or session, rule, version, config
hash): a re-run with the same rules adds nothing, a re-run with a new rule version or new
parameters adds rows beside the old ones, so history is never overwritten. Only hits are
stored (a pass is the absence of a row).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Status(models.TextChoices):
    KEPT = "kept"
    FLAGGED = "flagged"
    DROPPED = "dropped"


class Action(models.TextChoices):
    DROP = "drop"
    FLAG = "flag"
    FIX = "fix"


class RuleSetConfig(models.Model):
    """Overrides of the rule defaults for one app; the row with app "" applies to every app
    that has no row of its own."""

    app = models.CharField(max_length=64, unique=True, blank=True)
    overrides = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"rules for {self.app or 'every app'}"


class RuleResult(models.Model):
    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="cleaning_results")
    # Null for a verdict on the whole session.
    message = models.ForeignKey(
        "ingest.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="cleaning_results"
    )
    rule = models.CharField(max_length=64)
    rule_version = models.PositiveIntegerField()
    config_hash = models.CharField(max_length=12, blank=True, help_text="Hash of the action and parameters used.")
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "rule", "rule_version", "config_hash"],
                condition=Q(message__isnull=False),
                name="rule_result_once_per_message",
            ),
            models.UniqueConstraint(
                fields=["session", "rule", "rule_version", "config_hash"],
                condition=Q(message__isnull=True),
                name="rule_result_once_per_session",
            ),
        ]
        indexes = [models.Index(fields=["rule", "rule_version", "config_hash", "-id"])]

    def __str__(self) -> str:
        return f"{self.rule} v{self.rule_version} {self.action}: {self.reason}"


class SessionCleaning(models.Model):
    """One row per cleaned session: its verdict, and the session it duplicates (if any).
    Later stages read sessions through `selectors.sessions_ready_for_labeling`."""

    session = models.OneToOneField(
        "ingest.ChatSession", primary_key=True, on_delete=models.CASCADE, related_name="cleaning"
    )
    app = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    reasons = models.JSONField(default=list, blank=True)
    duplicate_of = models.ForeignKey(
        "ingest.ChatSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    similarity = models.FloatField(null=True, blank=True, help_text="Estimated Jaccard similarity to duplicate_of.")
    language = models.CharField(max_length=8, blank=True, help_text="Language of most user turns.")
    config_fingerprint = models.CharField(max_length=12, help_text="The rule set this verdict came from.")
    last_message_id = models.BigIntegerField(default=0, help_text="Newest message seen; newer ones mean re-clean.")
    cleaned_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["status", "session"]),
            models.Index(fields=["app", "status"]),
            models.Index(fields=["config_fingerprint"]),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id}: {self.status}"


class MessageCleaning(models.Model):
    message = models.OneToOneField(
        "ingest.Message", primary_key=True, on_delete=models.CASCADE, related_name="cleaning"
    )
    session = models.ForeignKey("ingest.ChatSession", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices)
    # The text after fix rules (mojibake, Traditional→Simplified); null when unchanged.
    text = models.TextField(null=True, blank=True)
    language = models.CharField(max_length=8, blank=True)
    # For user prompts: the first stored prompt this one (nearly) repeats.
    duplicate_of = models.ForeignKey(
        "ingest.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    similarity = models.FloatField(null=True, blank=True)
    cleaned_at = models.DateTimeField()


class MessageScrub(models.Model):
    """The PII-scrubbed text of one message; what may be sent to an LLM."""

    message = models.OneToOneField("ingest.Message", primary_key=True, on_delete=models.CASCADE, related_name="scrub")
    scrubber_version = models.PositiveIntegerField()
    input_hash = models.CharField(max_length=16, help_text="Hash of the text that was scrubbed.")
    ok = models.BooleanField(help_text="False: scrubbing failed and the text must not leave Flywheel.")
    text = models.TextField(null=True, blank=True, help_text="Scrubbed text; null when nothing was replaced.")
    findings = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=500, blank=True)
    has_findings = models.BooleanField(default=False)
    scrubbed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["message"], condition=Q(has_findings=True), name="message_scrub_found_idx")]


class DedupEntry(models.Model):
    """One session or user prompt in the duplicate index. Representatives (no
    `representative`) carry LSH bands; duplicates link to their representative."""

    class Scope(models.TextChoices):
        SESSION = "session"
        PROMPT = "prompt"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    session = models.ForeignKey("ingest.ChatSession", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("ingest.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    content_hash = models.CharField(max_length=16)
    signature = models.BinaryField(null=True, blank=True, help_text="MinHash signature, uint32 little-endian.")
    representative = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    similarity = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session"], condition=Q(scope="session"), name="dedup_one_entry_per_session"
            ),
            models.UniqueConstraint(fields=["message"], condition=Q(scope="prompt"), name="dedup_one_entry_per_prompt"),
        ]
        indexes = [
            models.Index(
                fields=["scope", "content_hash"],
                condition=Q(representative__isnull=True),
                name="dedup_representative_hash_idx",
            ),
        ]


class DedupBand(models.Model):
    """One LSH band of a representative. The key mixes in the band number and the scope, so
    one bigint index finds candidates. Written once, with its entry, under the cleaning lock."""

    key = models.BigIntegerField(db_index=True)
    entry = models.ForeignKey(DedupEntry, on_delete=models.CASCADE, related_name="bands")


class CleaningState(models.Model):
    """Small named values: the watermark for appended messages, and lock rows that keep two
    cleaning jobs from indexing duplicates at the same time."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.BigIntegerField(default=0)
