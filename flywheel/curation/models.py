"""Curation scores: one row per (dataset sample, assistant turn, metric, model), every figure
kept, so a build can filter on them and a manifest can name the model that produced them."""

from django.db import models


class TurnScore(models.Model):
    """A score of one assistant turn of one dataset sample: its IFD, or a reward model's score of the
    conversation up to and including it (stored on its last assistant turn)."""

    class Metric(models.TextChoices):
        IFD = "ifd"
        REWARD = "reward"

    sample = models.ForeignKey("datasets.DatasetSample", on_delete=models.CASCADE, related_name="turn_scores")
    version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.CASCADE, related_name="turn_scores")
    turn = models.PositiveIntegerField(help_text="Assistant turn number within the sample (0-based).")
    message_index = models.PositiveIntegerField(help_text="Index of the message in the sample's messages.")
    message_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="The stored message, when the sample's lineage names it."
    )
    metric = models.CharField(max_length=16, choices=Metric.choices)
    model = models.CharField(max_length=500, help_text="Model directory that scored it.")
    model_version = models.CharField(max_length=64, help_text="sha256 of the model's config and weights index.")
    value = models.FloatField(null=True, blank=True, help_text="The score; NULL when it could not be computed.")
    loss_cond = models.FloatField(null=True, blank=True)
    loss_direct = models.FloatField(null=True, blank=True)
    tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sample", "turn", "metric", "model_version"], name="turn_score_once"),
        ]
        indexes = [models.Index(fields=["version", "metric", "model_version"], name="turn_score_by_version")]

    def __str__(self) -> str:
        return f"{self.metric}={self.value} sample {self.sample_id} turn {self.turn}"


class NecessityScore(models.Model):
    """MoDS's necessity stage: how well the seed model (trained on the seed selection) answers one
    prompt, as a reward model scores its answer. Keyed by the prompt's content and both models'
    versions, so a build that asks again finds it and a killed job's rerun pays nothing twice."""

    prompt_hash = models.CharField(
        max_length=64, help_text="sha256 of the prompt (the conversation before the answer)."
    )
    seed_model = models.CharField(max_length=500, help_text="Model directory that answered (a run's final model).")
    seed_model_version = models.CharField(max_length=64)
    reward_model = models.CharField(max_length=500)
    reward_model_version = models.CharField(max_length=64)
    answer = models.TextField()
    reward = models.FloatField(null=True, blank=True)
    tokens = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False, help_text="The pair was cut from the left to fit the reward model.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt_hash", "seed_model_version", "reward_model_version"], name="necessity_score_once"
            ),
        ]
