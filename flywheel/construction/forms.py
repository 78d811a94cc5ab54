"""Parsing what the engineers' pages post."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from flywheel.construction import prompts
from flywheel.construction.models import SyntheticSample


def _setting(name: str):
    """A field's default, read each time the form is shown (so it follows the settings)."""
    return lambda: getattr(settings, name)


class RunStartForm(forms.Form):
    limit = forms.IntegerField(
        label=_("Limit"), min_value=1, max_value=10_000, initial=20, help_text=_("Bad cases to construct.")
    )
    n = forms.IntegerField(
        label=_("N (teacher answers)"), min_value=1, max_value=16, initial=_setting("FLYWHEEL_CONSTRUCTION_N")
    )
    temperature = forms.FloatField(
        label=_("Temperature"), min_value=0, max_value=2, initial=_setting("FLYWHEEL_CONSTRUCTION_TEMPERATURE")
    )
    margin = forms.FloatField(
        label=_("Pair margin"),
        min_value=0.1,
        max_value=9,
        initial=_setting("FLYWHEEL_CONSTRUCTION_PAIR_MARGIN"),
        help_text=_("Judge score points (1..10) the chosen answer must lead by."),
    )
    max_calls = forms.IntegerField(
        label=_("Call budget"), min_value=1, initial=_setting("FLYWHEEL_CONSTRUCTION_MAX_CALLS")
    )
    max_cost_usd = forms.FloatField(
        label=_("Cost budget (USD, 0: none)"), min_value=0, initial=_setting("FLYWHEEL_CONSTRUCTION_MAX_COST_USD")
    )

    def config(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("n", "temperature", "margin", "max_calls", "max_cost_usd")}


class BadCaseSettingsForm(forms.Form):
    VERIFIERS = (
        ("", _("none")),
        ("math", _("math: the final answer must match")),
        ("code", _("code: the tests must pass")),
    )
    verifier_kind = forms.ChoiceField(label=_("Verifier"), choices=VERIFIERS, required=False)
    expected = forms.CharField(label=_("Expected answer (math)"), required=False, max_length=200)
    tests = forms.CharField(
        label=_("Tests (code, Python asserts)"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    reference_text = forms.CharField(
        label=_("Reference answer for the judge"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    task_type = forms.CharField(label=_("Task type"), required=False, max_length=32)

    def verifier(self) -> dict | None:
        kind = self.cleaned_data.get("verifier_kind")
        if not kind:
            return None
        return {
            "kind": kind,
            "expected": self.cleaned_data.get("expected", ""),
            "tests": self.cleaned_data.get("tests", ""),
        }


class SeedForm(forms.Form):
    task_type = forms.CharField(label=_("Task type"), max_length=32)
    text = forms.CharField(label=_("Seed prompt"), widget=forms.Textarea(attrs={"rows": 3}))


class SynthesisForm(forms.Form):
    VARIANTS = [(k, f"rewrite: {k}") for k in prompts.REWRITE_FORMS] + [
        (k, f"evol: {k}") for k in prompts.EVOL_OPERATIONS
    ]
    SOURCES = (
        ("", _("default")),
        ("seeds", _("seed prompts")),
        ("logs", _("recent user prompts")),
        ("synthetic", _("synthetic samples")),
        ("sft", _("accepted SFT answers")),
    )
    method = forms.ChoiceField(label=_("Method"), choices=SyntheticSample.Method.choices)
    count = forms.IntegerField(
        label=_("Count"), min_value=1, initial=10
    )  # at most FLYWHEEL_SYNTH_MAX_COUNT: see __init__
    task_type = forms.CharField(label=_("Task type"), required=False, max_length=32)
    variants = forms.MultipleChoiceField(
        label=_("Variants"),
        choices=VARIANTS,
        required=False,
        help_text=_("Rewrite forms or evolution operations (default: all of the method's)."),
    )
    source = forms.ChoiceField(label=_("Source"), choices=SOURCES, required=False)
    temperature = forms.FloatField(
        label=_("Temperature"), min_value=0, max_value=2, initial=_setting("FLYWHEEL_SYNTH_TEMPERATURE")
    )
    max_calls = forms.IntegerField(label=_("Call budget"), min_value=1, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["count"] = forms.IntegerField(min_value=1, max_value=settings.FLYWHEEL_SYNTH_MAX_COUNT, initial=10)
