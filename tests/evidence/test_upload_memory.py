"""A 500 MB evidence upload through the real view keeps memory flat (issue 4).

The script streams a generated multipart body into the full Django stack in its own process
(tests/scripts/big_upload.py), so ru_maxrss measures the upload alone; SQLite in a temporary
directory keeps the 500 MB off the shared test database's disk area."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, megabytes: int) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "aigsec.settings",
        "DJANGO_DEBUG": "1",
        "AIGSEC_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "REDIS_URL": "",
        "AIGSEC_MAX_UPLOAD_BYTES": str(600 * 1024 * 1024),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/scripts/big_upload.py"), str(megabytes)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_500_mb_upload_is_hashed_while_streaming_with_flat_memory(tmp_path):
    result = _run(tmp_path, 500)
    assert result["status"] == 302  # accepted, redirected to the new item
    assert result["size"] == 500 * 1024 * 1024
    assert result["sha256_ok"]  # the stored hash is the SHA-256 of exactly those bytes
    # The process grows by what the first request loads (URLconf, templates), not by the file.
    assert result["rss_growth_mb"] < 64, result
