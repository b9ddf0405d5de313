"""Profile one benchmark page in-process: `python -m bench.profile PAGE [-n 20] [--pyinstrument]`.

Run with the bench environment (bench/env.py) against a seeded database; prints the mean time
of a request through the whole middleware stack and, with --pyinstrument, where it goes
(pyinstrument is a dev tool, installed by `make bench`).
"""

from __future__ import annotations

import argparse
import time

from .env import VAR
from .steps import EXTRA_PAGES, HX, User, _client, _seed_info, _token, pages  # sets up django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("page")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args()
    from django.test import Client

    info = _seed_info(VAR)
    persona, path = pages(info)[args.page]
    if persona == "token":
        token = _token(User.objects.get(pk=info["risk_owner_id"]))
        c = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    elif persona == "none":
        c = Client()
    else:
        c = _client(User.objects.get(pk=info[f"{persona}_id"]))
    headers = HX if args.page in EXTRA_PAGES else {}
    assert c.get(path, headers=headers).status_code == 200
    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    t, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.n):
        c.get(path, headers=headers)
    elapsed = (time.perf_counter() - t) / args.n
    cpu = (time.process_time() - cpu) / args.n
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    # CPU time of this process (the app's Python) is steadier than wall time on a shared box.
    print(
        f"{args.page} {path}: {elapsed * 1000:.1f} ms per request, {cpu * 1000:.1f} ms CPU "
        f"(mean of {args.n})"
    )


if __name__ == "__main__":
    main()
