"""Web page benchmark: bytes of the first load, and time from pressing Search to the first
thumbnail painted, in headless Chromium against a real ``mmrag serve``.

1. First load: every response the browser received for ``/`` with an empty cache (the page's
   HTML, CSS and ES modules, then the API calls it makes at start), from the Resource Timing
   API's ``transferSize`` (headers + body). Budget: assets <= 200 KB.
2. Search: ``--items`` points (default 10k; random unit vectors for the tiny CLIP's 32
   dimensions, each with its own 64-px PNG on disk) in embedded Qdrant Edge, no reranker.
   ``--searches`` text queries (default 20) typed into the page and submitted; the page records
   the time from the submit to the frame after the first thumbnail loaded. Baseline, same run and
   same queries: ``POST /v1/search`` from Python (the API alone, no browser). Each search starts
   once every thumbnail of the previous one has loaded.

    python -m bench.ui                  # 10k items, 20 searches
    python -m bench.ui --quick          # 2k items, 10 searches
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from rag import identity
from rag import payload as keys
from rag.config import Settings
from rag.services import Services
from rag.store.base import PointRecord

ROOT = Path(__file__).resolve().parents[1]
BUDGET_KB = 200
BATCH = 500
WORDS = ["red", "blue", "green", "cat", "dog", "tree", "car", "sky", "small", "large", "old"]


def env(data_dir: Path, model_dir: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("MMRAG_")}
    values.update(
        MMRAG_DATA_DIR=str(data_dir),
        MMRAG_CLIP__MODEL="mmrag-tiny",
        MMRAG_CLIP__PRETRAINED="",
        MMRAG_CLIP__CACHE_DIR=str(model_dir),
        MMRAG_RERANK__MODEL="none",
        MMRAG_LLM__BACKEND="extractive",
        MMRAG_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return values


def png(rng: np.random.Generator) -> bytes:
    colour = tuple(int(c) for c in rng.integers(0, 255, 3))
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")  # type: ignore[arg-type]
    return buffer.getvalue()


def fill(data_dir: Path, model_dir: Path, size: int) -> None:
    """Write ``size`` items with a picture each straight into the store (no embedding)."""
    for name, value in env(data_dir, model_dir).items():
        if name.startswith("MMRAG_"):
            os.environ[name] = value
    from rag.config import load_settings

    settings: Settings = load_settings()
    services = Services(settings)
    store, dim = services.store, services.embedder.dim
    pictures = data_dir / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    now = datetime.datetime.now(datetime.UTC).isoformat()
    for first in range(0, size, BATCH):
        points = []
        for i in range(first, min(first + BATCH, size)):
            vectors = rng.standard_normal((2, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            path = pictures / f"{i}.png"
            path.write_bytes(png(rng))
            text = " ".join(rng.choice(WORDS, 5))
            key = identity.item_key(str(i), "")
            payload = {
                keys.TEXT: text,
                keys.SOURCE: f"bench/{i}.png",
                keys.EXTERNAL_ID: str(i),
                keys.ITEM_KEY: key,
                keys.CONTENT_HASH: str(i),
                keys.IMAGE_PATH: str(path),
                keys.MIME: "image/png",
                keys.WIDTH: 64,
                keys.HEIGHT: 64,
                keys.HAS_IMAGE: True,
                keys.HAS_TEXT: True,
                keys.METADATA: {},
                keys.INGESTED_AT: now,
            }
            points.append(
                PointRecord(
                    identity.point_id(store.collection, key),
                    {"image": vectors[0], "text": vectors[1]},
                    payload,
                )
            )
        store.upsert(points)
    store.flush()
    services.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(data_dir: Path, model_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [sys.executable, "-m", "mmrag_cli.main", "serve", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*args, "--port", str(port)],
        env=env(data_dir, model_dir),
        cwd=data_dir.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("mmrag serve exited early")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("mmrag serve did not come up")


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options
    )
    driver.set_script_timeout(60)
    return driver


def wait(driver: Any, script: str, *args: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}", *args)
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(script)


def first_load(driver: Any, url: str) -> tuple[int, int, list[tuple[str, int]]]:
    """Bytes transferred for the page's assets and for its API calls on an empty cache."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get(url + "/")
    wait(driver, "document.body.dataset.ready === '1'")
    time.sleep(0.3)
    entries = driver.execute_script(
        """const nav = performance.getEntriesByType('navigation')[0];
        return [[nav.name, nav.transferSize],
                ...performance.getEntriesByType('resource').map(e => [e.name, e.transferSize])];"""
    )
    rows = [(name.replace(url, ""), int(size)) for name, size in entries]
    assets = sum(size for name, size in rows if not name.startswith(("/v1/", "/ui/config")))
    return assets, sum(size for _, size in rows) - assets, rows


