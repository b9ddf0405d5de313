"""How much data each benchmark scale seeds, and how long each page is loaded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    teams: int
    systems: int  # in all (spread evenly over the teams)
    assessments: int  # in all; two per AI system at the official scales
    evidence: int
    reviews: int
    events: int  # audit events appended by the seeder (the chain also holds set-up events)
    flagship_evidence: int  # evidence items linked to the largest assessment
    real_files: int  # of those, how many are real files in the bench MEDIA_ROOT
    seconds: int  # load per page
    upload_mb: int
    users_per_team: int = 10


SCALES: dict[str, Scale] = {
    # The numbers. 2,000 assessments of the 81-control framework are 162,000 responses.
    "full": Scale("full", 100, 1_000, 2_000, 200_000, 100_000, 500_000, 300, 300, 60, 1024),
    "small": Scale("small", 10, 100, 200, 20_000, 10_000, 50_000, 300, 300, 20, 200),
    # For developing the benchmark itself; not an official figure.
    "tiny": Scale("tiny", 2, 10, 20, 1_000, 500, 2_000, 300, 50, 5, 20),
    # The "tiny database" of the query-count comparison, and the seeder's own test.
    "micro": Scale("micro", 2, 4, 8, 40, 20, 60, 6, 3, 1, 1, users_per_team=5),
}
