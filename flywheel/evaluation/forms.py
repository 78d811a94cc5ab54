from django import forms

from flywheel.evaluation.models import EvalSet


class EvaluationForm(forms.Form):
    eval_set = forms.ModelChoiceField(queryset=EvalSet.objects.order_by("-id"), label="Evaluation set")
    candidate = forms.CharField(max_length=1100, help_text="run:<id>, model:<dir> or endpoint:<model>")
    baseline = forms.CharField(max_length=1100, required=False, help_text="the same forms; empty: no pairwise")
    judge_repeats = forms.IntegerField(min_value=1, max_value=10, initial=1)
    offline = forms.BooleanField(required=False, label="Offline evaluator (reference metrics, no judge)")


class SessionAnswerAddForm(forms.Form):
    """The session panel's form: which reviewed answer, into which draft (the text is read again on
    the server from what reviewers decided, never taken from here)."""

    message = forms.IntegerField(min_value=1)
    target = forms.CharField(max_length=40)
    name = forms.CharField(max_length=120, required=False)
    task_type = forms.CharField(max_length=64, required=False)
