"""`{% form_token %}`: the hidden one-time token of a create form (aigsec/core/formtoken.py)."""

from django import template
from django.utils.html import format_html

from aigsec.core.formtoken import FIELD, new_token

register = template.Library()


@register.simple_tag
def form_token() -> str:
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
