from django import forms
from django.utils.html import format_html, format_html_join

from aigsec.accounts.models import Role

from .models import AISystem, FrameworkVersion, Response, ResponseStatus
from .services import AI_SYSTEM_FIELDS


class AISystemForm(forms.ModelForm):
    class Meta:
        model = AISystem
        fields = list(AI_SYSTEM_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        qs = AISystem.objects.filter(team=self.team, name__iexact=name)
        if self.instance.pk:
            qs = qs.exclude(pk=self.instance.pk)
        if qs.exists():
            raise forms.ValidationError("Your team already has an AI system with this name.")
        return name


class AssessmentCreateForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    framework_version = forms.ModelChoiceField(queryset=FrameworkVersion.objects.none())
    based_on = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Start from an earlier assessment",
        help_text="Copies its answers, owners and due dates.",
    )

    def __init__(self, *args, ai_system, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["framework_version"].queryset = (
            FrameworkVersion.objects.filter(framework__owner_team__isnull=True)
            | FrameworkVersion.objects.filter(framework__owner_team=ai_system.team_id)
        ).select_related("framework")
        first = (
            self.fields["framework_version"].queryset.order_by("framework__slug", "-number").first()
        )
        self.fields["framework_version"].initial = first
        self.fields["based_on"].queryset = ai_system.assessments.all()


def _attrs(attrs: dict) -> str:
    """As django/forms/widgets/attrs.html: in order, True as a bare name, False left out."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html(" {}", k) if v is True else format_html(' {}="{}"', k, v),)
            for k, v in attrs.items()
            if v is not False
        ),
    )


# The questionnaire shows a form per control, five widgets each; rendering them through the
# widget templates was ~40% of the page's time (docs/benchmarks.md). These widgets write the
# same markup as Django's templates, in Python.


class FastSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(self.format_value(value))
        options = format_html_join(
            "",
            '\n  <option value="{}"{}>{}</option>',
            ((v, " selected" if str(v) in chosen else "", label) for v, label in self.choices),
        )
        attrs = _attrs(self.build_attrs(self.attrs, attrs))
        return format_html('<select name="{}"{}>{}\n</select>', name, attrs, options)


class _FastInput:
    def render(self, name, value, attrs=None, renderer=None):
        value = self.format_value(value)
        shown = format_html(' value="{}"', value) if value is not None else ""
        attrs = _attrs(self.build_attrs(self.attrs, attrs))
        return format_html('<input type="{}" name="{}"{}{}>', self.input_type, name, shown, attrs)


class FastHiddenInput(_FastInput, forms.HiddenInput):
    pass


class FastDateInput(_FastInput, forms.DateInput):
    pass


class FastTextarea(forms.Textarea):
    def render(self, name, value, attrs=None, renderer=None):
        value = self.format_value(value)
        attrs = _attrs(self.build_attrs(self.attrs, attrs))
        return format_html('<textarea name="{}"{}>\n{}</textarea>', name, attrs, value or "")


class ResponseForm(forms.Form):
    version = forms.IntegerField(widget=FastHiddenInput, min_value=1)
    status = forms.ChoiceField(choices=ResponseStatus.choices, widget=FastSelect)
    justification = forms.CharField(
        required=False, widget=FastTextarea(attrs={"rows": 2}), max_length=10_000
    )
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, widget=FastSelect)
    due_date = forms.DateField(
        required=False, widget=FastDateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, response: Response, owners, **kwargs):
        super().__init__(*args, **kwargs)
        # A plain choice list over owners fetched once per page: one select per control on
        # the questionnaire must not cost one query per control.
        self._owners = {u.pk: u for u in owners}
        self.fields["owner"].choices = [("", "— nobody —")] + [
            (u.pk, u.display_name) for u in owners
        ]
        p = f"r{response.pk}"
        for name, field in self.fields.items():
            field.widget.attrs["id"] = f"{p}-{name}"

    def clean_owner(self):
        pk = self.cleaned_data.get("owner")
        return self._owners.get(pk) if pk is not None else None


def owners_for_team(team_id: int):
    from aigsec.accounts.models import User

    return User.objects.filter(
        memberships__team_id=team_id,
        memberships__role__in=[Role.RISK_OWNER, Role.ADMIN],
        is_active=True,
    ).order_by("email")


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=None, required=False)
    due_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, team_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners_for_team(team_id)
