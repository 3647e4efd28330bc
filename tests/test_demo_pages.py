"""Each capstone's demo page, served from a smoke checkpoint and used in a real browser.

demo.py serves the page on 127.0.0.1 (camvid's from the Hugging Face Space folder demo.py writes);
Debian's Chromium, headless, with its chromedriver (.ci/run installs both, nothing is downloaded),
draws, uploads, types and clicks as a visitor would. The rendered repo's own tests check what the
pages compute; these check that a visitor gets it, and that a mistake is a sentence on the page
while the server lives on. A screenshot of each page is kept in tests/screenshots/.
"""

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import python_env, run_in_one_process

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).parent / "screenshots"
WAIT = 60  # seconds for a page to answer: generous, for a loaded 2-core machine

pytestmark = pytest.mark.slow


@pytest.fixture
def browser():
    """A fresh headless Chromium per test, closed after it: an idle one still uses a tenth of a core."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def smoke_checkpoints(repo: Path, *runs: list[str]) -> list[Path]:
    """Train repo's smoke run once per list of overrides, in one process; the path of each best checkpoint."""
    ran = run_in_one_process([["train.py", "debug=smoke", *overrides] for overrides in runs], repo, python_env(repo))
    for status, output in ran:
        assert status == 0, output[-3000:]
    return [Path(re.search(r"Next: python evaluate.py ckpt=(\S+)", output).group(1)) for _, output in ran]


