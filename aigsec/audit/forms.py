"""The audit trail's filter form (GET): actor, action, target, dates, and the page cursor."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms

from .selectors import AuditFilters

_MAX_SEQ = 2**63 - 1
_DATE = {
    "required": False,
    "input_formats": ["%Y-%m-%d"],
    "widget": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
}


def action_choices(actions: list[str]) -> list[tuple[str, str]]:
    """Every action present, each family first as a prefix ("evidence." = all evidence.*)."""
    choices: list[tuple[str, str]] = [("", "All actions")]
    families = sorted({a.split(".", 1)[0] + "." for a in actions if "." in a})
    for prefix in families:
        choices.append((prefix, f"{prefix}* (all of them)"))
        choices += [(a, a) for a in actions if a.startswith(prefix)]
    choices += [(a, a) for a in actions if "." not in a]
    return choices


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=254, label="Actor e-mail contains")
    action = forms.ChoiceField(required=False, choices=())
    target = forms.CharField(
        required=False, max_length=120, label="Target contains", help_text="e.g. assessment:12"
    )
    date_from = forms.DateField(label="From (UTC)", **_DATE)
    date_to = forms.DateField(label="To (UTC, inclusive)", **_DATE)
    before = forms.IntegerField(
        required=False, min_value=1, max_value=_MAX_SEQ, widget=forms.HiddenInput
    )
    after = forms.IntegerField(
        required=False, min_value=0, max_value=_MAX_SEQ, widget=forms.HiddenInput
    )

    FILTER_FIELDS = ("actor", "action", "target", "date_from", "date_to")

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = action_choices(actions)

    def clean(self):
        d = super().clean()
        start, end = d.get("date_from"), d.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        if d.get("before") is not None and d.get("after") is not None:
            raise forms.ValidationError("Page either before or after an event, not both.")
        return d

    def filters(self) -> AuditFilters:
        d = self.cleaned_data
        end: date | None = d["date_to"]
        return AuditFilters(
            actor_email=d["actor"].strip(),
            action=d["action"],
            target=d["target"].strip(),
            since=_midnight(d["date_from"]) if d["date_from"] else None,
            # The last day is included; date.max has no next day, so it means "no end".
            until=_midnight(end + timedelta(days=1)) if end and end < date.max else None,
        )

    def filter_data(self) -> dict[str, str]:
        """The filters in use, as text: for the export's audit event and for links."""
        out = {}
        for name in self.FILTER_FIELDS:
            value = self.cleaned_data.get(name)
            if value:
                out[name] = value.isoformat() if isinstance(value, date) else str(value).strip()
        return out


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)
