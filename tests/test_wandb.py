"""logger=wandb in a rendered repo, run by a learner without a W&B account: offline, in the run folder."""

import subprocess
import sys

import pytest

from .conftest import python_env

pytest.importorskip("wandb")  # in the template's dev group; the rendered repos' extra is .[wandb]


def no_credentials(repo, home) -> dict:
    """The environment of someone who never ran `wandb login`: no key, no netrc, no W&B settings, no WANDB_MODE."""
    env = {key: value for key, value in python_env(repo).items() if not key.startswith(("WANDB_", "XDG_"))}
    env.pop("NETRC", None)
    home.mkdir(exist_ok=True)
    return {**env, "HOME": str(home)}


def run(repo, cwd, env, *args) -> str:
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr  # Hydra logs to stdout
    assert result.returncode == 0, output
    assert "Traceback" not in output
    return output


@pytest.mark.parametrize("engine", ["pytorch", "lightning"])
def test_logger_wandb_without_a_login_runs_offline_and_says_how_to_sync(rendered, tmp_path, engine):
    repo = rendered("mnist", engine=engine)
    env, run_dir = no_credentials(repo, tmp_path / "home"), tmp_path / "run"
    output = run(repo, tmp_path, env, str(repo / "train.py"), "debug=smoke", "logger=wandb", f"hydra.run.dir={run_dir}")

    (part,) = run_dir.glob("wandb/offline-run-*")  # the W&B run lives in the run folder
    run_id = part.name.split("-")[3]  # offline-run-<date>_<time>-<id>
    assert (part / f"run-{run_id}.wandb").is_file()
    assert f"wandb sync {part}" in output and "no `wandb login` or WANDB_API_KEY found" in output
    (hint,) = [line for line in output.splitlines() if "wandb sync" in line]  # one line says it all
    assert "W&B logged offline" in hint
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 5  # header, 3 train/loss rows, 1 validation row
    # No secret written: no login was made, nothing names a key in the config or the run folder's text.
    assert not {".netrc", "_netrc"} & {path.name for path in (tmp_path / "home").rglob("*")}
    assert not (tmp_path / "home/.config/wandb/settings").exists()
    assert "api_key" not in (run_dir / "config.yaml").read_text().lower()

    if engine == "pytorch":  # evaluation.py is the same for both engines
        output = run(repo, tmp_path, env, str(repo / "evaluate.py"), f"ckpt={run_dir}")
        parts = sorted(run_dir.glob("wandb/offline-run-*"))
        assert len(parts) == 2 and {p.name.split("-")[3] for p in parts} == {run_id}
        assert f"wandb sync {run_dir}/wandb/offline-run-*" in output  # both parts, which wandb sync takes in order
        assert list(parts[1].glob("files/media/images/plots/training_curves_*.png"))  # the plots
        assert b"test/acc" in next(parts[1].glob("run-*.wandb")).read_bytes()
