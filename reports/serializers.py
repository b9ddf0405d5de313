from django.urls import reverse
from rest_framework import serializers

from .models import Report


class ReportSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="email", read_only=True)
    download_url = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "uuid",
            "team",
            "assessment",
            "status",
            "failure_reason",
            "requested_by",
            "requested_at",
            "signed_at",
            "is_final",
            "sha256",
            "size",
            "signer_fingerprint",
            "audit_head_seq",
            "audit_head_hash",
            "status_url",
            "download_url",
        ]
        read_only_fields = fields

    def get_status_url(self, obj: Report) -> str:
        return reverse("api-report-detail", kwargs={"pk": obj.pk})

    def get_download_url(self, obj: Report) -> str | None:
        if obj.status != "signed":
            return None
        return reverse("api-report-download", kwargs={"pk": obj.pk})


class VerifyRequestSerializer(serializers.Serializer):
    file = serializers.FileField()


class VerifyResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    reason = serializers.CharField()
    sha256 = serializers.CharField()
    signer = serializers.CharField(allow_blank=True)
    signer_fingerprint = serializers.CharField(allow_blank=True)
    signed_at = serializers.CharField(allow_blank=True)
    timestamped = serializers.BooleanField()
    whole_file = serializers.BooleanField()
    report_uuid = serializers.CharField(allow_blank=True)
    on_record = serializers.BooleanField()
    report = serializers.IntegerField(allow_null=True, help_text="Set when you may see it.")
