"""The run form, built from the settings table so every field shows its default and why."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from flywheel.datasets.models import DatasetVersion
from flywheel.runs.conf import model_roots
from flywheel.runs.hyperparameters import DISTRIBUTED, SETTINGS, defaults, suggested_epochs
from flywheel.runs.plans import DEFAULT_DMT_SHARE, DMT_SHARES, STRATEGIES
from training.contract import is_model_directory


class VersionSelect(forms.Select):
    """Options carry their train-set size, so the page can suggest the number of epochs."""

    def __init__(self, *args, train_counts: dict[str, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_counts = train_counts or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if str(value) in self.train_counts:
            option["attrs"]["data-train"] = str(self.train_counts[str(value)])
            option["attrs"]["data-epochs"] = str(suggested_epochs(self.train_counts[str(value)]))
        return option


def _field(setting) -> forms.Field:
    label = f"{setting.label} (default {setting.default if setting.default is not None else 'none'})"
    common = {
        "label": label,
        "help_text": setting.help,
        "required": setting.default is not None and setting.type != "bool",
        "initial": setting.default,
    }
    if setting.type == "int":
        return forms.IntegerField(min_value=0, **common)
    if setting.type == "float":
        return forms.FloatField(min_value=0, **common)
    if setting.type == "bool":
        return forms.BooleanField(**{**common, "required": False})
    return forms.ChoiceField(choices=setting.choices, **common)


def model_directories(limit: int = 50) -> list[str]:
    """Model directories under the allowed roots (one level down, and runs' final models)."""
    found = []
    for root in model_roots():
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            for candidate in (child, child / "final"):
                if is_model_directory(candidate):
                    found.append(str(candidate))
    return found[:limit]


PLAN_FIELDS = ("strategy", "dataset_version", "other_versions", "specialist_task_types", "dmt_k")


class RunForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    strategy = forms.ChoiceField(
        label=_("Strategy"),
        choices=[(key, _(text)) for key, text in STRATEGIES.items()],
        initial="multi_task",
        required=False,
        help_text=_(
            "How several kinds of data are trained: all at once, or in stages, each "
            "from the previous stage's weights with a fresh optimizer and schedule."
        ),
    )
    dataset_version = forms.TypedChoiceField(
        label=_("Dataset version"),
        coerce=int,
        help_text=_("The run trains on its train split and evaluates on its eval split."),
    )
    other_versions = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        label=_("More dataset versions"),
        help_text=_(
            "Their conversations join the pool (a conversation in two versions counts once), e.g. a specialist "
            "set built on its own."
        ),
    )
    specialist_task_types = forms.CharField(
        required=False,
        max_length=500,
        label=_("Specialist task types"),
        help_text=_(
            "Comma-separated, in training order (code, math); every other task type of the pool is the general "
            "set. Needed by every strategy but multi-task."
        ),
    )
    dmt_k = forms.ChoiceField(
        choices=[(share, share) for share in DMT_SHARES],
        initial=DEFAULT_DMT_SHARE,
        required=False,
        label=_("DMT share k"),
        help_text=_(
            "DMT only: the share of each specialist task type mixed into "
            "the general stage, so the model recalls those skills."
        ),
    )
    plan_key = forms.CharField(label=_("Plan key"), required=False, widget=forms.HiddenInput)
    base_model_path = forms.CharField(
        label=_("Base model path"),
        max_length=1024,
        help_text=_(
            "A Hugging Face model directory with a tokenizer and a chat template, under the model directories."
        ),
        widget=forms.TextInput(attrs={"list": "model-directories", "autocomplete": "off"}),
    )
    distributed = forms.ChoiceField(
        label=_("Distributed"),
        choices=[(key, _(text)) for key, text in DISTRIBUTED],
        initial="auto",
        help_text=_("Used only when the gpu worker has several GPUs."),
    )

    def __init__(self, *args, version: DatasetVersion | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        versions = list(
            DatasetVersion.objects.filter(train_count__gt=0).defer("manifest", "config").order_by("-id")[:200]
        )
        counts = {str(v.id): v.train_count for v in versions}
        self.fields["dataset_version"].choices = [
            (v.id, f"v{v.id} {v.name or v.short_hash} — {v.train_count} train / {v.eval_count} eval") for v in versions
        ]
        self.fields["dataset_version"].widget = VersionSelect(
            choices=self.fields["dataset_version"].choices, train_counts=counts
        )
        self.fields["other_versions"].choices = self.fields["dataset_version"].choices
        initial = defaults(train_conversations=version.train_count if version else None)
        for setting in SETTINGS:
            self.fields[setting.name] = _field(setting)
            self.fields[setting.name].initial = initial[setting.name]
        if version is not None:
            self.fields["dataset_version"].initial = version.id

    def clean_specialist_task_types(self) -> list[str]:
        text = self.cleaned_data.get("specialist_task_types") or ""
        return [part.strip() for part in text.split(",") if part.strip()]

    def hyperparameters(self) -> dict:
        return {s.name: self.cleaned_data.get(s.name) for s in SETTINGS}

    def plan_arguments(self) -> dict:
        """The keyword arguments of the plan (run_plan and training_run_create take them)."""
        data = self.cleaned_data
        return {
            "strategy": data.get("strategy") or "multi_task",
            "other_version_ids": [v for v in data.get("other_versions") or [] if v != data["dataset_version"]],
            "specialist_task_types": data.get("specialist_task_types") or [],
            "dmt_k": data.get("dmt_k") or DEFAULT_DMT_SHARE,
        }

    def plan_fields(self):
        return [self[name] for name in PLAN_FIELDS]

    def setting_fields(self):
        return [field for field in self if field.name not in (*PLAN_FIELDS, "plan_key")]
