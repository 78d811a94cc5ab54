from django import forms
from django.utils.translation import gettext_lazy as _

from flywheel.evaluation.models import EvalSet


class EvaluationForm(forms.Form):
    eval_set = forms.ModelChoiceField(queryset=EvalSet.objects.order_by("-id"), label=_("Evaluation set"))
    candidate = forms.CharField(
        label=_("Candidate"), max_length=1100, help_text=_("run:<id>, model:<dir> or endpoint:<model>")
    )
    baseline = forms.CharField(
        label=_("Baseline"), max_length=1100, required=False, help_text=_("the same forms; empty: no pairwise")
    )
    judge_repeats = forms.IntegerField(label=_("Judge repeats"), min_value=1, max_value=10, initial=1)
    offline = forms.BooleanField(required=False, label=_("Offline evaluator (reference metrics, no judge)"))


class SessionAnswerAddForm(forms.Form):
    """The session panel's form: which reviewed answer, into which draft (the text is read again on
    the server from what reviewers decided, never taken from here)."""

    message = forms.IntegerField(label=_("Message"), min_value=1)
    target = forms.CharField(label=_("Target"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    task_type = forms.CharField(label=_("Task type"), max_length=64, required=False)
