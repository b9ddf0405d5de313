"""Framework files: the YAML schema, loading into immutable versions, and export to OSCAL.

A framework file (see `frameworks/*.yaml`) is validated against a strict pydantic schema: unknown
keys are refused, refs must nest ("1" > "1.2" > "1.2.3") and be unique, and every error names the
file, the line and the key path, so an author can fix it without reading Python.

Loading is idempotent: a file whose content hash matches a loaded version of the same framework
writes nothing. Changed content becomes a new version; existing versions are never modified, so
an assessment stays on the version it started with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from django.db import transaction
from django.db.models import Max
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from aigsec.audit.services import audit_record

from .models import Control, Framework, FrameworkVersion, Guideline, Pillar

BUNDLED_DIR = Path(__file__).resolve().parent / "frameworks"
MAX_ERRORS = 10

# --- Schema -----------------------------------------------------------------------------------


def _ref(value: Any) -> Any:
    # An unquoted `ref: 1.10` is the float 1.1 to YAML: refuse numbers rather than guess.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError(
            "ref_type", 'must be a quoted string, e.g. ref: "{value}"', {"value": value}
        )
    return value


def _date_to_str(value: Any) -> Any:
    # `published: 2023-11-27` unquoted is a date to YAML; keep it as the ISO text.
    return value.isoformat() if isinstance(value, dt.date) else value


# Strings are stripped (model config) before these constraints apply.
Text = Annotated[str, Field(min_length=1)]
Line = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\n]+$")]
Ref = Annotated[
    str, BeforeValidator(_ref), Field(max_length=20, pattern=r"^[1-9][0-9]*(\.[1-9][0-9]*)*$")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class GuidanceDoc(_Strict):
    good: Text
    partial: str = ""


class ControlDoc(_Strict):
    ref: Ref
    title: Line
    question: Text
    guidance: GuidanceDoc
    typical_evidence: list[Annotated[str, Field(min_length=1, max_length=500)]] = []
    responsibility: Literal["provider", "user", "shared"]
    weight: Annotated[int, Field(strict=True, ge=1, le=5)]


class GuidelineDoc(_Strict):
    ref: Ref
    title: Line
    summary: str = ""
    controls: Annotated[list[ControlDoc], Field(min_length=1)]


class PillarDoc(_Strict):
    ref: Ref
    title: Line
    description: str = ""
    guidelines: Annotated[list[GuidelineDoc], Field(min_length=1)]


class FrameworkDoc(_Strict):
    slug: Annotated[str, Field(max_length=100, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    title: Line
    publisher: Annotated[str, Field(max_length=200, pattern=r"^[^\n]*$")] = ""
    published: Annotated[str, BeforeValidator(_date_to_str), Field(max_length=40)] = ""
    source_url: Annotated[str, Field(max_length=200, pattern=r"^(https?://\S+)?$")] = ""
    description: str = ""
    pillars: Annotated[list[PillarDoc], Field(min_length=1)]

    @model_validator(mode="after")
    def _refs_nest(self) -> FrameworkDoc:
        problems = list(_ref_problems(self))
        if problems:
            raise PydanticCustomError(
                "framework_refs", "{first}", {"first": problems[0][1], "problems": problems}
            )
        return self

    def sha256(self) -> str:
        """Hash of the parsed content: formatting and comments do not make a new version."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def control_count(self) -> int:
        return sum(len(g.controls) for p in self.pillars for g in p.guidelines)


Loc = tuple[str | int, ...]


def _ref_problems(doc: FrameworkDoc) -> Iterator[tuple[Loc, str]]:
    """Pillar "1" holds guidelines "1.n", guideline "1.2" holds controls "1.2.n"; all unique."""
    seen: set[str] = set()

    def check(loc: Loc, ref: str, parent: str | None) -> Iterator[tuple[Loc, str]]:
        parts = ref.split(".")
        want = 1 if parent is None else parent.count(".") + 2
        if len(parts) != want or (parent is not None and ".".join(parts[:-1]) != parent):
            shape = "N" if parent is None else f"{parent}.N"
            yield (*loc, "ref"), f"ref {ref!r} should have the form {shape!r}"
        elif ref in seen:
            yield (*loc, "ref"), f"duplicate ref {ref!r}"
        else:
            seen.add(ref)

    for i, p in enumerate(doc.pillars):
        ploc: Loc = ("pillars", i)
        yield from check(ploc, p.ref, None)
        for j, g in enumerate(p.guidelines):
            gloc: Loc = (*ploc, "guidelines", j)
            yield from check(gloc, g.ref, p.ref)
            for k, c in enumerate(g.controls):
                yield from check((*gloc, "controls", k), c.ref, g.ref)


