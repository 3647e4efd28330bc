"""How fast the demo pages start and answer: bench/report.py's `demo` section.

For mnist, imdb and camvid: a smoke run trains the default recipe's model (its size, not its
skill: latency depends on the first only), then

- start: `python demo.py ckpt=...` as a fresh process, from its start until the page answers an
  HTTP request, `rounds` times;
- answer: one prediction through the running server, as a browser's request travels (Gradio's
  queue, the upload, pre- and post-processing), sent with gradio_client, 10 requests after one
  untimed, median;
- in-process: the same prediction called in the page's own process's code, without the server
  (the peer the answer is compared with).

Inputs: a 400x400 drawing of a digit, a review of 230 words (the median IMDB review's length), a
480x360 street photo (CamVid's size).
"""

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from common import compose_train, render
from PIL import Image, ImageDraw

CAPSTONES = ("mnist", "imdb", "camvid")
REQUESTS = 10
# The default recipe's model size, where the smoke config shrinks it: (settings of train.yaml to keep).
DEFAULT_SIZE = {
    "mnist": [],
    "imdb": ["model.bag.buckets", "model.naive_bayes.buckets", "data.vocab_size"],
    "camvid": ["model.width", "model.depth", "data.size"],
}
REVIEW = " ".join(
    ["The story moves slowly at first, but the two leads are wonderful and the score is lovely."] * 14
    + ["Only the ending, rushed and predictable, lets it down; still, I recommend it warmly."] * 2
)
IN_PROCESS = {
    "mnist": """
from PIL import Image
from {package}.prediction import DigitReader, as_mnist_digit
reader = DigitReader("{ckpt}", "cpu")
picture = Image.open("{input}")
def answer():
    reader(as_mnist_digit(picture))
""",
    "imdb": """
from {package}.explain import explain_review
from {package}.predict import SentimentClassifier
classify = SentimentClassifier("{ckpt}", "cpu")
text = open("{input}").read()
def answer():
    explain_review(classify, text)
""",
    "camvid": """
import numpy as np, torch
from {package}.classes import overlay
from {package}.prediction import Segmenter, class_shares, open_photo
segment = Segmenter("{ckpt}", "cpu")
def answer():
    photo = open_photo("{input}")
    classes = segment(photo)
    overlay(torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1), classes)
    class_shares(classes)
""",
}
TIME_IN_PROCESS = """
import statistics, time
answer()
seconds = []
for _ in range({requests}):
    started = time.perf_counter()
    answer()
    seconds.append(time.perf_counter() - started)
print(statistics.median(seconds))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def demo_server(repo: Path, ckpt: Path):
    """A running demo.py of `ckpt`; (its URL, the seconds it took to answer its first request)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(repo / "src"), "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "demo.py", f"ckpt={ckpt}", f"port={port}", "device=cpu"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"demo.py in {repo} did not start") from None
                time.sleep(0.05)
        yield url, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def make_input(capstone: str, folder: Path) -> Path:
    if capstone == "mnist":
        canvas = Image.new("L", (400, 400), 255)
        ImageDraw.Draw(canvas).line([(120, 80), (280, 80), (170, 330)], fill=0, width=28)
        path = folder / "seven.png"
        canvas.save(path)
    elif capstone == "imdb":
        path = folder / "review.txt"
        path.write_text(REVIEW)
    else:
        rng = np.random.default_rng(0)
        path = folder / "street.png"
        Image.fromarray(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(path)
    return path


def through_the_server(url: str, capstone: str, given: Path) -> float:
    """Median seconds of one prediction requested through the running page."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    argument = given.read_text() if capstone == "imdb" else handle_file(str(given))
    client.predict(argument, api_name="/read")  # untimed: the first request warms every cache
    seconds = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.predict(argument, api_name="/read")
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def measure(work: Path, rounds: int) -> dict[str, dict[str, float]]:
    figures = {}
    for capstone in CAPSTONES:
        repo = render(work / f"demo-{capstone}", capstone)
        package = next(path.parent.name for path in (repo / "src").glob("*/__init__.py"))
        defaults = compose_train(repo, [])
        keep = [f"{key}={override_value(defaults, key)}" for key in DEFAULT_SIZE[capstone]]
        env = {**os.environ, "PYTHONPATH": str(repo / "src")}
        trained = subprocess.run(
            [sys.executable, "train.py", "debug=smoke", *keep], cwd=repo, env=env, capture_output=True, text=True
        )
        assert trained.returncode == 0, trained.stderr[-2000:]
        ckpt = Path(trained.stdout.split("ckpt=")[-1].split()[0])
        given = make_input(capstone, work)

        starts = []
        for _ in range(rounds):
            with demo_server(repo, ckpt) as (url, seconds):
                starts.append(seconds)
        with demo_server(repo, ckpt) as (url, _):
            served = through_the_server(url, capstone, given)
        code = IN_PROCESS[capstone].format(package=package, ckpt=ckpt, input=given)
        code += TIME_IN_PROCESS.format(requests=REQUESTS)
        alone = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True)
        assert alone.returncode == 0, alone.stderr[-2000:]
        figures[capstone] = {
            "start": statistics.median(starts),
            "start_range": (min(starts), max(starts)),
            "served": served,
            "alone": float(alone.stdout.split()[-1]),
        }
        print(f"  demo {capstone}: {figures[capstone]}", flush=True)
    return figures


def override_value(cfg, key: str) -> str:
    """A setting of `cfg` written as a command-line override's value (a list as [a,b])."""
    value = cfg
    for part in key.split("."):
        value = value[part]
    return f"[{','.join(map(str, value))}]" if hasattr(value, "__len__") and not isinstance(value, str) else str(value)
