"""The generation service under load: 200 jobs through the API and 2 workers.

A second process submits 200 one-step jobs of the tiny random model over loopback (8 at a
time) to `aiprod serve`, and 2 `aiprod worker` processes run them, all on a throwaway
PostgreSQL. It prints the p50 / p95 submit latency, the served jobs/s (first submit to last
job finished), and, as the baseline measured in the same run, the jobs/s of the same
generations called in-process with no API, queue or database; the ratio is what serving
costs or gains (2 workers against 1 process).

    python benchmarks/api_load.py [--jobs 200] [--workers 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from serve_support import (  # noqa: E402 (the tests' helpers: a cluster, keys, processes)
    Postgres,
    aiprod,
    new_key,
    params_file,
    serve_config,
    start_api,
    stop,
)
from tiny_models import save_tiny_pipeline  # noqa: E402

PROMPT = "A red circle moves left."


def direct_jobs_per_second(model: Path, jobs: int, out: Path) -> float:
    """The baseline: the same generations and mp4 writes, in this process, one by one."""
    from aiprod.generate import VideoGenerator, write_video

    generator = VideoGenerator(model)
    start = time.perf_counter()
    for n in range(jobs):
        video = generator([PROMPT], steps=1, seed=n)[0]
        write_video(out / f"{n}.mp4", video, generator.fps)
    return jobs / (time.perf_counter() - start)


def submit_all(base: str, token: str, jobs: int, concurrency: int, queue: object) -> None:
    """Runs in the second process: submit, time each request, wait for every job to end."""
    headers = {"Authorization": f"Bearer {token}"}

    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:

        def one(n: int) -> tuple[float, str]:
            started = time.perf_counter()
            r = client.post(
                "/v1/jobs",
                json={"prompt": PROMPT, "steps": 1, "seed": n},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            r.raise_for_status()
            return time.perf_counter() - started, r.json()["id"]

        began = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            answers = list(pool.map(one, range(jobs)))
        pending = {job_id for _, job_id in answers}
        states: dict[str, int] = {}
        while pending:
            page = client.get("/v1/jobs", params={"limit": 100}).json()["jobs"]
            cursor_pages = [page]
            while len(page) == 100:
                page = client.get(
                    "/v1/jobs", params={"limit": 100, "cursor": page[-1]["id"]}
                ).json()["jobs"]
                cursor_pages.append(page)
            for job in (j for p in cursor_pages for j in p):
                if job["state"] in ("succeeded", "failed", "canceled") and job["id"] in pending:
                    pending.discard(job["id"])
                    states[job["state"]] = states.get(job["state"], 0) + 1
            time.sleep(0.5)  # light polling: the API's CPU is the service's, not the watcher's
        elapsed = time.perf_counter() - began
    queue.put(([latency for latency, _ in answers], elapsed, states))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiprod-api-load-"))
    model, _ = save_tiny_pipeline(work / "model")
    postgres = Postgres()
    processes = []
    try:
        url = postgres.create_database()
        threads = max(1, (os.cpu_count() or 1) // args.workers)  # no oversubscribed cores
        serve = serve_config(model, work / "media", poll_seconds=0.02, worker_threads=threads)
        params = params_file(work, serve)
        api, base = start_api(params, url, work / "api.log")
        processes.append(api)
        for n in range(args.workers):
            log = (work / f"worker{n}.log").open("wb")
            worker = aiprod("worker", "--params", str(params), url=url, stdout=log, stderr=log)
            processes.append(worker)
        warm = httpx.get(f"{base}/readyz", timeout=120)  # loads the model's shape rules once
        assert warm.status_code == 200, warm.text
        time.sleep(8)  # the workers import torch and load the model
        token = new_key(url)
        spawn = multiprocessing.get_context("spawn")
        results = spawn.Queue()
        submitter = spawn.Process(
            target=submit_all, args=(base, token, args.jobs, args.concurrency, results)
        )
        submitter.start()
        latencies, elapsed, states = results.get(timeout=1800)
        submitter.join()
    finally:
        for process in processes:
            stop(process)
        postgres.stop()
    direct_dir = work / "direct"
    direct_dir.mkdir()
    direct = direct_jobs_per_second(model, args.jobs, direct_dir)
    served = args.jobs / elapsed
    cuts = statistics.quantiles(latencies, n=100)
    print(f"jobs: {args.jobs}, workers: {args.workers}, submit concurrency: {args.concurrency}")
    print(f"cores: {os.cpu_count()}, torch threads per worker: {threads}")
    print(f"final states: {states}")
    print(f"submit latency: p50 {cuts[49] * 1000:.1f} ms, p95 {cuts[94] * 1000:.1f} ms")
    print(f"served: {served:.2f} jobs/s ({elapsed:.1f} s, first submit to last job done)")
    print(f"baseline, in-process generation with no API/queue/db: {direct:.2f} jobs/s")
    print(f"ratio served / baseline: {served / direct:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
