"""A real ``mmrag serve`` (tiny CLIP, extractive answers, API key ``k1``) and a real headless
Chromium driven by Selenium, one of each for the session.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); the tests skip
when they are missing. Screenshots go to a temporary folder, or to ``UI_SCREENSHOTS``
(``UI_SCREENSHOTS=docs/img pytest tests/ui`` refreshes the ones in the docs).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
KEY = "k1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

SEED = [
    ("a red square on a white table", (220, 30, 30)),
    ("a blue circle in the evening sky", (30, 60, 220)),
    ("a green tree in a quiet park", (30, 160, 60)),
    ("a yellow taxi in the city", (240, 200, 20)),
    ("a purple flower in a glass vase", (140, 40, 160)),
    ("a black cat asleep on a sofa", (20, 20, 20)),
]


def picture(color: tuple[int, int, int], shape: str = "square") -> bytes:
    """A 96-px PNG: a coloured square or disc on white."""
    image = Image.new("RGB", (96, 96), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    box = (12, 12, 84, 84)
    (draw.ellipse if shape == "disc" else draw.rectangle)(box, fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def seed_name(text: str) -> str:
    return text.replace(" ", "-") + ".png"


@dataclass(frozen=True)
class Server:
    url: str
    key: str
    roots: Path | None = None
    """The server's ``MMRAG_INGEST__ROOTS`` folder (server paths)."""

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"X-API-Key": self.key}, timeout=30)

    def wait_for_jobs(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.get("/v1/ingest?limit=50").json()["jobs"]
            if all(job["state"] not in ("queued", "running") for job in jobs):
                return
            time.sleep(0.2)
        raise AssertionError("ingest jobs did not finish")

    def ingest_pdf(self, path: Path) -> None:
        """Upload the PDF at ``path`` through ``POST /v1/ingest`` and wait for its job."""
        response = httpx.post(
            self.url + "/v1/ingest",
            files=[("files", (path.name, path.read_bytes(), "application/pdf"))],
            headers={"X-API-Key": self.key},
            timeout=60,
        )
        assert response.status_code == 202, response.text
        self.wait_for_jobs(timeout=120)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMRAG_")}
    env.update(
        MMRAG_DATA_DIR=str(tmp / "data"),
        MMRAG_CLIP__MODEL="mmrag-tiny",
        MMRAG_CLIP__PRETRAINED="",
        MMRAG_CLIP__CACHE_DIR=str(tmp / "models"),
        MMRAG_CLIP__THREADS="1",
        MMRAG_RERANK__MODEL="none",
        MMRAG_LLM__BACKEND="extractive",
        MMRAG_LOG_LEVEL="WARNING",
        MMRAG_API_KEYS=KEY,
        MMRAG_INGEST__ROOTS=str(tmp / "roots"),
        PYTHONPATH=str(ROOT),
    )
    return env


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"mmrag serve did not come up:\n{log.read_text()}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


def _seed(server: Server) -> None:
    items = [
        {
            "image": base64.b64encode(picture(color)).decode(),
            "text": text,
            "filename": seed_name(text),
            "metadata": {"colour": text.split()[1]},
        }
        for text, color in SEED
    ]
    response = httpx.post(
        server.url + "/v1/ingest", json={"items": items}, headers={"X-API-Key": server.key}
    )
    assert response.status_code == 202, response.text
    server.wait_for_jobs()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mmrag serve`` on a free loopback port with the seed items ingested."""
    tmp = tmp_path_factory.mktemp("ui-server")
    (tmp / "roots").mkdir()
    port = _free_port()
    args = [sys.executable, "-m", "mmrag_cli.main", "serve", "--host", "127.0.0.1"]
    log = tmp / "serve.log"
    with log.open("wb") as output:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(
            [*args, "--port", str(port)], env=_env(tmp), cwd=tmp, stdout=output, stderr=output
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        running = Server(url, KEY, (tmp / "roots").resolve())
        _seed(running)
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium (Debian's) through chromedriver, with the console log kept."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install, see .ci/run)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots of this run go."""
    wanted = os.environ.get("UI_SCREENSHOTS")
    folder = ROOT / wanted if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
