"""The build form: every setting of a build, with what it does said next to it. The form only
parses; the config is validated (and explained when wrong) by `build_config_from_dict`."""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from flywheel.datasets.config import CONTINUITY_MODES, SUPERVISION_MODES
from flywheel.datasets.curate import DIVERSITY_METHODS, IFD_MODES
from flywheel.datasets.replay import replay_files
from flywheel.datasets.selectors import dataset_versions_for_choice
from flywheel.datasets.sources import sample_sources


class BuildForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120, required=False, help_text=_("A name people will recognise, e.g. “support v7”.")
    )
    sources = forms.MultipleChoiceField(
        label=_("Sources"), widget=forms.CheckboxSelectMultiple, help_text=_("Where samples come from.")
    )
    cleaning_statuses = forms.MultipleChoiceField(
        label=_("Cleaning statuses"),
        widget=forms.CheckboxSelectMultiple,
        initial=["kept"],
        choices=[("kept", _("kept by cleaning")), ("flagged", _("flagged by cleaning"))],
        help_text=_("Dropped sessions and duplicates are never used."),
    )
    task_types = forms.CharField(
        label=_("Task types"),
        required=False,
        max_length=500,
        help_text=_("Comma-separated task types to include; empty: every type."),
    )
    include_unlabeled = forms.BooleanField(
        label=_("Include unlabeled"), required=False, initial=True, help_text=_("Samples nobody has labelled yet.")
    )
    min_quality = forms.TypedChoiceField(
        label=_("Min quality"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("any"))] + [(str(q), format_lazy(_("{quality} or better"), quality=q)) for q in range(1, 6)],
        help_text=_("Known quality (1-5); samples of unknown quality pass."),
    )
    reviewed_only = forms.BooleanField(
        label=_("Reviewed only"), required=False, help_text=_("Only samples a person reviewed.")
    )
    trusted_labels_only = forms.BooleanField(
        label=_("Trusted labels only"), required=False, help_text=_("Only labels from people or a trusted labeler.")
    )
    usable_only = forms.BooleanField(
        label=_("Usable only"),
        required=False,
        initial=True,
        help_text=_("Leave out sessions the labeler judged unusable for training."),
    )
    continuity = forms.ChoiceField(
        label=_("Continuity"), choices=[(key, _(text)) for key, text in CONTINUITY_MODES.items()], initial="split"
    )
    supervision = forms.ChoiceField(
        label=_("Supervision"),
        choices=[(key, _(text)) for key, text in SUPERVISION_MODES.items()],
        initial="all",
        help_text=_(
            "Which answers carry loss. Answers with a thumbs-down are trained on only when a reviewer rewrote them."
        ),
    )
    mix = forms.CharField(
        label=_("Mix"),
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "coding=2, chitchat=0.5"}),
        help_text=_(
            "Weight per task type: below 1 keeps that share of the type, 0 leaves it out, "
            "above 1 counts its conversations that many times in the loss."
        ),
    )
    max_samples = forms.IntegerField(
        label=_("Max samples"), required=False, min_value=1, help_text=_("Cap on conversations from the sources.")
    )
    pseudo_multi_turn_share = forms.FloatField(
        label=_("Pseudo multi turn share"),
        min_value=0,
        max_value=0.9,
        initial=0.0,
        help_text=_(
            "Share of conversations made by joining single exchanges of different sessions (teaches topic changes)."
        ),
    )
    replay_file = forms.ChoiceField(
        label=_("Replay file"),
        required=False,
        help_text=_("General conversations mixed in to limit forgetting (JSONL files in the replay directory)."),
    )
    replay_share = forms.FloatField(
        label=_("Replay share"), min_value=0, max_value=0.9, initial=0.0, help_text=_("Share of conversations from it.")
    )
    exclude_versions = forms.MultipleChoiceField(
        label=_("Exclude versions"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave out samples already in these versions."),
    )
    eval_fraction = forms.FloatField(
        label=_("Eval fraction"),
        min_value=0,
        max_value=0.5,
        initial=0.1,
        help_text=_("Held out per task type for evaluation."),
    )
    seed = forms.IntegerField(
        label=_("Seed"),
        min_value=0,
        initial=0,
        help_text=_("Seeds every choice: same inputs, same seed, same version."),
    )
    tokenizer = forms.CharField(
        label=_("Tokenizer"),
        required=False,
        max_length=1000,
        help_text=_(
            "Model directory (under FLYWHEEL_MODEL_ROOTS) whose tokenizer counts tokens; empty: the configured one or "
            "an approximation."
        ),
    )
    quality_model = forms.CharField(
        required=False,
        max_length=1000,
        label=_("Reward model"),
        help_text=_(
            "Reward model directory (under FLYWHEEL_MODEL_ROOTS) whose stored rewards filter "
            "by the least reward below; score a version with it first. Empty: no reward filter."
        ),
    )
    quality_min = forms.FloatField(required=False, label=_("Least reward kept"))
    ifd_model = forms.CharField(
        required=False,
        max_length=1000,
        label=_("IFD model"),
        help_text=_(
            "Model directory (under FLYWHEEL_MODEL_ROOTS) whose IFD scores filter the turns; "
            "score a version with it first (its IFD page). Empty: no IFD step."
        ),
    )
    ifd_mode = forms.ChoiceField(
        choices=[(key, _(text)) for key, text in IFD_MODES.items()],
        required=False,
        initial="drop_above_1",
        label=_("IFD filter"),
    )
    ifd_top_share = forms.FloatField(
        required=False,
        min_value=0.01,
        max_value=1,
        initial=0.5,
        label=_("IFD top share"),
        help_text=_("With the top-share filter: the share of each task type kept."),
    )
    diversity = forms.ChoiceField(
        label=_("Diversity"),
        choices=[(key, _(text)) for key, text in DIVERSITY_METHODS.items()],
        required=False,
        initial="",
        help_text=_("Keep a diverse subset of the conversations (embeddings of their text)."),
    )
    diversity_k = forms.IntegerField(required=False, min_value=1, label=_("Diversity: conversations kept"))
    diversity_clusters = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        initial=20,
        label=_("Diversity: clusters"),
        help_text=_("k-means clusters for the cluster sampling methods."),
    )

    necessity_run = forms.IntegerField(
        required=False,
        min_value=1,
        label="Necessity: seed run",
        help_text="MoDS's necessity stage: a finished run trained on the seed selection. Its model answers "
        "the other prompts; those it answers badly are added to the seed. Empty: no necessity stage.",
    )
    necessity_reward_model = forms.CharField(
        required=False,
        max_length=1000,
        label="Necessity: reward model",
        help_text="Reward model directory that scores the seed model's answers; empty: the reward model above.",
    )
    necessity_max = forms.FloatField(
        required=False, label="Necessity: added below reward", help_text="A prompt answered below this reward is added."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sources = sample_sources()
        self.fields["sources"].choices = [(s.name, f"{s.title} — {s.description}") for s in sources]
        self.fields["sources"].initial = [s.name for s in sources if s.default]
        self.fields["replay_file"].choices = [("", _("none"))] + [(name, name) for name in replay_files()]
        self.fields["exclude_versions"].choices = [
            (str(v.id), f"v{v.id} {v.name or v.short_hash} ({v.sample_count} samples)")
            for v in dataset_versions_for_choice(limit=50)
        ]

    def config(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("name")
        data["exclude_versions"] = [int(v) for v in data["exclude_versions"]]
        data["task_types"] = data["task_types"] or []
        for name in (
            "quality_min",
            "ifd_mode",
            "ifd_top_share",
            "diversity_k",
            "diversity_clusters",
            "necessity_run",
            "necessity_max",
        ):
            if data.get(name) in (None, ""):
                data.pop(name, None)  # the config's default
        return data
