"""`make bench`: the whole benchmark, end to end. `python -m bench.run --scale small`.

1. Two fresh databases: `aigsec_bench` seeded at the chosen scale, and `aigsec_bench_tiny`
   seeded at the "micro" scale for the query-count comparison.
2. Query counts of every page on both (they must be equal).
3. gunicorn (2 workers, production settings over plain HTTP, see bench/env.py), and wrk with
   8 connections on each page: p50, p95, requests per second, errors, ratio to /healthz.
4. Upload of a generated text file through POST /api/v1/evidence/, against sha256sum on the
   same file, and the peak RSS growth of the gunicorn worker.
5. Report of the largest assessment through the task code, against WeasyPrint alone.
6. verify_audit_log over the whole chain.

Writes var/bench/results.json (the issue's shape), var/bench/results-detail.json (everything
measured), var/bench/results.md, and the scale's table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .env import DB_LARGE, DB_TINY, PGHOST, PGUSER, PYTHON, ROOT, VAR, bench_env
from .scales import SCALES

PAGE_ORDER = (
    "healthz",
    "questionnaire",
    "questionnaire_control",  # an extra (bench/steps.py EXTRA_PAGES): not in results.json
    "dashboard",
    "my_work",
    "evidence_list",
    "review_queue",
    "audit_trail",
    "api_responses",
)
WARMUP_SECONDS = 2
CONNECTIONS = 8
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "300"))  # seconds, per measurement
MB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], env: dict[str, str] | None = None, **kw: Any) -> None:
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, **kw)  # noqa: S603 (fixed argv)


def recreate_db(name: str) -> None:
    pg = ["-h", PGHOST, "-U", PGUSER]
    run(["dropdb", *pg, "--if-exists", name])
    run(["createdb", *pg, name])


def step(name: str, db: str, scale: str, env: dict[str, str]) -> dict[str, Any]:
    out = VAR / f"step-{name}-{db}.json"
    run([PYTHON, "-m", "bench.steps", name, "--scale", scale, "--out", str(out)], env=env)
    return json.loads(out.read_text())


def prepare_database(db: str, scale: str, env: dict[str, str], reuse: bool) -> dict[str, Any]:
    seed_file = VAR / f"seed-{db}.json"
    if reuse and seed_file.exists():
        log(f"{db}: reusing the seeded database (migrating only)")
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
        return json.loads(seed_file.read_text())
    recreate_db(db)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
    log(f"{db}: seeding scale {scale}")
    info = step("seed", db, scale, env)
    log(f"{db}: seeded in {info['seconds']} s: {info['counts']}")
    return info


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, name: str = "gunicorn") -> Iterator[subprocess.Popen]:
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "aigsec.wsgi:application",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "300",
        "--access-logfile",
        str(VAR / f"{name}-access.log"),
        "--error-logfile",
        str(VAR / f"{name}.log"),
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)  # noqa: S603 (fixed argv)
    try:
        wait_ready(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited; see var/bench/gunicorn.log")
        with contextlib.suppress(OSError):
            status, _body = http_get(port, "/healthz", {})
            if status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /healthz in time")


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def worker_pids(master: int) -> list[int]:
    path = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --- a quiet machine ----------------------------------------------------------------------


def cpu_busy(seconds: float = 2.0) -> float:
    """Share of all cores busy over `seconds`, from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(max_wait: float) -> float:
    """The machine may be shared (2 cores): wait until other work leaves it mostly idle, so a
    page is not measured against someone's test suite. Returns the busy share measured last."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = cpu_busy()
        if busy < 0.25 or time.monotonic() > deadline:
            if busy >= 0.25:
                log(f"warning: the machine is {busy:.0%} busy with other work; measuring anyway")
            return round(busy, 2)
        time.sleep(3)


# --- pages --------------------------------------------------------------------------------


def persona_headers(persona: str, state: dict[str, Any], name: str = "") -> dict[str, str]:
    extra = {"HX-Request": "true"} if name in state.get("extra_pages", ()) else {}
    if persona == "token":
        return {"Authorization": f"Bearer {state['token']}", **extra}
    if persona in state["cookies"]:
        return {"Cookie": state["cookies"][persona], **extra}
    return extra


def check_page(port: int, name: str, path: str, headers: dict[str, str]) -> None:
    status, body = http_get(port, path, headers)
    if status != 200:
        raise RuntimeError(f"{name} {path}: HTTP {status} before the load; {body[:200]!r}")


def wrk(port: int, path: str, headers: dict[str, str], seconds: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["BENCH_COOKIE"] = headers.get("Cookie", "")
    env["BENCH_AUTH"] = headers.get("Authorization", "")
    env["BENCH_HX"] = headers.get("HX-Request", "")
    cmd = [
        "wrk",
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "load.wrk.lua"),
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)  # noqa: S603
    line = [x for x in out.stdout.splitlines() if x.startswith("{")][-1]
    return json.loads(line)


def load_pages(port: int, state: dict[str, Any], seconds: int, only: set[str] | None):
    results: dict[str, Any] = {}
    for name in PAGE_ORDER:
        if only and name not in only and name != "healthz":
            continue
        persona, path = state["pages"][name]
        headers = persona_headers(persona, state, name)
        check_page(port, name, path, headers)
        busy = wait_for_quiet(QUIET_WAIT)
        wrk(port, path, headers, WARMUP_SECONDS)
        r = wrk(port, path, headers, seconds)
        results[name] = {
            "path": path,
            "p50_ms": round(r["p50_us"] / 1000, 1),
            "p95_ms": round(r["p95_us"] / 1000, 1),
            "p99_ms": round(r["p99_us"] / 1000, 1),
            "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
            "errors": r["non200"] + r["socket_errors"],
            "machine_busy_before": busy,
            "loadavg_after": os.getloadavg()[0],
        }
        log(f"{name:14} {json.dumps(results[name])}")
    floor = results["healthz"]["p50_ms"] or 0.1
    for r in results.values():
        r["ratio_to_floor"] = round(r["p50_ms"] / floor, 1)
    return results


# --- upload -------------------------------------------------------------------------------

LINE = b"model-output-log,2026-11-23T10:00:00Z,ok,0.93\n"


def make_upload_file(mb: int) -> Path:
    path = VAR / f"upload-{mb}MB.txt"
    if path.exists() and path.stat().st_size == mb * MB:
        return path
    block = LINE * (MB // len(LINE)) + LINE[: MB % len(LINE)]
    with path.open("wb") as fh:
        for _ in range(mb):
            fh.write(block)
    return path


def sha256sum_seconds(path: Path) -> float:
    run(["sha256sum", str(path)], stdout=subprocess.DEVNULL)  # page cache warm, as for the upload
    t = time.perf_counter()
    run(["sha256sum", str(path)], stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def upload(port: int, master: int, path: Path, token: str) -> dict[str, Any]:
    boundary = "aigsecBench" + hashlib.sha256(path.name.encode()).hexdigest()[:16]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nfile\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nBench upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as fh:
            while chunk := fh.read(MB):
                yield chunk
        yield tail

    workers = worker_pids(master)
    before = {}
    for pid in workers:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to now
        before[pid] = proc_kb(pid, "VmRSS")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t = time.perf_counter()
    conn.request(
        "POST",
        "/api/v1/evidence/",
        body=body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        },
    )
    resp = conn.getresponse()
    answer = resp.read()
    seconds = time.perf_counter() - t
    conn.close()
    if resp.status != 201:
        raise RuntimeError(f"upload: HTTP {resp.status}: {answer[:300]!r}")
    growth = max((proc_kb(pid, "VmHWM") - before[pid]) / 1024 for pid in workers)
    data = json.loads(answer)
    return {
        "seconds": round(seconds, 2),
        "mb": round(size / MB),
        "mb_per_s": round(size / MB / seconds, 1),
        "rss_growth_mb": round(growth, 1),
        "sha256": data["sha256"],
    }


# --- output -------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / MB:.0f} GB RAM"
    psql = ["psql", "-h", PGHOST, "-U", PGUSER, "-tAc", "SHOW server_version", "postgres"]
    pg = subprocess.run(psql, capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}; Linux {platform.release()}; "
        f"Python {platform.python_version()}; PostgreSQL {pg}"
    )


def table(results: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        f"Scale **{results['scale']}**, {meta['date']}, {meta['machine']}.",
        "",
        "| page | p50 ms | p95 ms | req/s | errors | p50 / floor | queries (tiny / bench) "
        "| first visit: queries (tiny / bench), ms | same page again, ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    # A first visit with the caches empty (after a change), and the same page again: queries,
    # and one client's time in-process on the benchmark's database (bench/steps.py).
    detail = meta.get("queries_detail", {})
    tiny, large = detail.get("tiny", {}), detail.get("large", {})
    rows = [(name, name, p) for name, p in results["pages"].items()]
    rows += [(f"{name} (extra)", name, p) for name, p in meta.get("extra_pages", {}).items()]
    for label, name, p in rows:
        t, g = tiny.get(name, {}), large.get(name, {})
        lines.append(
            f"| {label} | {p['p50_ms']} | {p['p95_ms']} | {p['rps']} | {p['errors']} | "
            f"{p['ratio_to_floor']} | {p['queries_small']} / {p['queries_large']} | "
            f"{t.get('queries_cold')} / {g.get('queries_cold')}, {g.get('ms_cold')} | "
            f"{g.get('ms_warm')} |"
        )
    r, u, a = results["report"], results["upload"], results["audit_verify"]
    lines += [
        "",
        "| measure | result |",
        "| --- | --- |",
        f"| report (render + sign, largest assessment) | {r['seconds']} s, "
        f"{r['ratio_to_bare_weasyprint']}x WeasyPrint alone ({meta['report_bare_s']} s) |",
        f"| upload of {meta['upload_mb']} MB | {u['mb_per_s']} MB/s, "
        f"{u['ratio_to_sha256sum']}x sha256sum ({meta['sha256sum_mb_per_s']} MB/s), "
        f"worker RSS +{u['rss_growth_mb']} MB |",
        f"| verify_audit_log | {a['events']} events in {a['seconds']} s |",
        f"| seeding | {meta['seed_seconds']} s |",
    ]
    return "\n".join(lines) + "\n"


def update_docs(scale: str, text: str) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    start, end = f"<!-- bench:{scale}:start -->", f"<!-- bench:{scale}:end -->"
    if not doc.exists():
        return
    content = doc.read_text()
    if start in content and end in content:
        before, rest = content.split(start, 1)
        _old, after = rest.split(end, 1)
        doc.write_text(f"{before}{start}\n{text}{end}{after}")
        log(f"docs/benchmarks.md: the {scale} table is updated")


def main() -> None:
    # Stopped with SIGTERM: unwind, so the gunicorn started here is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default=os.environ.get("SCALE", "small"), choices=SCALES)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded databases")
    parser.add_argument("--pages", help="only these pages (comma-separated), for profiling")
    parser.add_argument("--skip", default="", help="skip steps: queries,pages,upload,report,audit")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk; `make bench` does it).")
    scale = SCALES[args.scale]
    skip = set(filter(None, args.skip.split(",")))
    only = set(args.pages.split(",")) if args.pages else None
    started = time.monotonic()
    VAR.mkdir(parents=True, exist_ok=True)
    env = bench_env(DB_LARGE, upload_mb=scale.upload_mb)
    tiny_env = bench_env(DB_TINY, data_dir=VAR / "data-tiny")
    if not args.reuse:
        for d in ("data", "data-tiny"):
            shutil.rmtree(VAR / d, ignore_errors=True)
    info = prepare_database(DB_LARGE, scale.name, env, args.reuse)
    prepare_database(DB_TINY, "micro", tiny_env, args.reuse)
    run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], env=env)

    queries_small = queries_large = {}
    if "queries" not in skip:
        queries_small = step("queries", DB_TINY, "micro", tiny_env)
        queries_large = step("queries", DB_LARGE, scale.name, env)
        log(f"queries tiny: { {k: v['queries'] for k, v in queries_small.items()} }")
        log(f"queries {scale.name}: { {k: v['queries'] for k, v in queries_large.items()} }")

    state = step("prepare", DB_LARGE, scale.name, env)
    pages: dict[str, Any] = {}
    upload_result: dict[str, Any] = {}
    port = free_port()
    with gunicorn(env, port) as server:
        if "pages" not in skip:
            pages = load_pages(port, state, scale.seconds, only)
        if "upload" not in skip:
            path = make_upload_file(scale.upload_mb)
            wait_for_quiet(QUIET_WAIT)
            sha_s = sha256sum_seconds(path)
            upload_result = upload(port, server.pid, path, state["token"])
            upload_result["sha256sum_mb_per_s"] = round(scale.upload_mb / sha_s, 1)
            upload_result["ratio_to_sha256sum"] = round(
                upload_result["mb_per_s"] / upload_result["sha256sum_mb_per_s"], 2
            )
            log(f"upload: {upload_result}")
    if "report" not in skip:
        wait_for_quiet(QUIET_WAIT)
    report = step("report", DB_LARGE, scale.name, env) if "report" not in skip else {}
    if report:
        log(f"report: {report}")
    audit = step("audit", DB_LARGE, scale.name, env) if "audit" not in skip else {}
    if audit:
        log(f"audit: {audit}")

    results = {
        "scale": scale.name,
        "pages": {
            name: {
                "p50_ms": p["p50_ms"],
                "p95_ms": p["p95_ms"],
                "rps": p["rps"],
                "errors": p["errors"],
                "ratio_to_floor": p["ratio_to_floor"],
                "queries_small": queries_small.get(name, {}).get("queries"),
                "queries_large": queries_large.get(name, {}).get("queries"),
            }
            for name, p in pages.items()
            if name not in state.get("extra_pages", ())
        },
        "report": {
            "seconds": report.get("seconds"),
            "ratio_to_bare_weasyprint": report.get("ratio_to_bare_weasyprint"),
        },
        "upload": {
            "mb_per_s": upload_result.get("mb_per_s"),
            "ratio_to_sha256sum": upload_result.get("ratio_to_sha256sum"),
            "rss_growth_mb": upload_result.get("rss_growth_mb"),
        },
        "audit_verify": {"events": audit.get("events"), "seconds": audit.get("seconds")},
    }
    meta = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "seed": info,
        "seed_seconds": info.get("seconds"),
        "upload_mb": scale.upload_mb,
        "sha256sum_mb_per_s": upload_result.get("sha256sum_mb_per_s"),
        "report_bare_s": report.get("bare_weasyprint_seconds"),
        "pages_detail": pages,
        "extra_pages": {
            name: {
                **pages[name],
                "queries_small": queries_small.get(name, {}).get("queries"),
                "queries_large": queries_large.get(name, {}).get("queries"),
            }
            for name in state.get("extra_pages", ())
            if name in pages
        },
        "queries_detail": {"tiny": queries_small, "large": queries_large},
        "report_detail": report,
        "upload_detail": upload_result,
        "audit_detail": audit,
        "total_seconds": round(time.monotonic() - started),
    }
    (VAR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (VAR / "results-detail.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    complete = not skip and not only
    if complete:
        text = table(results, meta)
        (VAR / "results.md").write_text(text)
        print(text)
        if not args.no_docs:
            update_docs(scale.name, text)
    log(f"done in {meta['total_seconds']} s: var/bench/results.json")


if __name__ == "__main__":
    main()
