"""The run form, built from the settings table so every field shows its default and why."""

from __future__ import annotations

from django import forms
from training.contract import is_model_directory

from flywheel.datasets.models import DatasetVersion
from flywheel.runs.conf import model_roots
from flywheel.runs.hyperparameters import DISTRIBUTED, SETTINGS, defaults, suggested_epochs


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
    common = {"label": label, "help_text": setting.help, "required": setting.default is not None and setting.type != "bool",
              "initial": setting.default}
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


class RunForm(forms.Form):
    name = forms.CharField(max_length=120, required=False)
    dataset_version = forms.TypedChoiceField(coerce=int, help_text="The run trains on its train split and evaluates "
                                                                   "on its eval split.")
    base_model_path = forms.CharField(max_length=1024, help_text="A Hugging Face model directory with a tokenizer and a "
                                                                 "chat template, under the model directories.",
                                      widget=forms.TextInput(attrs={"list": "model-directories", "autocomplete": "off"}))
    distributed = forms.ChoiceField(choices=DISTRIBUTED, initial="auto",
                                    help_text="Used only when the gpu worker has several GPUs.")

    def __init__(self, *args, version: DatasetVersion | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        versions = list(DatasetVersion.objects.filter(train_count__gt=0).defer("manifest", "config").order_by("-id")[:200])
        counts = {str(v.id): v.train_count for v in versions}
        self.fields["dataset_version"].choices = [
            (v.id, f"v{v.id} {v.name or v.short_hash} — {v.train_count} train / {v.eval_count} eval") for v in versions]
        self.fields["dataset_version"].widget = VersionSelect(choices=self.fields["dataset_version"].choices,
                                                              train_counts=counts)
        initial = defaults(train_conversations=version.train_count if version else None)
        for setting in SETTINGS:
            self.fields[setting.name] = _field(setting)
            self.fields[setting.name].initial = initial[setting.name]
        if version is not None:
            self.fields["dataset_version"].initial = version.id

    def hyperparameters(self) -> dict:
        return {s.name: self.cleaned_data.get(s.name) for s in SETTINGS}
