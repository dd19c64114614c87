"""OCR throughput and quality on the scanned test set (tests/scans.py).

Throughput: the whole service (HTTP upload, queue, worker pool, rendering, OCR, results)
against a raw loop calling the same Tesseract engine on the same pages, already rendered by
the same function, in as many processes as the service has workers, each taking the next
page from a shared counter (the baseline at its best: no rendering, no idle tail). Both sides
alternate over several rounds on the same documents; the median of the per-round ratios is
reported.

Quality: the service's text scored against the ground truth (character error rate, whitespace
runs counted as one space), per scan resolution. Then RapidOCR (pages/s in one process, CER
with and without spaces) beside Tesseract on the same pages, and Tesseract's CER on the same
pages scanned with and without skew (does deskewing have anything to win?).

    .venv/bin/python -m bench.ocr [--docs 8] [--pages 5] [--rounds 3] [--chunk-pages 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time
from threading import Barrier
from typing import Any

import aiohttp
import pypdfium2 as pdfium
from PIL import Image
from tests import scans

from bench.harness import BENCH_DATA, median, run_clients, server, submit, wait_done
from pdfq.config import Settings
from pdfq.extract.ocr import OcrChain
from pdfq.extract.ocr.tesseract import find_tessdata
from pdfq.extract.render import render_page

DPI = 300  # the service's default rendering resolution
MAX_PIXELS = Settings().ocr_max_pixels


def build_set(docs: int, pages: int) -> list[scans.ScannedDoc]:
    """Half the documents scanned at 300 dpi, half at 150 dpi (cached between runs)."""
    folder = BENCH_DATA / "ocr-set"
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for i in range(docs):
        dpi = 300 if i % 2 == 0 else 150
        path = folder / f"{i}-{pages}-{dpi}.json"
        if not path.exists():
            doc = scans.compose([dpi] * pages, seed=1000 + i * pages)
            path.write_text(json.dumps({"pdf": doc.pdf.hex(), "truths": doc.truths, "dpi": dpi}))
        data = json.loads(path.read_text())
        found.append(
            scans.ScannedDoc(
                bytes.fromhex(data["pdf"]), tuple(data["truths"]), (data["dpi"],) * pages
            )
        )
    return found


def render_all(documents: list[bytes]) -> list[Image.Image]:
    images = []
    for data in documents:
        pdf = pdfium.PdfDocument(data)
        try:
            images += [
                render_page(pdf, n, dpi=DPI, max_pixels=MAX_PIXELS) for n in range(1, len(pdf) + 1)
            ]
        finally:
            pdf.close()
    return images


# --- the raw loop: one Tesseract engine per process, pages rendered beforehand ----------------

_state: dict[str, Any] = {}


def _init(barrier: Barrier, counter: Any) -> None:
    import tesserocr

    _state["barrier"] = barrier
    _state["counter"] = counter
    _state["engine"] = tesserocr.PyTessBaseAPI(path=f"{find_tessdata()}/", lang="eng")


def _prepare(documents: list[bytes]) -> None:
    _state["images"] = render_all(documents)  # every process holds every page
    _state["barrier"].wait()


def _take() -> int:
    counter = _state["counter"]
    with counter.get_lock():
        index = int(counter.value)
        counter.value += 1
    return index


def _read(_: int) -> int:
    """Read pages until none is left, taking the next one from a shared counter (the same
    dynamic balancing the service gets from its queue)."""
    engine = _state["engine"]
    images = _state["images"]
    _state["barrier"].wait()  # the processes start together
    done = 0
    while (index := _take()) < len(images):
        image = images[index]
        engine.SetImage(image)
        engine.SetSourceResolution(image.info["dpi"][0])
        engine.GetUTF8Text()
        done += 1
    return done


class RawLoop:
    def __init__(self, documents: list[bytes], processes: int) -> None:
        context = multiprocessing.get_context("forkserver")
        self.processes = processes
        self.counter = context.Value("i", 0)
        self.barrier = context.Manager().Barrier(processes)
        self.pool = context.Pool(
            processes, initializer=_init, initargs=(self.barrier, self.counter)
        )
        self.pool.map(_prepare, [documents] * processes, chunksize=1)

    def pages_per_second(self) -> float:
        self.counter.value = 0
        started = time.perf_counter()
        done = sum(self.pool.map(_read, range(self.processes), chunksize=1))
        return done / (time.perf_counter() - started)

    def close(self) -> None:
        self.pool.terminate()


# --- the service ------------------------------------------------------------------------------


async def service_run(url: str, documents: list[bytes]) -> tuple[float, list[dict[str, Any]]]:
    """Pages/s through the service, and each document's result JSON."""
    found: list[dict[str, Any]] = [{} for _ in documents]

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        job = await wait_done(session, (await submit(session, documents[i]))["id"])
        if job["status"] != "succeeded":
            raise RuntimeError(f"job failed: {job}")
        async with session.get(f"/v1/jobs/{job['id']}/result") as response:
            found[i] = await response.json()

    started = time.perf_counter()
    await run_clients(len(documents), len(documents), one, url)
    elapsed = time.perf_counter() - started
    pages = sum(len(r["pages"]) for r in found)
    return pages / elapsed, found


