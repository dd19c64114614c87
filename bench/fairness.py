"""Fairness across tenants: one tenant's big backlog must not starve another's single upload.

Tenant ``small`` uploads one PDF and waits for it (upload → succeeded), first on an idle
server, then while tenant ``big`` has a backlog of one-page PDFs queued ahead of it (sent in
batches before each measurement). Reports the median of each and their ratio (target ≤ 2).

    .venv/bin/python -m bench.fairness [--backlog 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
from tests.samples import report_pdf, text_pdf

from bench.harness import DATA_DIRS, median, server, wait_done
from pdfq.store import Database
from pdfq.store import keys as key_repo
from pdfq.store.jobs import count_queued

BATCH = 200


async def single(url: str, token: str, data: bytes) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers) as session:
        form = aiohttp.FormData()
        form.add_field("dedupe", "false")
        form.add_field("file", data, filename="small.pdf", content_type="application/pdf")
        started = time.perf_counter()
        async with session.post("/v1/jobs", data=form) as response:
            job = await response.json()
        await wait_done(session, job["id"])
        return time.perf_counter() - started


async def backlog(url: str, token: str, documents: list[bytes]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers) as session:
        for start in range(0, len(documents), BATCH):
            form = aiohttp.FormData()
            form.add_field("dedupe", "false")
            for n, data in enumerate(documents[start : start + BATCH]):
                form.add_field("file", data, filename=f"{n}.pdf", content_type="application/pdf")
            async with session.post("/v1/batches", data=form) as response:
                if response.status != 202:
                    raise RuntimeError(await response.text())


def queued(url: str, tenant: str) -> int:
    db = Database(f"sqlite:///{DATA_DIRS[url] / 'pdfq.db'}")
    try:
        return count_queued(db, tenant=tenant)
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    small_doc = report_pdf(pages=1, title="Small")
    documents = [text_pdf(pages=1, words_per_page=20 + n % 50) for n in range(args.backlog)]
    env = {"PDFQ_MAX_BATCH_FILES": str(BATCH), "PDFQ_MAX_QUEUED_JOBS": "1000000"}
    with server(**env) as (url, _process):
        db = Database(f"sqlite:///{DATA_DIRS[url] / 'pdfq.db'}")
        tokens = {
            t: key_repo.create_key(db, tenant=t, scopes=frozenset({"submit", "read"}))[1]
            for t in ("big", "small")
        }
        db.dispose()
        time.sleep(2.5)  # the server notices keys within two seconds
        for _ in range(3):  # warm up: worker processes start, pages get cached
            asyncio.run(single(url, tokens["small"], small_doc))
        idle = [asyncio.run(single(url, tokens["small"], small_doc)) for _ in range(args.rounds)]
        loaded = []
        waiting = []
        for _ in range(args.rounds):
            asyncio.run(backlog(url, tokens["big"], documents))
            waiting.append(queued(url, "big"))
            loaded.append(asyncio.run(single(url, tokens["small"], small_doc)))
    ratio = median(loaded) / median(idle)
    ms = [f"{x * 1000:.1f}" for x in idle], [f"{x * 1000:.1f}" for x in loaded]
    print(f"backlog added per round: {args.backlog} one-page PDFs of tenant 'big'")
    print(f"queued jobs of 'big' when each upload was made: {waiting}")
    print(f"idle   upload->succeeded: median {median(idle) * 1000:.1f} ms  {ms[0]}")
    print(f"loaded upload->succeeded: median {median(loaded) * 1000:.1f} ms  {ms[1]}")
    print(f"ratio loaded / idle: {ratio:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
