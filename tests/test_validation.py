"""Bad answers fail with the validator's own sentence, whole, before anything is written."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from .conftest import ROOT, load_preset, render

# Copier shows a validator's sentence after this prefix, on one line of the prompt, cut at the
# terminal's width: the whole line must fit in an 80-column terminal.
PREFIX = "Validation error for question '{}': "
WIDTH = 80

VALIDATED = [
    ({"package_name": "torch"}, "shadows a module; try my_torch"),
    ({"package_name": "json"}, "shadows a module; try my_json"),
    ({"package_name": "sys"}, "shadows a module; try my_sys"),
    ({"package_name": "pytorch_lightning"}, "shadows a module; add a prefix"),
    ({"package_name": "class"}, "a Python keyword; try my_class"),
    ({"package_name": "nonlocal"}, "a Python keyword; try my_nonlocal"),
    ({"package_name": "1abc"}, "must not start with a digit"),
    ({"package_name": "my-pkg"}, "use only letters, digits and _"),
    ({"package_name": ""}, "must not be empty"),
    ({"project_name": "-bad"}, "a letter or digit first and last"),
    ({"project_name": "bad-"}, "a letter or digit first and last"),
    ({"project_name": "bad name"}, "only letters, digits and . _ -"),
    ({"project_name": ""}, "must not be empty"),
    ({"description": ""}, "must not be empty"),
    ({"description": "   "}, "must not be empty"),
    ({"description": "two\nlines"}, "must be one line of plain text"),
    ({"author_name": ""}, "must not be empty"),
    ({"author_name": "Ann\tLee"}, "must be one line of plain text"),
    ({"author_email": "nobody"}, "must look like name@example.com"),
    ({"author_email": "no body@example.com"}, "must look like name@example.com"),
    ({"github_user": "-x"}, "letters, digits, single hyphens"),
    ({"max_epochs": 0}, "a whole number from 1 to 1000"),
    ({"max_epochs": 1001}, "a whole number from 1 to 1000"),
    ({"max_epochs": "abc"}, "a whole number from 1 to 1000"),
    ({"max_epochs": "2.5"}, "a whole number from 1 to 1000"),
    ({"batch_size": 0}, "a whole number from 1 to 65536"),
    ({"batch_size": 100000}, "a whole number from 1 to 65536"),
    ({"batch_size": "-8"}, "a whole number from 1 to 65536"),
]


@pytest.mark.parametrize(("answers", "sentence"), VALIDATED)
def test_bad_answers_are_refused_with_a_whole_sentence(tmp_path, answers, sentence):
    with pytest.raises(ValueError) as refused:
        render(tmp_path / "out", **answers)
    (question,) = [name for name in answers if name != "capstone"]
    message = PREFIX.format(question) + sentence
    assert str(refused.value) == message  # the whole sentence, nothing after it
    assert len(message) <= WIDTH, f"{len(message)} characters: the prompt cuts it at {WIDTH}"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"capstone": "cifar"}, "Invalid choice for 'capstone'"),
        ({"license": "GPL"}, "Invalid choice for 'license'"),
        ({"python_version": "3.10"}, "Invalid choice for 'python_version': '3.10' is not in ['3.11', "),
        ({"engine": "jax"}, "Invalid choice for 'engine': 'jax' is not in ['pytorch', 'lightning']"),
        ({"model": "resnet"}, "Invalid choice for 'model': 'resnet' is not in ['cnn', 'mlp']"),
        ({"capstone": "rl", "env": "mujoco"}, "Invalid choice for 'env': 'mujoco' is not in ['cartpole', "),
        ({"capstone": "rl", "algo": "a2c"}, "Invalid choice for 'algo': 'a2c' is not in ['ppo', 'dqn']"),
    ],
)
def test_answers_outside_the_choices_are_refused(tmp_path, answers, message):
    """Only `-d`/`--data-file` can give these (the prompt offers the choices alone): nothing cuts them."""
    with pytest.raises(ValueError, match=re.escape(message)):
        render(tmp_path / "out", **answers)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_prompt_shows_the_longest_sentence_whole_in_80_columns(tmp_path):
    """Typed at copier's prompt in an 80-column terminal, a bad answer's sentence shows to its end."""
    answers = [f"{name}={value}" for name, value in load_preset("mnist").items() if name != "package_name"]
    command = [sys.executable, "-m", "copier", "copy", "--vcs-ref", "HEAD", str(ROOT), str(tmp_path / "out")]
    command[4:4] = [arg for answer in answers for arg in ("-d", answer)]
    leader, follower = pty.openpty()
    os.set_blocking(leader, False)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "80", "LINES": "24"}
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    screen = b""

    def read_until(pattern: bytes, seconds: float = 60) -> None:
        nonlocal screen
        deadline = time.monotonic() + seconds
        while not re.search(pattern, screen) and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    screen += os.read(leader, 65536)
                except OSError:
                    break

    try:
        read_until(rb"mnist_digits")  # the default answer, ready to edit
        os.write(leader, b"\x15nonlocal\r")  # Ctrl-U clears the default; Enter
        read_until(rb"(?s)Validation error.*\x1b\[\?25h")  # drawn, and the cursor shown again
    finally:
        process.kill()
        process.wait()
        os.close(leader)
    assert b"Validation error" in screen, screen[-2000:]
    line = screen_line(screen[screen.rindex(b"Validation error") :].decode(errors="replace"))
    assert line == PREFIX.format("package_name") + "a Python keyword; try my_nonlocal"


def screen_line(output: str, width: int = 80) -> str:
    """The row of an 80-column terminal that `output` draws: text, carriage returns and cursor-forward moves."""
    row, column = [" "] * width, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|[\r\n]|[^\x1b\r\n]", output):
        if token == "\r":
            column = 0
        elif token == "\n" or token == "\x1b[A":  # next line, or cursor up: the row is drawn
            break
        elif token.startswith("\x1b["):
            column += int(token[2:-1] or 1) if token.endswith("C") else 0  # cursor forward; colours change nothing
        elif column < width:
            row[column] = token
            column += 1
    return "".join(row).rstrip()