def smoke_checkpoint(repo: Path) -> Path:
    (checkpoint,) = smoke_checkpoints(repo, [])
    return checkpoint


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(command: list[str], cwd: Path, repo: Path):
    """Run a demo server command on a free port of 127.0.0.1; its URL once it answers."""
    port = free_port()
    env = {**python_env(repo), "GRADIO_SERVER_PORT": str(port)}  # app.py takes its port from there
    log = cwd / f"demo-{port}.log"
    with log.open("w") as output:
        server = subprocess.Popen([sys.executable, *command], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"no page at {url} after {WAIT} s:\n{log.read_text()}"
                time.sleep(0.3)
        yield url
        assert server.poll() is None, log.read_text()  # alive after everything the test did
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for(browser, condition, what: str):
    try:
        return WebDriverWait(browser, WAIT).until(condition, message=f"the page never showed {what}")
    except TimeoutException:
        screenshot(browser, "failed")  # what the page showed instead
        raise


def page_text(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def text_of(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def shows(browser, words: str) -> None:
    """Wait until the page shows `words` (a result, or a message in a notice)."""
    wait_for(browser, lambda b: words in page_text(b), repr(words))


def screenshot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    time.sleep(0.5)  # let the last answer's fade-in end
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_mnist_a_drawn_digit_is_read_and_a_file_that_is_no_picture_is_a_sentence(rendered, tmp_path, browser):
    repo = shutil.copytree(rendered("mnist"), tmp_path / "repo")
    ckpt = smoke_checkpoint(repo)
    with serving(["demo.py", f"ckpt={ckpt}"], repo, repo) as url:
        browser.get(url)
        canvas = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#canvas canvas"), "the canvas")
        wait_for(browser, lambda b: re.search(r"\d+%", text_of(b, "answer")), "the example drawing's answer")
        browser.find_element(By.CSS_SELECTOR, "#canvas button[aria-label='Clear canvas']").click()
        wait_for(browser, lambda b: not re.search(r"\d+%", text_of(b, "answer")), "a cleared answer")
        browser.find_element(By.CSS_SELECTOR, "#canvas button[aria-label='Brush']").click()
        width, height = canvas.size["width"], canvas.size["height"]
        ActionChains(browser).move_to_element_with_offset(
            canvas, -width // 8, -height // 4
        ).click_and_hold().move_by_offset(width // 4, 0).move_by_offset(
            -width // 6, height // 2
        ).release().perform()  # a "7"
        wait_for(browser, lambda b: re.search(r"\d+%", text_of(b, "answer")), "the probabilities")
        assert browser.find_elements(By.CSS_SELECTOR, "#seen img"), "the 28x28 input the model saw"
        assert "Checkpoint" in page_text(browser) and ckpt.name in page_text(browser)
        screenshot(browser, "mnist")

        browser.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Upload')]").click()
        (tmp_path / "notes.png").write_text("not a picture")
        upload = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#upload input[type=file]"), "the upload")
        upload.send_keys(str(tmp_path / "notes.png"))
        shows(browser, "That file is not a picture")


def test_imdb_a_review_is_explained_word_by_word_and_empty_or_huge_ones_get_a_message(rendered, tmp_path, browser):
    repo = shutil.copytree(rendered("imdb"), tmp_path / "repo")
    ckpt = smoke_checkpoint(repo)
    with serving(["demo.py", f"ckpt={ckpt}"], repo, repo) as url:
        browser.get(url)
        review = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#review textarea"), "the review box")
        wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#words span[title]"), "the example's answer")
        review.clear()
        review.send_keys("A great film with a wonderful cast, though the ending was dull.")
        browser.find_element(By.ID, "read").click()
        wait_for(browser, lambda b: re.search(r"(positive|negative)\s+\d+%", text_of(b, "answer")), "the sentiment")
        words = "#words span[title]"  # every word, with its push
        wait_for(
            browser,
            lambda b: [w.text for w in b.find_elements(By.CSS_SELECTOR, words)][:3] == ["A", "great", "film"],
            "the words",
        )
        assert "Towards positive" in text_of(browser, "pushes")
        screenshot(browser, "imdb")

        review.clear()
        browser.execute_script(  # a megabyte pasted: more than the box takes from a keyboard
            "const box = arguments[0]; box.value = 'great '.repeat(200000);"
            "box.dispatchEvent(new Event('input', {bubbles: true}));",
            review,
        )
        browser.find_element(By.ID, "read").click()
        shows(browser, "The review was cut to its first 20,000 characters.")
        browser.execute_script("arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input'));", review)
        browser.find_element(By.ID, "read").click()
        shows(browser, "Type or paste a review first.")

    # screenshot=: the page as it first shows, with its example's answer, for the README's results section.
    command = [sys.executable, "demo.py", f"ckpt={ckpt}", "screenshot=results/demo.png", f"port={free_port()}"]
    result = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    with Image.open(repo / "results/demo.png") as picture:
        assert picture.format == "PNG" and picture.width == 1280


def test_camvid_a_space_folder_serves_the_page_and_an_example_photo_is_segmented(rendered, tmp_path, browser):
    repo = shutil.copytree(rendered("camvid"), tmp_path / "repo")
    ckpt = smoke_checkpoint(repo)
    result = subprocess.run(
        [sys.executable, "demo.py", f"ckpt={ckpt}", f"space={tmp_path / 'space'}"],
        cwd=repo,
        env=python_env(repo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    space = tmp_path / "space"
    assert len(list((space / "examples").iterdir())) == 3  # validation photos, for a visitor to pick
    with serving(["app.py"], space, repo) as url:
        browser.get(url)
        wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".gallery-item, button.gallery-item"), "examples")
        browser.find_elements(By.CSS_SELECTOR, ".gallery-item")[0].click()
        wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#classes img"), "the classes of the photo")
        wait_for(browser, lambda b: re.search(r"\d+%", text_of(b, "key")), "the share of each class")
        screenshot(browser, "camvid")

        huge = tmp_path / "huge.png"
        Image.new("1", (8000, 7000)).save(huge)
        browser.find_element(By.CSS_SELECTOR, "#photo button[aria-label='Remove Image']").click()
        browser.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(huge))
        shows(browser, "has 56 megapixels; pass a photo of at most 50")


def test_rl_an_episode_is_watched_and_a_game_of_connect_four_is_played(rendered, tmp_path, browser):
    repo = shutil.copytree(rendered("rl"), tmp_path / "repo")
    # A smoke run on CartPole, and AlphaZero's Connect Four recipe searching 16 simulations a move: a few games.
    quick = ["algo.num_games=16", "algo.simulations=8", "algo.play_simulations=16"]
    cartpole, connect_four = smoke_checkpoints(repo, [], ["experiment=connect_four", *quick])
    with serving(["demo.py", f"ckpt={cartpole}"], repo, repo) as url:
        browser.get(url)
        wait_for(browser, lambda b: b.find_element(By.ID, "play"), "the play button").click()
        wait_for(browser, lambda b: "Return" in text_of(b, "result"), "the episode's return")
        assert browser.find_elements(By.CSS_SELECTOR, "#episode img")
        screenshot(browser, "rl-cartpole")

    # Another capstone's checkpoint: one sentence, and no server.
    torch.save({"capstone": "mnist", "model": {}}, tmp_path / "digits.pt")
    command = [sys.executable, "demo.py", f"ckpt={tmp_path / 'digits.pt'}", f"port={free_port()}"]
    refused = subprocess.run(command, cwd=repo, env=python_env(repo), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert (
        refused.stderr.strip()
        == f"Error: {tmp_path / 'digits.pt'} was trained for the mnist capstone, not rl; pass one of this project."
    )

    with serving(["demo.py", f"ckpt={connect_four}"], repo, repo) as url:
        browser.get(url)
        wait_for(browser, lambda b: "Your move" in text_of(b, "status"), "whose move it is")
        browser.find_element(By.ID, "column-4").click()
        wait_for(browser, lambda b: "The agent played column" in text_of(b, "status"), "the agent's reply")
        screenshot(browser, "rl-connect-four")
        # Column 1 again and again: it fills up or the game ends, and a click after that gets a warning.
        # The page answers the clicks in turn, later on a busy machine: whichever outcome came, it says so.
        for _ in range(8):
            browser.find_element(By.ID, "column-1").click()
            time.sleep(0.5)
        warnings = ("Column 1 is full: pick another one.", "The game is over: start a new one.")
        wait_for(browser, lambda b: any(warning in page_text(b) for warning in warnings), " or ".join(warnings))
