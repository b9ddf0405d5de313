from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "aigsec.audit"
    label = "audit"
    verbose_name = "Audit trail"