# --- Parsing with line numbers ----------------------------------------------------------------


class FrameworkFileError(ValueError):
    """A framework file that cannot be loaded. `errors` lists every problem found (up to ten),
    each naming the file, the line and the key path; the message is the first of them."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        self.errors = errors or [message]
        extra = len(self.errors) - 1
        super().__init__(message + (f" (and {extra} more)" if extra > 0 else ""))


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, source_name: str) -> tuple[yaml.Node | None, Any]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        _check_nodes(node, source_name)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark is not None and exc.problem:
            problem += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise FrameworkFileError(f"{source_name}{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise FrameworkFileError(f"{source_name}: YAML error: {exc}") from None
    finally:
        loader.dispose()
    return node, data


def _check_nodes(root: yaml.Node | None, source_name: str) -> None:
    """Refuse anchors/aliases (a node reached twice) and duplicate keys, which PyYAML allows."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            line = node.start_mark.line + 1
            raise FrameworkFileError(
                f"{source_name}, line {line}: YAML anchors and aliases are not supported"
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in keys:
                        line = k.start_mark.line + 1
                        raise FrameworkFileError(
                            f"{source_name}, line {line}: duplicate key {k.value!r}"
                        )
                    keys.add(k.value)
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _line_of(root: yaml.Node | None, loc: Loc) -> int:
    """The line of the deepest node along `loc` that exists (a missing key: its parent)."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((kv for kv in node.value if getattr(kv[0], "value", None) == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"


_PATTERN_HELP = {
    "slug": "must be lower-case letters, digits and hyphens, e.g. my-framework-2024",
    "ref": 'must be whole numbers separated by dots, e.g. "1.2.3"',
    "source_url": "must be an http:// or https:// URL",
}


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key {err['loc'][-1]!r}"
    if kind == "missing":
        return f"required key {err['loc'][-1]!r} is missing"
    if kind == "model_type" and not err["loc"]:
        return "the file must be a YAML mapping with the keys slug, title and pillars"
    if kind == "string_pattern_mismatch":
        key = err["loc"][-1]
        return _PATTERN_HELP.get(key, "must be a single line of text")
    return err["msg"]


def parse_framework(text: str, source_name: str) -> FrameworkDoc:
    """Validate a framework file; raise FrameworkFileError naming the line and key path."""
    root, data = _compose(text, source_name)
    try:
        return FrameworkDoc.model_validate(data)
    except ValidationError as exc:
        problems: list[tuple[Loc, str]] = []
        for err in exc.errors():
            if err["type"] == "framework_refs":
                problems.extend(err["ctx"]["problems"])
            else:
                problems.append((tuple(err["loc"]), _message(err)))
        lines = [
            f"{source_name}, line {_line_of(root, loc)} ({_path(loc)}): {msg}"
            for loc, msg in problems[:MAX_ERRORS]
        ]
        raise FrameworkFileError(lines[0], lines) from None


# --- Loading ------------------------------------------------------------------------------------


def bundled_framework_paths() -> list[Path]:
    """The framework files shipped with aigsec, loaded for everyone by `load_framework`."""
    return sorted(BUNDLED_DIR.glob("*.yaml"))


def _existing(slug: str, owner_team: Any, digest: str) -> FrameworkVersion | None:
    return (
        FrameworkVersion.objects.select_related("framework")
        .filter(framework__slug=slug, framework__owner_team=owner_team, sha256=digest)
        .first()
    )


def framework_load(
    text: str, *, source_name: str, owner_team: Any = None, actor: Any = None
) -> tuple[FrameworkVersion, bool]:
    """Load a framework file as a new version (bundled if `owner_team` is None).

    Returns (version, created). Content already loaded for this framework returns that version
    with created=False and writes nothing. Raises FrameworkFileError for an invalid file.
    """
    doc = parse_framework(text, source_name)
    digest = doc.sha256()
    found = _existing(doc.slug, owner_team, digest)
    if found is not None:
        return found, False

    with transaction.atomic():
        framework, _ = Framework.objects.get_or_create(
            slug=doc.slug,
            owner_team=owner_team,
            defaults={
                "title": doc.title,
                "publisher": doc.publisher,
                "source_url": doc.source_url,
            },
        )
        # Lock the framework row: concurrent loads of the same framework take turns, so version
        # numbers stay gapless and the same content is never loaded twice.
        framework = Framework.objects.select_for_update().get(pk=framework.pk)
        found = _existing(doc.slug, owner_team, digest)
        if found is not None:
            return found, False
        changed = {
            f: getattr(doc, f)
            for f in ("title", "publisher", "source_url")
            if getattr(framework, f) != getattr(doc, f)
        }
        if changed:
            for f, v in changed.items():
                setattr(framework, f, v)
            framework.save(update_fields=list(changed))

        last = framework.versions.aggregate(m=Max("number"))["m"] or 0
        version = FrameworkVersion.objects.create(
            framework=framework,
            number=last + 1,
            sha256=digest,
            description=doc.description,
            published=doc.published,
        )
        _create_content(version, doc)
        audit_record(
            "framework.loaded",
            actor=actor,
            team=owner_team,
            target=f"framework_version:{version.pk}",
            data={
                "slug": doc.slug,
                "number": version.number,
                "sha256": digest,
                "source": source_name[:200],
                "controls": doc.control_count(),
            },
        )
    return version, True


def _create_content(version: FrameworkVersion, doc: FrameworkDoc) -> None:
    """Three INSERTs: pillars, guidelines, controls, with `order` increasing in file order."""
    pillars = Pillar.objects.bulk_create(
        Pillar(version=version, ref=p.ref, title=p.title, description=p.description, order=i)
        for i, p in enumerate(doc.pillars, start=1)
    )
    guideline_docs = [
        (pillar, g) for pillar, p in zip(pillars, doc.pillars, strict=True) for g in p.guidelines
    ]
    guidelines = Guideline.objects.bulk_create(
        Guideline(
            version=version, pillar=pillar, ref=g.ref, title=g.title, summary=g.summary, order=i
        )
        for i, (pillar, g) in enumerate(guideline_docs, start=1)
    )
    controls = [
        (guideline, c)
        for guideline, (_, g) in zip(guidelines, guideline_docs, strict=True)
        for c in g.controls
    ]
    Control.objects.bulk_create(
        Control(
            version=version,
            guideline=guideline,
            ref=c.ref,
            title=c.title,
            question=c.question,
            guidance_good=c.guidance.good,
            guidance_partial=c.guidance.partial,
            typical_evidence=list(c.typical_evidence),
            responsibility=c.responsibility,
            weight=c.weight,
            order=i,
        )
        for i, (guideline, c) in enumerate(controls, start=1)
    )


# --- OSCAL export -----------------------------------------------------------------------------

OSCAL_VERSION = "1.1.2"
AIGSEC_NS = "https://aigsec.example/ns/oscal"
NIST_RMF_NS = "http://csrc.nist.gov/ns/rmf"


def _oscal_id(prefix: str, ref: str) -> str:
    # OSCAL tokens allow letters, digits, "_", "-" and "."; refs are digits and dots.
    return f"{prefix}-{re.sub(r'[^0-9A-Za-z_.-]', '-', ref)}"


def _published(value: str) -> str | None:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).isoformat()


def _prop(name: str, value: Any, *, ns: str | None = AIGSEC_NS) -> dict[str, Any]:
    prop = {"name": name, "value": str(value)}
    if ns:
        prop["ns"] = ns
    return prop


def _control_to_oscal(c: Control) -> dict[str, Any]:
    cid = _oscal_id("control", c.ref)
    # The guidance prose says what good looks like; a sub-part what partial looks like.
    guidance: dict[str, Any] = {"id": f"{cid}_gdn", "name": "guidance", "prose": c.guidance_good}
    if c.guidance_partial:
        guidance["parts"] = [
            {
                "id": f"{cid}_gdn.partial",
                "name": "partial-implementation",
                "ns": AIGSEC_NS,
                "title": "Partially implemented",
                "prose": c.guidance_partial,
            }
        ]
    parts: list[dict[str, Any]] = [
        {"id": f"{cid}_smt", "name": "statement", "prose": c.question},
        guidance,
    ]
    if c.typical_evidence:
        parts.append(
            {
                "id": f"{cid}_asm-examine",
                "name": "assessment-method",
                "props": [_prop("method", "EXAMINE", ns=NIST_RMF_NS)],
                "parts": [
                    {
                        "id": f"{cid}_asm-examine.objects",
                        "name": "assessment-objects",
                        "title": "Typical evidence",
                        "prose": "\n".join(f"- {e}" for e in c.typical_evidence),
                    }
                ],
            }
        )
    return {
        "id": cid,
        "class": "control",
        "title": c.title,
        "props": [
            _prop("label", c.ref, ns=None),
            _prop("responsibility", c.responsibility),
            _prop("weight", c.weight),
        ],
        "parts": parts,
    }


def framework_to_oscal(version: FrameworkVersion) -> dict[str, Any]:
    """The version as an OSCAL 1.1.2 catalog: pillars are groups, guidelines nested groups.

    Deterministic (same version, same output). Three queries (pillars, guidelines, controls),
    four if `version.framework` was not fetched with it.
    """
    fw = version.framework
    pillars = list(version.pillars.order_by("order", "id"))
    guidelines = list(version.guidelines.order_by("order", "id"))
    controls = list(version.controls.order_by("order", "id"))
    by_guideline: dict[int, list[Control]] = {}
    for c in controls:
        by_guideline.setdefault(c.guideline_id, []).append(c)
    by_pillar: dict[int, list[Guideline]] = {}
    for g in guidelines:
        by_pillar.setdefault(g.pillar_id, []).append(g)

    def group(kind: str, ref: str, title: str, prose: str) -> dict[str, Any]:
        gid = _oscal_id(kind, ref)
        out: dict[str, Any] = {
            "id": gid,
            "class": kind,
            "title": title,
            "props": [_prop("label", ref, ns=None)],
        }
        if prose:
            out["parts"] = [{"id": f"{gid}_ovw", "name": "overview", "prose": prose}]
        return out

    groups = []
    for p in pillars:
        pg = group("pillar", p.ref, p.title, p.description)
        nested = []
        for g in by_pillar.get(p.pk, []):
            gg = group("guideline", g.ref, g.title, g.summary)
            gg["controls"] = [_control_to_oscal(c) for c in by_guideline.get(g.pk, [])]
            if gg["controls"]:
                nested.append(gg)
        if nested:
            pg["groups"] = nested
        groups.append(pg)

    catalog_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"{AIGSEC_NS}/catalog/{fw.slug}/{version.sha256}")
    metadata: dict[str, Any] = {
        "title": fw.title,
        "last-modified": version.loaded_at.astimezone(dt.UTC).isoformat(),
        "version": str(version.number),
        "oscal-version": OSCAL_VERSION,
        "props": [_prop("content-sha256", version.sha256), _prop("framework-slug", fw.slug)],
    }
    published = _published(version.published)
    if published:
        metadata["published"] = published
    if fw.source_url:
        metadata["links"] = [{"href": fw.source_url, "rel": "reference"}]
    if fw.publisher:
        party = str(uuid.uuid5(catalog_uuid, f"party:{fw.publisher}"))
        metadata["roles"] = [{"id": "creator", "title": "Creator"}]
        metadata["parties"] = [{"uuid": party, "type": "organization", "name": fw.publisher}]
        metadata["responsible-parties"] = [{"role-id": "creator", "party-uuids": [party]}]
    if version.description:
        metadata["remarks"] = version.description

    catalog: dict[str, Any] = {"uuid": str(catalog_uuid), "metadata": metadata}
    if groups:
        catalog["groups"] = groups
    return {"catalog": catalog}
