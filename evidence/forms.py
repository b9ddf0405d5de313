from __future__ import annotations

from django import forms

from assessments.models import Response

from .models import EvidenceKind


class ResponseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Response) -> str:
        return f"{obj.assessment.title} · {obj.control.ref} {obj.control.title}"


class ResponseMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Response) -> str:
        return f"{obj.assessment.title} · {obj.control.ref} {obj.control.title}"


class EvidenceForm(forms.Form):
    kind = forms.ChoiceField(
        choices=EvidenceKind.choices, widget=forms.RadioSelect, initial=EvidenceKind.FILE
    )
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    file = forms.FileField(required=False, help_text="For a file: PDF, image, text, Office, ZIP.")
    url = forms.URLField(
        required=False, max_length=2000, assume_scheme="https", help_text="For a link."
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="For a note."
    )
    collected_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    valid_until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    tags = forms.CharField(max_length=500, required=False, help_text="Comma-separated.")
    # Checkboxes under a filter box (static/aigsec/app.js: type "2.1" or "supply"), not a
    # multi-select of every control of every open assessment.
    responses = ResponseMultipleChoiceField(
        queryset=Response.objects.none(),
        required=False,
        label="Supports these controls",
        widget=forms.CheckboxSelectMultiple,
    )
    # The control the person came from ("Upload or record new evidence" on a control): after
    # saving they go back to it (evidence/views.py).
    # Not validated as a number: a bad value only means "go to the new item" instead.
    from_response = forms.CharField(required=False, widget=forms.HiddenInput, max_length=20)

    def __init__(self, *args, responses=None, **kwargs):
        super().__init__(*args, **kwargs)
        if responses is not None:
            self.fields["responses"].queryset = responses

    def clean_tags(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class RevisionForm(forms.Form):
    file = forms.FileField(label="New revision")


class LinkForm(forms.Form):
    response = ResponseChoiceField(queryset=Response.objects.none(), label="Control")

    def __init__(self, *args, responses=None, **kwargs):
        super().__init__(*args, **kwargs)
        if responses is not None:
            self.fields["response"].queryset = responses


class WithdrawForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
