"""demo.py screenshot=PATH: the demo page as a visitor first sees it, saved as a PNG for the README.

The page is served in this process for a moment and opened in headless Chrome or Chromium through
Selenium (the [demo] extra); the picture is taken once the page's first answers are in (a page
answers an example as it loads). results/demo.png is the one README.md's results section shows.
"""

import shutil
import time
from pathlib import Path

from .errors import UserError
from .files import explained

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
HEADLESS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
WINDOW = "--window-size=1280,1000"
SETTLE_S = 1.5  # after the last answer: for pictures and bars to fade in
NEEDS_SELENIUM = 'screenshot= needs Selenium, in the [demo] extra: uv sync --extra demo, or pip install -e ".[demo]".'


def take_screenshot(page, path: Path, port: int, timeout_s: float = 90) -> Path:
    """Serve `page` on 127.0.0.1:`port`, open it in a headless browser and save it as the PNG `path`."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise UserError(NEEDS_SELENIUM) from None
    options = webdriver.ChromeOptions()
    for argument in (*HEADLESS, WINDOW):
        options.add_argument(argument)
    installed = next(filter(None, map(shutil.which, BROWSERS)), None)
    if installed:
        options.binary_location = installed
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        try:  # a chromedriver on the PATH (Debian's chromium-driver), else Selenium finds one for the browser
            browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        except WebDriverException as error:
            reason = str(error.msg or error).splitlines()[0]
            raise UserError(
                f"screenshot= found no Chrome or Chromium to open the page with ({reason}); install one "
                "(e.g. sudo apt-get install chromium chromium-driver) and run it again."
            ) from None
        try:
            browser.get(f"http://127.0.0.1:{port}/")
            wait_until_answered(browser, timeout_s)
            path.parent.mkdir(parents=True, exist_ok=True)
            with explained(f"write the screenshot {path}", elsewhere="screenshot=PATH"):
                browser.get_screenshot_as_file(str(path))
        finally:
            browser.quit()
    finally:
        page.close()
    return path


def wait_until_answered(browser, timeout_s: float) -> None:
    """Wait until the page is drawn and none of its outputs waits for an answer (Gradio marks those)."""
    deadline = time.monotonic() + timeout_s
    time.sleep(SETTLE_S)
    while time.monotonic() < deadline:
        waiting = browser.execute_script("return document.querySelectorAll('.pending, .generating').length")
        drawn = browser.execute_script("return document.querySelectorAll('.gradio-container').length")
        if drawn and not waiting:
            break
        time.sleep(0.2)
    time.sleep(SETTLE_S)