SPLIT = """const entries = performance.getEntriesByType('resource');
const search = entries.find((e) => e.name.endsWith('/v1/search'));
const src = document.querySelector('#results .card img.thumb').src;
const image = entries.find((e) => e.name === src);
return [search.responseEnd - search.startTime, image ? image.responseEnd - image.startTime : 0];"""


def page_searches(driver: Any, queries: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Milliseconds from submit to the first thumbnail painted, as the page measured them; and
    of the search call and of the first picture's request, from Resource Timing."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "q")
    button = driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]")
    driver.execute_script("document.querySelector('#rerank').value = 'false'")
    calls, pictures = [], []
    for n, query in enumerate(queries, start=1):
        box.clear()
        box.send_keys(query)
        driver.execute_script("performance.clearResourceTimings()")
        button.click()
        wait(driver, "window.mmragTimings.firstThumb.length >= arguments[0]", n)
        call, picture = driver.execute_script(SPLIT)
        calls.append(float(call))
        pictures.append(float(picture))
        # as a person would: look at the whole page of hits before the next search
        wait(driver, "[...document.querySelectorAll('#results img')].every((i) => i.complete)")
        time.sleep(0.2)
    painted = [float(ms) for ms in driver.execute_script("return window.mmragTimings.firstThumb")]
    return painted, calls, pictures


FETCH_ONLY = """const [queries, done] = arguments;
(async () => {
  const spent = [];
  for (const text of queries) {
    const began = performance.now();
    const body = JSON.stringify({text, top_k: 12, rerank: false});
    const headers = {'Content-Type': 'application/json'};
    await (await fetch('/v1/search', {method: 'POST', headers, body})).json();
    spent.push(performance.now() - began);
  }
  done(spent);
})();"""


def fetch_searches(driver: Any, queries: list[str]) -> list[float]:
    """Milliseconds of the same search from the page's JavaScript, with nothing drawn."""
    return [float(ms) for ms in driver.execute_async_script(FETCH_ONLY, queries)]


def api_searches(url: str, queries: list[str]) -> list[float]:
    """Milliseconds of ``POST /v1/search`` alone (the baseline), same queries."""
    spent = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for query in queries:
            began = time.perf_counter()
            body = {"text": query, "top_k": 12, "rerank": False}
            response = client.post("/v1/search", json=body)
            response.raise_for_status()
            spent.append((time.perf_counter() - began) * 1000)
    return spent


def p(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2k items, 10 searches")
    args = parser.parse_args()
    items, searches = (2000, 10) if args.quick else (args.items, args.searches)
    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(WORDS, 3)) + f" {n}" for n in range(searches)]
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        data_dir, model_dir = Path(tmp) / "data", Path(tmp) / "models"
        began = time.perf_counter()
        fill(data_dir, model_dir, items)
        print(f"{items} items written in {time.perf_counter() - began:.1f} s")
        process, url = serve(data_dir, model_dir)
        driver = browser()
        try:
            assets, api_bytes, rows = first_load(driver, url)
            for name, size in rows:
                print(f"  {size:>8} B  {name}")
            verdict = "within" if assets <= BUDGET_KB * 1024 else "OVER"
            print(
                f"first load of /: assets {assets / 1024:.1f} KB ({verdict} the {BUDGET_KB} KB"
                f" budget), API calls at start {api_bytes / 1024:.1f} KB"
            )
            api_searches(url, queries[:3])  # warm the server
            page, calls, pictures = page_searches(driver, queries)
            fetched = fetch_searches(driver, queries)
            api = api_searches(url, queries)
        finally:
            driver.quit()
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    print(
        f"press Search -> first thumbnail painted, {items} items, no rerank, {searches} searches:"
        f" p50 {statistics.median(page):.0f} ms, p95 {p(page, 95):.0f} ms"
    )
    print(
        f"  of which, in the browser: the search call p50 {statistics.median(calls):.0f} ms,"
        f" the first picture's request p50 {statistics.median(pictures):.0f} ms"
    )
    print(
        f"the same search by fetch() from the page, nothing drawn: p50"
        f" {statistics.median(fetched):.0f} ms"
    )
    print(
        f"baseline POST /v1/search alone (same queries): p50 {statistics.median(api):.0f} ms,"
        f" p95 {p(api, 95):.0f} ms; page / API p50 ratio"
        f" {statistics.median(page) / statistics.median(api):.2f}"
    )
    return 0 if assets <= BUDGET_KB * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