def cer_report(label: str, pairs: list[tuple[str, str]]) -> str:
    errors = [scans.cer(truth, text) for truth, text in pairs]
    return (
        f"{label}: mean CER {statistics.mean(errors):.2%}, max {max(errors):.2%} "
        f"over {len(errors)} pages"
    )


def engines_side_by_side(pages: list[tuple[Image.Image, str]]) -> None:
    """Tesseract and RapidOCR through the provider chain, one process, the same pages."""
    for name in ("tesseract", "rapidocr"):
        chain = OcrChain(Settings(ocr_providers=name))
        chain.recognize([pages[0][0]], "eng")  # load the engine outside the timing
        started = time.perf_counter()
        answers = [chain.recognize([image], "eng")[0] for image, _ in pages]
        rate = len(pages) / (time.perf_counter() - started)
        with_spaces = [
            scans.cer(truth, a.text) for (_, truth), a in zip(pages, answers, strict=True)
        ]
        letters = [
            scans.cer(truth, a.text, spaces=False)
            for (_, truth), a in zip(pages, answers, strict=True)
        ]
        cer, cer_letters = statistics.mean(with_spaces), statistics.mean(letters)
        print(
            f"  {name:9}: {rate:.2f} pages/s in one process, mean CER {cer:.2%} "
            f"(ignoring spaces {cer_letters:.2%}) over {len(pages)} pages"
        )


def skew_effect(count: int) -> None:
    """The same pages scanned with and without skew, read by Tesseract."""
    chain = OcrChain(Settings(ocr_providers="tesseract"))
    for dpi in (300, 150):
        line = []
        for skew in (1.5, 0.0):
            doc = scans.compose([dpi] * count, seed=5000, skew=skew)
            images = render_all([doc.pdf])
            answers = chain.recognize(images, "eng")
            errors = [scans.cer(t, a.text) for t, a in zip(doc.truths, answers, strict=True)]
            line.append(f"skew up to {skew}°: {statistics.mean(errors):.2%}")
        print(f"  {dpi} dpi: " + ", ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=8, help="documents per round")
    parser.add_argument("--pages", type=int, default=5, help="pages per document")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-pages", type=int, default=Settings().ocr_chunk_pages)
    parser.add_argument("--side-by-side-pages", type=int, default=6)
    args = parser.parse_args()
    workers = len(os.sched_getaffinity(0))
    started = time.perf_counter()
    dataset = build_set(args.docs, args.pages)
    documents = [d.pdf for d in dataset]
    built = time.perf_counter() - started
    print(f"test set: {len(documents)} documents x {args.pages} pages ({built:.0f} s to build)")

    raw = RawLoop(documents, workers)
    ratios = []
    results: list[dict[str, Any]] = []
    env = {"PDFQ_WORKERS": str(workers), "PDFQ_OCR_CHUNK_PAGES": str(args.chunk_pages)}
    try:
        with server(**env) as (url, _process):
            asyncio.run(service_run(url, documents[:2]))  # warm the workers' engines
            for run in range(args.rounds):
                raw_rate = raw.pages_per_second()
                service_rate, results = asyncio.run(service_run(url, documents))
                ratios.append(service_rate / raw_rate)
                print(
                    f"round {run + 1}: raw Tesseract loop {raw_rate:.2f} pages/s, service "
                    f"{service_rate:.2f} pages/s, ratio {service_rate / raw_rate:.2f}"
                )
    finally:
        raw.close()
    print(
        f"median ratio over {args.rounds} rounds: {median(ratios):.2f} ({workers} processes each "
        f"side, PDFQ_OCR_CHUNK_PAGES={args.chunk_pages})"
    )

    by_dpi: dict[int, list[tuple[str, str]]] = {300: [], 150: []}
    for doc, result in zip(dataset, results, strict=True):
        assert all(p["method"] == "ocr" for p in result["pages"])
        for truth, page in zip(doc.truths, result["pages"], strict=True):
            by_dpi[doc.dpis[0] or 0].append((truth, page["text"]))
    for dpi, pairs in by_dpi.items():
        print(cer_report(f"service, scanned at {dpi} dpi", pairs))

    count = args.side_by_side_pages
    if not count:
        return
    sample = scans.compose([300] * (count // 2) + [150] * (count - count // 2), seed=9000)
    print(f"engines side by side ({count} pages, half at 300 dpi, half at 150 dpi):")
    engines_side_by_side(list(zip(render_all([sample.pdf]), sample.truths, strict=True)))
    print("deskewing: Tesseract's CER on the same pages scanned with and without skew")
    skew_effect(4)


if __name__ == "__main__":
    main()
