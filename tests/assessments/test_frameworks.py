"""Framework files: the bundled content, loading (idempotent, versioned), errors that name the
line and key, OSCAL export, the upload page (roles, stranger) and the framework list."""

from __future__ import annotations

import json
import re
import warnings
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aigsec.audit.models import AuditEvent
from assessments.frameworks import (
    FrameworkFileError,
    bundled_framework_paths,
    framework_load,
    framework_to_oscal,
    parse_framework,
)
from assessments.models import (
    Control,
    Framework,
    FrameworkVersion,
    Guideline,
    Pillar,
    Responsibility,
)

NCSC = "ncsc-cisa-secure-ai-2023"
NCSC_PATH = Path(__file__).resolve().parents[2] / "assessments" / "frameworks" / f"{NCSC}.yaml"

EXPECTED_PILLARS = [
    ("1", "Secure design"),
    ("2", "Secure development"),
    ("3", "Secure deployment"),
    ("4", "Secure operation and maintenance"),
]
EXPECTED_GUIDELINES = [
    ("1.1", "Raise staff awareness of threats and risks"),
    ("1.2", "Model the threats to your system"),
    ("1.3", "Design your system for security as well as functionality and performance"),
    ("1.4", "Consider security benefits and trade-offs when selecting your AI model"),
    ("2.1", "Secure your supply chain"),
    ("2.2", "Identify, track and protect your assets"),
    ("2.3", "Document your data, models and prompts"),
    ("2.4", "Manage your technical debt"),
    ("3.1", "Secure your infrastructure"),
    ("3.2", "Protect your model continuously"),
    ("3.3", "Develop incident management procedures"),
    ("3.4", "Release AI responsibly"),
    ("3.5", "Make it easy for users to do the right things"),
    ("4.1", "Monitor your system's behaviour"),
    ("4.2", "Monitor your system's inputs"),
    ("4.3", "Follow a secure-by-design approach to updates"),
    ("4.4", "Collect and share lessons learned"),
]


@pytest.fixture
def ncsc_text() -> str:
    return NCSC_PATH.read_text(encoding="utf-8")


def small_framework(slug: str = "acme-ai-policy", question: str = "Is there a threat model?"):
    return {
        "slug": slug,
        "title": "Acme AI policy",
        "publisher": "Acme security team",
        "published": "2024-05-01",
        "source_url": "https://intranet.example/ai-policy",
        "description": "Our own controls.",
        "pillars": [
            {
                "ref": "1",
                "title": "Design",
                "description": "Design stage.",
                "guidelines": [
                    {
                        "ref": "1.1",
                        "title": "Threat modelling",
                        "summary": "Know the threats.",
                        "controls": [
                            {
                                "ref": "1.1.1",
                                "title": "Threat model exists",
                                "question": question,
                                "guidance": {"good": "Current and reviewed.", "partial": "Old."},
                                "typical_evidence": ["Threat model document"],
                                "responsibility": "shared",
                                "weight": 2,
                            },
                            {
                                "ref": "1.1.2",
                                "title": "Threat model reviewed",
                                "question": "Is the threat model reviewed yearly?",
                                "guidance": {"good": "Yearly review.", "partial": "Ad hoc."},
                                "typical_evidence": [],
                                "responsibility": "user",
                                "weight": 1,
                            },
                        ],
                    }
                ],
            }
        ],
    }


def small_yaml(**kw) -> str:
    return yaml.safe_dump(small_framework(**kw), sort_keys=False)


