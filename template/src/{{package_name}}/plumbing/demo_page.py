"""demo.py's work: its settings, serving the capstone's page, and a folder for a Hugging Face Space.

The page itself is the package's demo.py: `build_page(checkpoint, device, repository)` builds it,
and, where the page offers example inputs, `example_files(checkpoint)` names them (a Space gets
copies). Gradio is the optional [demo] extra, imported only by the demo: training never needs it.
"""

import importlib
import json
import os
import shutil
import string
import sys
import tomllib
from pathlib import Path

from .demo_screenshot import take_screenshot
from .errors import UserError
from .files import explained
from .run_paths import resolve_checkpoint

# demo.py's settings, written key=value as predict.py's are; ckpt None: the newest run's best.pt. The
# port is Gradio's usual one unless GRADIO_SERVER_PORT says otherwise (as a host may set it).
SETTINGS = {
    "ckpt": None,
    "device": "auto",
    "host": "127.0.0.1",
    "port": os.environ.get("GRADIO_SERVER_PORT", "7860"),
    "space": None,
    "screenshot": None,
}
# Gradio refuses larger uploads before they reach the model (a phone photo is 2-5 MB).
MAX_UPLOAD = "10mb"
INSTALL = 'demo.py needs Gradio, the [demo] extra: uv sync --extra demo, or pip install -e ".[demo]".'


def main(words: list[str], repository: str) -> None:
    """demo.py: serve the page of a checkpoint until Ctrl-C, write a Space folder (space=DIR), or save
    a picture of the page (screenshot=PATH)."""
    try:
        settings = parse_settings(words)
        gradio = import_gradio()
        page_module = importlib.import_module(f"{__package__.rpartition('.')[0]}.demo")  # imports Gradio
        checkpoint = resolve_checkpoint(settings["ckpt"])
        if settings["space"]:
            examples = getattr(page_module, "example_files", lambda checkpoint: [])(checkpoint)
            folder = write_space(Path(settings["space"]), checkpoint, repository, examples, gradio.__version__)
            print(f"Wrote {folder}: push it to a Hugging Face Space (its README.md says how).")
            return
        page = page_module.build_page(checkpoint, settings["device"], repository)
        if settings["screenshot"]:
            path = take_screenshot(page, Path(settings["screenshot"]), settings["port"])
            print(f"Wrote {path}. README.md's results section shows results/demo.png from the next evaluate.py on.")
            return
    except UserError as error:  # a wrong setting or checkpoint, or no Gradio: the message says what to do
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(1)
    serve(page, settings)


def import_gradio():
    """The gradio module, or one sentence that says how to install it."""
    # Gradio reports usage to its makers unless told not to; a demo of yours has no reason to.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError:
        raise UserError(INSTALL) from None
    return gradio


def parse_settings(words: list[str]) -> dict:
    """demo.py's key=value words as a dict of SETTINGS; a word that is none of them is a mistake."""
    settings = dict(SETTINGS)
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or key not in SETTINGS:
            names = ", ".join(f"{name}=" for name in SETTINGS)
            raise UserError(f"demo.py takes the settings {names}; {word!r} is none of them.")
        settings[key] = value or SETTINGS[key]
    if not str(settings["port"]).isdigit() or not 0 < int(settings["port"]) < 65536:
        raise UserError(f"port={settings['port']} is not a port number; pass one from 1024 to 65535, e.g. port=7861.")
    settings["port"] = int(settings["port"])
    return settings


def page_header(title: str, intro: str, repository: str, checkpoint: Path, metric_names: dict[str, str]) -> str:
    """The Markdown that opens a page: its title, what it does, a link to the project, and the
    checkpoint it serves, with its test metrics once evaluate.py has written them.

    metric_names: the keys of metrics.json to show, each with the words to show it with.
    """
    line = f"Checkpoint `{checkpoint.parent.parent.name}/{checkpoint.parent.name}/{checkpoint.name}`"
    try:
        metrics = json.loads((checkpoint.parent.parent / "metrics.json").read_text())
    except (OSError, ValueError):
        line += ", not evaluated yet (python evaluate.py ckpt=... writes its test metrics)."
    else:
        shown = [f"{words} **{metrics[key]:.3f}**" for key, words in metric_names.items() if key in metrics]
        line += f": {', '.join(shown)}." if shown else "."
    return f"# {title}\n{intro} [Code and results]({repository}).\n\n{line}"


