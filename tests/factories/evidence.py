"""Factories for evidence: items, file revisions and links to responses, each made by the
evidence service that the app uses (files stored and inspected, rows audited)."""

from __future__ import annotations

from typing import Any

import factory
from django.core.files.uploadedfile import SimpleUploadedFile

from evidence import services
from evidence.models import EvidenceItem, EvidenceKind, EvidenceLink, EvidenceRevision

from .accounts import TeamFactory, member_of
from .assessments import ResponseFactory

CSV = b"control,result\n1.1.1,pass\n"


def csv_upload(name: str = "scan.csv", data: bytes = CSV) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


class EvidenceItemFactory(factory.django.DjangoModelFactory):
    """A note by default; `EvidenceItemFactory(file=True)` uploads a CSV (revision 1),
    `link=True` points at a URL. `actor` defaults to a new risk owner of `team`; `responses`
    are linked in the same call, as in the upload form."""

    class Meta:
        model = EvidenceItem

    class Params:
        file = factory.Trait(
            kind=EvidenceKind.FILE, note="", uploaded_file=factory.LazyFunction(csv_upload)
        )
        link = factory.Trait(kind=EvidenceKind.LINK, note="", url="https://example.test/policy")

    team = factory.SubFactory(TeamFactory)
    actor = factory.LazyAttribute(lambda o: member_of(o.team))
    kind = EvidenceKind.NOTE
    title = factory.Sequence(lambda n: f"Evidence {n}")
    note = "Reviewed at the quarterly risk meeting."
    url = ""
    uploaded_file = None
    responses: Any = ()

    @classmethod
    def _create(cls, model_class: type[EvidenceItem], **kwargs: Any) -> EvidenceItem:
        return services.evidence_create(**kwargs)


class EvidenceRevisionFactory(factory.django.DjangoModelFactory):
    """A new revision of a file item (by default of a new one, so revision 2), added by
    `evidence_add_revision`. A file item's revision 1 is `item.latest_revision`."""

    class Meta:
        model = EvidenceRevision

    item = factory.SubFactory(EvidenceItemFactory, file=True)
    actor = factory.LazyAttribute(lambda o: o.item.created_by)
    uploaded_file = factory.LazyFunction(lambda: csv_upload("scan-v2.csv", CSV + b"1.1.2,pass\n"))

    @classmethod
    def _create(cls, model_class: type[EvidenceRevision], **kwargs: Any) -> EvidenceRevision:
        return services.evidence_add_revision(**kwargs)


class EvidenceLinkFactory(factory.django.DjangoModelFactory):
    """Evidence supporting a response of the same team, linked by `evidence_link`."""

    class Meta:
        model = EvidenceLink

    response = factory.SubFactory(ResponseFactory)
    item = factory.SubFactory(
        EvidenceItemFactory, team=factory.SelfAttribute("..response.assessment.team")
    )
    actor = factory.LazyAttribute(lambda o: o.item.created_by)

    @classmethod
    def _create(cls, model_class: type[EvidenceLink], **kwargs: Any) -> EvidenceLink:
        return services.evidence_link(**kwargs)