def counts() -> tuple[int, ...]:
    return (
        Framework.objects.count(),
        FrameworkVersion.objects.count(),
        Pillar.objects.count(),
        Guideline.objects.count(),
        Control.objects.count(),
        AuditEvent.objects.filter(action="framework.loaded").count(),
    )


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing `needle`."""
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


# --- The bundled file ---------------------------------------------------------------------


def test_bundled_paths_include_the_ncsc_file():
    paths = bundled_framework_paths()
    assert NCSC_PATH in paths
    assert all(p.suffix == ".yaml" for p in paths)
    for p in paths:  # every bundled file is valid
        parse_framework(p.read_text(encoding="utf-8"), p.name)


def test_bundled_framework_is_complete(ncsc_text):
    doc = parse_framework(ncsc_text, NCSC_PATH.name)
    assert doc.slug == NCSC
    assert doc.source_url.startswith("https://www.ncsc.gov.uk/")
    assert [(p.ref, p.title) for p in doc.pillars] == EXPECTED_PILLARS
    guidelines = [g for p in doc.pillars for g in p.guidelines]
    assert [(g.ref, g.title) for g in guidelines] == EXPECTED_GUIDELINES
    controls = [c for g in guidelines for c in g.controls]
    assert len(controls) >= 55
    for g in guidelines:
        assert len(g.controls) >= 2, g.ref
    for c in controls:
        assert c.title and c.question.endswith("?"), c.ref
        assert c.guidance.good and c.guidance.partial, c.ref
        assert c.typical_evidence, c.ref
        assert c.responsibility in Responsibility.values, c.ref
        assert 1 <= c.weight <= 5, c.ref
    # Every role in the shared-responsibility model is used.
    assert {c.responsibility for c in controls} == set(Responsibility.values)


# --- Loading ------------------------------------------------------------------------------


def test_load_creates_a_version_in_file_order_with_an_audit_event(db, ncsc_text):
    version, created = framework_load(ncsc_text, source_name=NCSC_PATH.name)
    assert created
    assert version.number == 1
    fw = version.framework
    assert (fw.slug, fw.owner_team_id) == (NCSC, None)
    assert fw.title == "Guidelines for secure AI system development"
    assert version.published == "2023-11-27"
    doc = parse_framework(ncsc_text, NCSC_PATH.name)
    file_refs = [c.ref for p in doc.pillars for g in p.guidelines for c in g.controls]
    assert list(version.controls.order_by("order").values_list("ref", flat=True)) == file_refs
    assert list(version.guidelines.order_by("order").values_list("ref", flat=True)) == [
        ref for ref, _ in EXPECTED_GUIDELINES
    ]
    c = version.controls.get(ref="1.1.1")
    assert c.guideline.ref == "1.1" and c.guideline.pillar.ref == "1"
    assert c.typical_evidence and c.guidance_good and c.guidance_partial
    event = AuditEvent.objects.get(action="framework.loaded")
    assert event.target == f"framework_version:{version.pk}"
    assert event.actor is None and event.team is None
    assert event.data["sha256"] == version.sha256 and event.data["controls"] == len(file_refs)


def test_load_is_idempotent(db, ncsc_text):
    first, created = framework_load(ncsc_text, source_name=NCSC_PATH.name)
    assert created
    before = counts()
    events = AuditEvent.objects.count()
    # Reformatting (a comment, different quoting) is the same content.
    again, created = framework_load("# reloaded\n" + ncsc_text, source_name=NCSC_PATH.name)
    assert not created
    assert again.pk == first.pk
    assert counts() == before
    assert AuditEvent.objects.count() == events


def test_changed_file_becomes_version_2_and_leaves_version_1_alone(db, ncsc_text):
    v1, _ = framework_load(ncsc_text, source_name=NCSC_PATH.name)
    old = list(v1.controls.order_by("order").values())
    old_question = v1.controls.get(ref="1.1.1").question
    changed = ncsc_text.replace(
        "Do the system owner and senior leaders", "Do the owner and senior leaders", 1
    )
    assert changed != ncsc_text

    v2, created = framework_load(changed, source_name=NCSC_PATH.name)

    assert created and v2.number == 2 and v2.framework_id == v1.framework_id
    assert v2.sha256 != v1.sha256
    assert list(v1.controls.order_by("order").values()) == old  # untouched
    assert v1.controls.get(ref="1.1.1").question == old_question
    assert v2.controls.get(ref="1.1.1").question.startswith("Do the owner and senior leaders")
    assert v2.controls.count() == v1.controls.count()
    # Loading the first file again returns version 1 (known content), not a third version.
    back, created = framework_load(ncsc_text, source_name=NCSC_PATH.name)
    assert (back.pk, created) == (v1.pk, False)


def test_same_slug_for_a_team_is_a_separate_framework(personas, ncsc_text):
    bundled, _ = framework_load(ncsc_text, source_name="a.yaml")
    ours, created = framework_load(ncsc_text, source_name="a.yaml", owner_team=personas.team)
    assert created
    assert ours.framework_id != bundled.framework_id
    assert ours.framework.owner_team == personas.team
    assert ours.number == 1


# --- Malformed files ----------------------------------------------------------------------


def _drop_first_question(text: str) -> str:
    return re.sub(r"            question: >-\n(?:              .*\n)+", "", text, count=1)


# (name, change to the bundled text, text of the offending line, expected key path, message)
MALFORMED = [
    (
        "bad responsibility",
        ("responsibility: provider", "responsibility: vendor"),
        "responsibility: vendor",
        "pillars[0].guidelines[0].controls[1].responsibility",
        "Input should be 'provider', 'user' or 'shared'",
    ),
    (
        "missing question",
        _drop_first_question,
        'ref: "1.1.1"',
        "pillars[0].guidelines[0].controls[0].question",
        "required key 'question' is missing",
    ),
    (
        "duplicate ref",
        ('ref: "1.1.2"', 'ref: "1.1.1"'),
        '- ref: "1.1.1"\n            title: Practitioners',
        "pillars[0].guidelines[0].controls[1].ref",
        "duplicate ref '1.1.1'",
    ),
    (
        "inconsistent ref",
        ('ref: "1.1.2"', 'ref: "2.1.2"'),
        'ref: "2.1.2"',
        "pillars[0].guidelines[0].controls[1].ref",
        "should have the form '1.1.N'",
    ),
    (
        "extra key",
        ("weight: 2\n", "weight: 2\n            colour: red\n"),
        "colour: red",
        "pillars[0].guidelines[0].controls[0].colour",
        "unknown key 'colour'",
    ),
    (
        "weight out of range",
        ("weight: 2\n", "weight: 9\n"),
        "weight: 9",
        "pillars[0].guidelines[0].controls[0].weight",
        "less than or equal to 5",
    ),
    (
        "weight not a number",
        ("weight: 2\n", 'weight: "2"\n'),
        'weight: "2"',
        "pillars[0].guidelines[0].controls[0].weight",
        "valid integer",
    ),
]


def _line_number(text: str, needle: str) -> int:
    if "\n" in needle:  # a multi-line needle: the line where it starts
        return text[: text.index(needle)].count("\n") + 1
    return line_of(text, needle)


@pytest.mark.parametrize(
    ("change", "needle", "path", "message"),
    [m[1:] for m in MALFORMED],
    ids=[m[0] for m in MALFORMED],
)
def test_malformed_file_names_line_and_key_and_writes_nothing(
    db, ncsc_text, change, needle, path, message
):
    text = change(ncsc_text) if callable(change) else ncsc_text.replace(*change, 1)
    assert text != ncsc_text
    before = counts()
    with pytest.raises(FrameworkFileError) as exc:
        framework_load(text, source_name="ncsc.yaml")
    first = exc.value.errors[0]
    line = _line_number(text, needle)
    assert first.startswith(f"ncsc.yaml, line {line} ({path}): "), exc.value.errors
    assert message in str(exc.value)
    assert counts() == before


def test_yaml_syntax_error_names_the_line(db, ncsc_text):
    text = ncsc_text.replace("weight: 2\n", "weight: [2\n", 1)
    before = counts()
    with pytest.raises(FrameworkFileError) as exc:
        framework_load(text, source_name="ncsc.yaml")
    msg = str(exc.value)
    assert "YAML syntax error" in msg
    assert f"started on line {line_of(text, 'weight: [2')})" in msg
    assert msg.startswith("ncsc.yaml, line ")
    assert counts() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1 (top level): the file must be a YAML mapping"),
        ("- a\n- b\n", "line 1 (top level): the file must be a YAML mapping"),
        ("slug: a\nslug: b\n", "line 2: duplicate key 'slug'"),
        ("slug: &s a\ntitle: *s\n", "anchors and aliases are not supported"),
        ("slug: a\n\ttitle: x\n", "line 2: YAML syntax error"),
    ],
)
def test_other_malformed_files(text, expected):
    with pytest.raises(FrameworkFileError) as exc:
        parse_framework(text, "x.yaml")
    assert expected in str(exc.value)


def test_unquoted_ref_is_refused_rather_than_guessed():
    # YAML reads `ref: 1.10` as the float 1.1.
    text = small_yaml().replace("ref: '1.1'", "ref: 1.10", 1)
    with pytest.raises(FrameworkFileError) as exc:
        parse_framework(text, "x.yaml")
    assert "(pillars[0].guidelines[0].ref): must be a quoted string" in str(exc.value)


def test_blank_question_is_refused():
    text = small_yaml(question="   ")
    with pytest.raises(FrameworkFileError) as exc:
        parse_framework(text, "x.yaml")
    line = line_of(text, "question: '   '")
    assert str(exc.value).startswith(
        f"x.yaml, line {line} (pillars[0].guidelines[0].controls[0].question): "
        "String should have at least 1 character"
    )


def test_several_problems_are_all_listed():
    data = small_framework()
    controls = data["pillars"][0]["guidelines"][0]["controls"]
    controls[0]["weight"] = 0
    controls[1]["responsibility"] = "nobody"
    with pytest.raises(FrameworkFileError) as exc:
        parse_framework(yaml.safe_dump(data, sort_keys=False), "x.yaml")
    assert len(exc.value.errors) == 2
    assert "(and 1 more)" in str(exc.value)


def test_guideline_without_controls_is_refused():
    data = small_framework()
    data["pillars"][0]["guidelines"][0]["controls"] = []
    with pytest.raises(FrameworkFileError) as exc:
        parse_framework(yaml.safe_dump(data, sort_keys=False), "x.yaml")
    assert "(pillars[0].guidelines[0].controls): List should have at least 1 item" in str(exc.value)


# --- Commands and OSCAL export ------------------------------------------------------------


def _oscal_parse(data: dict):
    from trestle.oscal.catalog import Catalog

    with warnings.catch_warnings():  # parse_obj is pydantic v1 API, deprecated in v2
        warnings.simplefilter("ignore", DeprecationWarning)
        return Catalog.parse_obj(data["catalog"])


def test_load_framework_command_loads_bundled_files_once(db):
    out = StringIO()
    call_command("load_framework", stdout=out)
    assert f"loaded {NCSC} v1" in out.getvalue()
    out = StringIO()
    call_command("load_framework", stdout=out)
    assert f"{NCSC} v1 already loaded" in out.getvalue()
    assert FrameworkVersion.objects.filter(framework__slug=NCSC).count() == 1


def test_load_framework_command_custom_file_for_a_team(personas, tmp_path):
    path = tmp_path / "acme.yaml"
    path.write_text(small_yaml(), encoding="utf-8")
    out = StringIO()
    call_command("load_framework", "--file", str(path), "--team", personas.team.slug, stdout=out)
    assert "loaded acme-ai-policy v1" in out.getvalue()
    assert Framework.objects.get(slug="acme-ai-policy").owner_team == personas.team

    bad = tmp_path / "bad.yaml"
    bad.write_text(small_yaml().replace("weight: 2", "weight: heavy"), encoding="utf-8")
    with pytest.raises(CommandError, match=r"bad\.yaml, line \d+ \(.*weight\)"):
        call_command("load_framework", "--file", str(bad))
    with pytest.raises(CommandError, match="No team"):
        call_command("load_framework", "--file", str(path), "--team", "nope")


def test_export_framework_writes_oscal_that_trestle_parses(db, tmp_path):
    call_command("load_framework", stdout=StringIO())
    out = tmp_path / "catalog.json"
    call_command(
        "export_framework", NCSC, "--format", "oscal", "--out", str(out), stderr=StringIO()
    )
    data = json.loads(out.read_text(encoding="utf-8"))

    catalog = _oscal_parse(data)

    version = FrameworkVersion.objects.get(framework__slug=NCSC)
    assert catalog.metadata.oscal_version.root.root == "1.1.2"
    assert catalog.metadata.title == "Guidelines for secure AI system development"
    assert len(catalog.groups) == 4
    assert [g.title for g in catalog.groups] == [t for _, t in EXPECTED_PILLARS]
    guidelines = [g for p in catalog.groups for g in p.groups]
    assert len(guidelines) == 17
    assert [g.title for g in guidelines] == [t for _, t in EXPECTED_GUIDELINES]
    controls = [c for g in guidelines for c in g.controls]
    assert len(controls) == version.controls.count()
    ids = [c.id for c in controls] + [g.id for g in guidelines] + [p.id for p in catalog.groups]
    assert len(ids) == len(set(ids))
    by_ref = {c.ref: c for c in version.controls.all()}
    for c in controls:
        props = {p.name: p.value for p in c.props}
        db_control = by_ref[props["label"]]
        assert props["responsibility"] == db_control.responsibility
        assert props["weight"] == str(db_control.weight)
        parts = {p.name: p for p in c.parts}
        assert parts["statement"].prose == db_control.question
        assert parts["guidance"].prose == db_control.guidance_good
        assert parts["guidance"].parts[0].prose == db_control.guidance_partial
        evidence = parts["assessment-method"].parts[0].prose
        assert all(e in evidence for e in db_control.typical_evidence)


def test_export_is_deterministic_and_selects_versions(db, tmp_path, ncsc_text):
    v1, _ = framework_load(ncsc_text, source_name="a.yaml")
    v2, _ = framework_load(
        ncsc_text.replace("Do the system owner", "Do the owner", 1), source_name="a.yaml"
    )
    assert framework_to_oscal(v1) == framework_to_oscal(v1)
    assert framework_to_oscal(v1)["catalog"]["uuid"] != framework_to_oscal(v2)["catalog"]["uuid"]
    out = tmp_path / "v1.json"
    call_command("export_framework", NCSC, "--out", str(out), "--version", "1", stderr=StringIO())
    assert json.loads(out.read_text())["catalog"]["metadata"]["version"] == "1"
    call_command("export_framework", NCSC, "--out", str(out), stderr=StringIO())
    assert json.loads(out.read_text())["catalog"]["metadata"]["version"] == "2"  # latest
    with pytest.raises(CommandError, match="No framework"):
        call_command("export_framework", "unknown-slug", "--out", str(out))
    with pytest.raises(CommandError, match="version 7"):
        call_command("export_framework", NCSC, "--out", str(out), "--version", "7")


def test_export_of_a_small_team_framework_parses(personas):
    version, _ = framework_load(small_yaml(), source_name="x.yaml", owner_team=personas.team)
    catalog = _oscal_parse(framework_to_oscal(version))
    assert catalog.metadata.published is not None
    control = catalog.groups[0].groups[0].controls[1]
    # No typical evidence: no assessment-method part.
    assert [p.name for p in control.parts] == ["statement", "guidance"]


# --- Upload page --------------------------------------------------------------------------


def upload(client, team, content: str | bytes, name: str = "acme.yaml"):
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        reverse("framework_upload", args=[team.pk]),
        {"file": SimpleUploadedFile(name, data, content_type="application/yaml")},
    )


def test_admin_uploads_a_custom_framework(personas):
    client = personas.client(personas.admin)
    url = reverse("framework_upload", args=[personas.team.pk])
    r = client.get(url)
    assert r.status_code == 200
    assert b'enctype="multipart/form-data"' in r.content

    r = upload(client, personas.team, small_yaml())

    assert r.status_code == 302 and r.url == reverse("frameworks")
    fw = Framework.objects.get(slug="acme-ai-policy")
    assert fw.owner_team == personas.team
    version = fw.versions.get()
    assert version.controls.count() == 2
    event = AuditEvent.objects.get(action="framework.loaded")
    assert (event.actor, event.team) == (personas.admin.pk, personas.team.pk)
    page = client.get(reverse("frameworks"))
    assert "Loaded “Acme AI policy” version 1." in page.content.decode()

    # The same file again: nothing new.
    r = upload(client, personas.team, small_yaml())
    assert r.status_code == 302
    assert fw.versions.count() == 1


def test_invalid_upload_is_400_with_the_line_and_writes_nothing(personas):
    client = personas.client(personas.admin)
    text = small_yaml().replace("responsibility: user", "responsibility: everyone")
    before = counts()
    r = upload(client, personas.team, text)
    assert r.status_code == 400
    line = line_of(text, "responsibility: everyone")
    assert f"acme.yaml, line {line} (pillars[0].guidelines[0].controls[1].responsibility)" in (
        r.content.decode()
    )
    assert counts() == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("acme.txt", "slug: a", "Choose a .yaml or .yml file."),
        ("acme.yaml", b"\xff\xfe\x00bad", "The file is not UTF-8 text."),
        ("acme.yml", "a" * (2 * 1024 * 1024 + 1), "The file is larger than 2 MB."),
        ("acme.yaml", "slug: [", "YAML syntax error"),
    ],
)
def test_upload_refuses_bad_files(personas, name, content, message):
    before = counts()
    r = upload(personas.client(personas.admin), personas.team, content, name=name)
    assert r.status_code == 400
    assert message in r.content.decode()
    assert counts() == before


@pytest.mark.parametrize("role", ["risk_owner", "auditor", "manager"])
def test_other_roles_cannot_upload(personas, role):
    client = personas.client(getattr(personas, role))
    url = reverse("framework_upload", args=[personas.team.pk])
    assert client.get(url).status_code == 403
    assert upload(client, personas.team, small_yaml()).status_code == 403
    assert not Framework.objects.exists()


def test_stranger_cannot_upload_to_another_team(personas):
    client = personas.client(personas.stranger)
    url = reverse("framework_upload", args=[personas.team.pk])
    assert client.get(url).status_code == 404
    assert upload(client, personas.team, small_yaml()).status_code == 404
    assert not Framework.objects.exists()
    assert AuditEvent.objects.filter(action="access.denied", actor=personas.stranger.pk).exists()


def test_anonymous_is_sent_to_login(db):
    client = Client()
    for url in (reverse("frameworks"), reverse("framework_upload", args=[1])):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.url


# --- Framework list -----------------------------------------------------------------------


def test_list_shows_a_team_framework_only_to_that_team(personas, ncsc_text):
    framework_load(ncsc_text, source_name="ncsc.yaml")
    framework_load(small_yaml(), source_name="acme.yaml", owner_team=personas.team)
    for user in (personas.risk_owner, personas.auditor, personas.admin):
        page = personas.client(user).get(reverse("frameworks")).content.decode()
        assert "Acme AI policy" in page
        assert "Guidelines for secure AI system development" in page
    page = personas.client(personas.stranger).get(reverse("frameworks")).content.decode()
    assert "Acme AI policy" not in page
    assert "Guidelines for secure AI system development" in page


def test_list_offers_upload_to_admins_only(personas):
    upload_url = reverse("framework_upload", args=[personas.team.pk])
    admin_page = personas.client(personas.admin).get(reverse("frameworks")).content.decode()
    assert upload_url in admin_page
    for user in (personas.risk_owner, personas.auditor, personas.manager):
        assert upload_url not in personas.client(user).get(reverse("frameworks")).content.decode()


def test_list_query_count_does_not_grow_with_versions(personas, ncsc_text):
    client = personas.client(personas.risk_owner)

    def run() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(reverse("frameworks"))
        assert r.status_code == 200
        return len(ctx.captured_queries), r.content.decode()

    framework_load(ncsc_text, source_name="a.yaml")
    framework_load(small_yaml(), source_name="b.yaml", owner_team=personas.team)
    one, page = run()
    assert "v1" in page and "v2" not in page
    framework_load(ncsc_text.replace("Do the system owner", "Do the owner", 1), source_name="a")
    framework_load(
        small_yaml(question="Is it modelled?"), source_name="b", owner_team=personas.team
    )
    framework_load(
        small_yaml(question="Is it modelled now?"), source_name="b", owner_team=personas.team
    )
    three, page = run()
    assert "v3" in page
    # session, user, memberships (current team), frameworks, versions with control counts
    assert one == three == 5
