"""`make bench-scaleout`: two app instances and two workers on one PostgreSQL and one Redis,
50 concurrent writers for 60 s, then the checks of issue 8:

- `verify_audit_log` passes over everything written;
- no acknowledged write is lost: each answer the API acknowledged (200 with a version) is the
  one stored, or a later acknowledged one replaced it, and every acknowledged upload is there
  with its hash and its file;
- no report is rendered twice: managers click "request report" concurrently on both instances;
  each report is rendered (`report.rendered`) at most once, and duplicate clicks got the
  pending report instead of a new one.

`python -m bench.scaleout [--seconds 60] [--writers 50]`. Writes var/bench/scaleout.json.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

from .env import PYTHON, ROOT, VAR, bench_env
from .run import free_port, gunicorn, log, machine, prepare_database, run, step, update_docs

DB = "aigsec_bench_scaleout"


class Writer(threading.Thread):
    """One client: a risk owner answering and uploading, or a manager requesting reports."""

    def __init__(self, n: int, ports: list[int], user: dict[str, Any], deadline: float):
        super().__init__(daemon=True)
        self.n, self.ports, self.user, self.deadline = n, ports, user, deadline
        self.rng = random.Random(n)  # noqa: S311 (load pattern, not secrets)
        self.acks: list[dict[str, Any]] = []
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str = ""):
        port = self.ports[self.rng.randrange(len(self.ports))]  # either instance
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {self.user['token']}"}
        if ctype:
            headers["Content-Type"] = ctype
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.statuses[resp.status] += 1
        if resp.status >= 500:
            self.errors.append(f"{method} {path}: {resp.status} {data[:200]!r}")
        return resp.status, (json.loads(data) if data[:1] in (b"{", b"[") else None)

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            try:
                if self.user["role"] == "manager":
                    self.request_report()
                    time.sleep(self.rng.uniform(0.5, 2))
                elif self.rng.random() < 0.2:
                    self.upload()
                else:
                    self.answer()
            except OSError as exc:  # connection refused or reset: recorded, never hidden
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def answer(self) -> None:
        rid = self.rng.choice(self.user["responses"])
        status, current = self.request("GET", f"/api/v1/responses/{rid}/")
        if status != 200:
            return
        choice = self.rng.choice(["full", "largely", "partial", "not_implemented"])
        body = {
            "version": current["version"],
            "status": choice,
            "justification": f"writer {self.n} at {time.time():.6f}",
        }
        status, saved = self.request(
            "PATCH", f"/api/v1/responses/{rid}/", json.dumps(body).encode(), "application/json"
        )
        if status == 200:
            self.acks.append(
                {
                    "kind": "response",
                    "id": rid,
                    "version": saved["version"],
                    "status": saved["status"],
                    "justification": saved["justification"],
                }
            )

    def upload(self) -> None:
        content = f"scale-out evidence {uuid.uuid4()}\n".encode() * self.rng.randint(1, 200)
        boundary = "scaleout" + uuid.uuid4().hex
        rid = self.rng.choice(self.user["responses"])
        parts = [("kind", "file"), ("title", f"Scale-out upload {self.n}"), ("responses", rid)]
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in parts
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="log.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        body += content + f"\r\n--{boundary}--\r\n".encode()
        status, item = self.request(
            "POST", "/api/v1/evidence/", body, f"multipart/form-data; boundary={boundary}"
        )
        if status == 201:
            self.acks.append(
                {
                    "kind": "evidence",
                    "id": item["id"],
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "size": len(content),
                }
            )

    def request_report(self) -> None:
        # Few assessments, many clicks: concurrent duplicates must be folded into one report.
        aid = self.rng.choice(self.user["assessments"][:2])
        status, report = self.request("POST", f"/api/v1/assessments/{aid}/reports/")
        if status in (200, 202):
            self.acks.append(
                {"kind": "report", "id": report["id"], "assessment": aid, "new": status == 202}
            )


@contextlib.contextmanager
def celery_worker(env: dict[str, str], name: str):
    cmd = [
        str(ROOT / ".venv" / "bin" / "celery"),
        "-A",
        "aigsec",
        "worker",
        "--concurrency",
        "1",
        "--loglevel",
        "WARNING",
        "--hostname",
        f"{name}@%h",
    ]
    with (VAR / f"{name}.log").open("w") as logf:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=logf, stderr=logf)  # noqa: S603
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def table(r: dict[str, Any]) -> str:
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ack = r["acknowledged"]
    rows = [
        ("result", "**passed**" if r["passed"] else "**FAILED**"),
        (
            "requests",
            f"{r['requests']} in {r['seconds']} s, by status: "
            + ", ".join(f"{k}: {v}" for k, v in r["statuses"].items()),
        ),
        (
            "acknowledged writes",
            f"{ack.get('response', 0)} answers, {ack.get('evidence', 0)} uploads, "
            f"{ack.get('report', 0)} report requests",
        ),
        (
            "audit trail",
            f"verify_audit_log {'OK' if r['audit_ok'] else 'FAILED'} over "
            f"{r['audit_events']} events",
        ),
        (
            "lost writes",
            f"{len(r['lost_responses'])} answers, {len(r['lost_uploads'])} uploads; "
            f"{r['unacknowledged_saves']} saves never acknowledged; one event per save: "
            f"{r['events_match_saves']}",
        ),
        (
            "reports",
            f"{r['reports']} rendered ({r['reports_signed']} signed, "
            f"{len(r['reports_failed'])} failed, {r['reports_pending']} pending) for "
            f"{r['report_requests']} requests ({r['report_requests_folded']} folded into a "
            f"pending one); rendered twice: {len(r['rendered_twice'])}; overlapping: "
            f"{r['overlapping_reports']}",
        ),
        ("client errors (5xx, resets)", str(len(r["client_errors"]))),
    ]
    lines = [f"Run {date}, {machine()}.", "", "| check | result |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    data_dir = VAR / "data-scaleout"
    env = bench_env(DB, data_dir=data_dir)
    prepare_database(DB, "tiny", env, args.reuse)
    run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], env=env)
    setup = step("scaleout_setup", DB, "tiny", env)  # tokens, targets, the signing identity
    ports = [free_port(), free_port()]
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        for i, port in enumerate(ports):
            stack.enter_context(gunicorn(env, port, name=f"scaleout-web{i + 1}"))
        stack.enter_context(celery_worker(env, "scaleout-worker1"))
        stack.enter_context(celery_worker(env, "scaleout-worker2"))
        deadline = time.monotonic() + args.seconds
        # A few managers clicking "request report", the others answering and uploading.
        managers, owners = setup["managers"], setup["risk_owners"]
        slots = managers[: max(1, args.writers // 12)]
        slots += [owners[n % len(owners)] for n in range(args.writers - len(slots))]
        writers = [Writer(n, ports, user, deadline) for n, user in enumerate(slots)]
        log(f"{len(writers)} writers on ports {ports} for {args.seconds} s")
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        acks = [a for w in writers for a in w.acks]
        statuses = sum((w.statuses for w in writers), Counter())
        errors = [e for w in writers for e in w.errors]
        log(f"writes done: {len(acks)} acknowledged; statuses {dict(statuses)}")
        (VAR / "scaleout-acks.json").write_text(json.dumps(acks))
        # Let the workers finish the reports that were queued before the writers stopped.
        check = step("scaleout_verify", DB, "tiny", env | {"BENCH_WAIT_REPORTS": "300"})
    result = {
        "seconds": args.seconds,
        "writers": args.writers,
        "instances": len(ports),
        "celery_workers": 2,
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "client_errors": errors[:20],
        "acknowledged": dict(Counter(a["kind"] for a in acks)),
        **check,
        "total_seconds": round(time.monotonic() - started),
    }
    result["passed"] = bool(
        not errors
        and check["audit_ok"]
        and not check["lost_responses"]
        and not check["lost_uploads"]
        and not check["rendered_twice"]
        and check["reports_pending"] == 0
        and check["events_match_saves"]
    )
    (VAR / "scaleout.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    update_docs("scaleout", table(result))
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
