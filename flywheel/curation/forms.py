from django import forms
from django.utils.translation import gettext_lazy as _


class IfdScoreForm(forms.Form):
    model = forms.CharField(
        label=_("Model"),
        max_length=500,
        help_text=_("Model directory under FLYWHEEL_MODEL_ROOTS, usually the one to fine-tune."),
    )
    batch_size = forms.IntegerField(label=_("Batch size"), min_value=1, max_value=256, initial=8)
    max_len = forms.IntegerField(label=_("Max len"), min_value=16, max_value=131072, initial=2048)


class RewardScoreForm(forms.Form):
    model = forms.CharField(
        max_length=500,
        label=_("Reward model"),
        help_text=_(
            "A sequence-classification model directory under FLYWHEEL_MODEL_ROOTS (one score per conversation)."
        ),
    )
    batch_size = forms.IntegerField(label=_("Batch size"), min_value=1, max_value=256, initial=8)
    max_len = forms.IntegerField(
        label=_("Max len"),
        min_value=16,
        max_value=131072,
        initial=2048,
        help_text=_("Longer conversations are cut from the left and counted."),
    )
