from __future__ import annotations

from rest_framework import serializers

from .models import EvidenceItem

MAX_ID = 2**63 - 1


class EvidenceSerializer(serializers.ModelSerializer):
    sha256 = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    content_type = serializers.SerializerMethodField()
    revision = serializers.SerializerMethodField()
    freshness = serializers.CharField(read_only=True)
    responses = serializers.SerializerMethodField()
    withdrawn = serializers.SerializerMethodField()
    # Not a URLField: blank for files and notes, and "" is no `format: uri` (found by fuzzing).
    url = serializers.CharField(
        read_only=True, help_text="The address of a link (an http or https URL); empty otherwise."
    )

    class Meta:
        model = EvidenceItem
        fields = [
            "id",
            "team",
            "title",
            "kind",
            "description",
            "url",
            "note",
            "collected_on",
            "valid_until",
            "tags",
            "sha256",
            "size",
            "content_type",
            "revision",
            "freshness",
            "responses",
            "withdrawn",
        ]
        read_only_fields = fields

    def _latest(self, obj: EvidenceItem):
        return getattr(obj, "latest_revision", None)

    def get_sha256(self, obj: EvidenceItem) -> str | None:
        rev = self._latest(obj)
        return rev.sha256 if rev else None

    def get_size(self, obj: EvidenceItem) -> int | None:
        rev = self._latest(obj)
        return rev.size if rev else None

    def get_content_type(self, obj: EvidenceItem) -> str | None:
        rev = self._latest(obj)
        return rev.content_type if rev else None

    def get_revision(self, obj: EvidenceItem) -> int | None:
        rev = self._latest(obj)
        return rev.number if rev else None

    def get_responses(self, obj: EvidenceItem) -> list[int]:
        return sorted(link.response_id for link in obj.links.all())

    def get_withdrawn(self, obj: EvidenceItem) -> bool:
        return obj.withdrawn_at is not None


class EvidenceCreateSerializer(serializers.Serializer):
    team = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField(required=False, allow_empty_file=True)
    url = serializers.URLField(required=False, max_length=2000)
    note = serializers.CharField(required=False)
    collected_on = serializers.DateField(required=False)
    valid_until = serializers.DateField(required=False)
    responses = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, default=list
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        default=list,
        max_length=30,
        help_text="Repeat the field once per tag.",
    )

    def validate(self, attrs: dict) -> dict:
        given = [k for k in ("file", "url", "note") if attrs.get(k)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give exactly one of file, url or note."]}
            )
        attrs["kind"] = {"file": "file", "url": "link", "note": "note"}[given[0]]
        return attrs


class RevisionCreateSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)


class LinkSerializer(serializers.Serializer):
    response = serializers.IntegerField(min_value=1, max_value=MAX_ID)
