import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assessments.frameworks import framework_to_oscal
from assessments.models import FrameworkVersion


class Command(BaseCommand):
    help = "Export a framework version as an OSCAL 1.1.2 catalog (JSON)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version (framework version number) replaces Django's --version (its release).
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Framework slug, e.g. ncsc-cisa-secure-ai-2023.")
        parser.add_argument("--format", choices=["oscal"], default="oscal")
        parser.add_argument("--out", type=Path, required=True, help="File to write ('-': stdout).")
        parser.add_argument("--version", dest="number", type=int, help="Version number (latest).")
        parser.add_argument("--team", help="Slug of the owning team (default: bundled).")

    def handle(self, *args, **opts):
        qs = FrameworkVersion.objects.select_related("framework").filter(
            framework__slug=opts["slug"]
        )
        if opts["team"]:
            qs = qs.filter(framework__owner_team__slug=opts["team"])
        else:
            qs = qs.filter(framework__owner_team__isnull=True)
        if opts["number"] is not None:
            qs = qs.filter(number=opts["number"])
        version = qs.order_by("-number").first()
        if version is None:
            which = f" version {opts['number']}" if opts["number"] is not None else ""
            raise CommandError(f"No framework {opts['slug']!r}{which} is loaded.")
        text = json.dumps(framework_to_oscal(version), indent=2, ensure_ascii=False) + "\n"
        if str(opts["out"]) == "-":
            self.stdout.write(text, ending="")
            return
        opts["out"].write_text(text, encoding="utf-8")
        self.stderr.write(
            f"Wrote {version.framework.slug} v{version.number} as OSCAL to {opts['out']}"
        )
