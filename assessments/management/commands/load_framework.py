from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aigsec.accounts.models import Team
from assessments.frameworks import FrameworkFileError, bundled_framework_paths, framework_load


class Command(BaseCommand):
    help = (
        "Load the bundled framework files (no arguments), or one custom file with --file "
        "(for a team with --team). Loading the same content again changes nothing; changed "
        "content becomes a new version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, help="A framework YAML file to load.")
        parser.add_argument("--team", help="Slug of the team that owns the custom framework.")

    def handle(self, *args, **opts):
        path: Path | None = opts["file"]
        team = None
        if opts["team"]:
            if path is None:
                raise CommandError("--team needs --file: bundled frameworks belong to no team.")
            team = Team.objects.filter(slug=opts["team"]).first()
            if team is None:
                raise CommandError(f"No team with slug {opts['team']!r}.")
        paths = [path] if path is not None else bundled_framework_paths()
        if not paths:
            raise CommandError("No framework files found.")
        for p in paths:
            try:
                text = p.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{p}: cannot read: {exc}") from exc
            try:
                version, created = framework_load(text, source_name=p.name, owner_team=team)
            except FrameworkFileError as exc:
                raise CommandError("\n".join(exc.errors)) from exc
            slug = version.framework.slug
            if created:
                self.stdout.write(self.style.SUCCESS(f"loaded {slug} v{version.number}"))
            else:
                self.stdout.write(f"{slug} v{version.number} already loaded")