def serve(page, settings: dict) -> None:
    """Serve the page on settings' host and port until Ctrl-C.

    Uploads land in Gradio's temporary folder (GRADIO_TEMP_DIR), never in the project, and Gradio
    refuses those over MAX_UPLOAD before they reach the model.
    """
    print(f"Serving the demo at http://{settings['host']}:{settings['port']} (Ctrl-C stops it).", flush=True)
    page.launch(
        server_name=settings["host"],
        server_port=settings["port"],
        max_file_size=MAX_UPLOAD,
        show_error=False,  # a visitor sees the sentence of a gr.Error, never a traceback
        quiet=True,
    )


def write_space(folder: Path, checkpoint: Path, repository: str, examples: list[Path], gradio: str) -> Path:
    """A folder that runs the page as a Hugging Face Space (or on any host): app.py, requirements.txt,
    README.md with the Space's settings, the package, the checkpoint with its metrics, and `examples`.

    gradio: the version of Gradio the Space runs, this one's (a Space installs what its card says).
    """
    package = Path(__file__).resolve().parents[1]  # src/<package>/, beside which pyproject.toml lies
    pyproject = tomllib.loads((package.parents[1] / "pyproject.toml").read_text())["project"]
    run = checkpoint.parent.parent
    kept = Path("runs") / run.name  # the same layout as here: the page finds metrics.json beside checkpoints/
    with explained(f"write the Space folder {folder}", elsewhere="space=DIR"):
        if folder.exists() and any(folder.iterdir()):
            raise UserError(f"{folder} is not empty; pass space=DIR with a new folder, so nothing is overwritten.")
        shutil.copytree(package, folder / "src" / package.name, ignore=shutil.ignore_patterns("__pycache__"))
        (folder / kept / "checkpoints").mkdir(parents=True)
        shutil.copy2(checkpoint, folder / kept / "checkpoints" / checkpoint.name)
        if (run / "metrics.json").is_file():
            shutil.copy2(run / "metrics.json", folder / kept / "metrics.json")
        for example in examples:
            (folder / "examples").mkdir(exist_ok=True)
            shutil.copy2(example, folder / "examples" / example.name)
        ckpt = kept / "checkpoints" / checkpoint.name
        (folder / "app.py").write_text(APP.substitute(package=package.name, ckpt=ckpt, repository=repository))
        requirements = [*pyproject["dependencies"], f"gradio=={gradio}"]
        (folder / "requirements.txt").write_text(REQUIREMENTS + "\n".join(requirements) + "\n")
        megabytes = checkpoint.stat().st_size / 1e6
        (folder / "README.md").write_text(
            SPACE_CARD.format(title=pyproject["name"], gradio=gradio, repository=repository, size=f"{megabytes:.1f} MB")
        )
    return folder


APP = string.Template('''"""The Space's entry: the demo page of the checkpoint in runs/."""

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "src"))  # the package, as the Space holds it

from $package.plumbing.demo_page import main  # noqa: E402

main([f"ckpt={HERE / '$ckpt'}", "host=0.0.0.0", "device=cpu"], repository="$repository")
''')
# A Space's free CPU has no GPU: the CPU build of PyTorch is a tenth of the download.
REQUIREMENTS = "--extra-index-url https://download.pytorch.org/whl/cpu\n"
SPACE_CARD = """---
title: {title}
sdk: gradio
sdk_version: {gradio}
app_file: app.py
pinned: false
---

The demo of [{title}]({repository}). The checkpoint in runs/ is {size}.

To put it online: create a Space (https://huggingface.co/new-space, SDK Gradio, free CPU), then
push this folder to it with git (the checkpoint is stored with Git LFS, which Spaces set up), or
upload the folder in the Space's Files tab. Any host that runs `pip install -r requirements.txt`
and `python app.py` serves it too; set GRADIO_SERVER_PORT to change its port from 7860.
"""
