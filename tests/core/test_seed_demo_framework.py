"""`seed_demo` on a database where the framework was never loaded (someone skipped
`load_framework`): it loads the bundled framework itself, or stops with a clear message and
creates nothing. It never leaves a demo with no assessment (it did: teams and people, an
empty dashboard, and a line of output easy to miss)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from aigsec.accounts.models import Team, User
from assessments import frameworks
from assessments.models import Assessment, Framework

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _password(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-passphrase-for-tests-42")


def test_seed_demo_loads_the_framework_when_it_is_missing():
    assert not Framework.objects.exists()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "loaded the framework ncsc-cisa-secure-ai-2023 v1" in out.getvalue()
    a = Assessment.objects.get(ai_system__name="Support chatbot")
    # One answer per control of the framework, about a third of them answered.
    assert a.responses.count() == a.framework_version.controls.count() > 0
    assert a.responses.exclude(status="not_started").exists()
    # Idempotent: a second run loads nothing and creates nothing more.
    assessments = Assessment.objects.count()
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert "loaded the framework" not in again.getvalue()
    assert Assessment.objects.count() == assessments and Framework.objects.count() == 1


def test_a_broken_bundled_framework_stops_the_demo_with_a_clear_message(tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("slug: [unclosed\n")
    monkeypatch.setattr(frameworks, "BUNDLED_DIR", tmp_path)
    with pytest.raises(CommandError) as err:
        call_command("seed_demo", stdout=io.StringIO())
    message = str(err.value)
    assert "The demo needs the bundled framework" in message and "broken.yaml" in message
    assert "Nothing was created" in message
    # All or nothing: no teams or people of a demo without its assessment.
    assert not Team.objects.exists() and not User.objects.exists()


def test_no_bundled_framework_file_at_all_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(frameworks, "BUNDLED_DIR", tmp_path)
    with pytest.raises(CommandError, match="not among the bundled framework files"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not Team.objects.exists()
