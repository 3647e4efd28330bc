"""The CUDA path, proved in one short run whenever a GPU is at hand.

    python bench/gpu_check.py prepare                  # here: bench/gpu_bundle/, at most 64 MiB
    python bench/gpu_check.py run --bundle bench/gpu_bundle --output results.json   # on the GPU machine

No GPU has run this project's code: mixed precision (bf16, and float16 with its loss scaler),
trainer.compile=true, data held on the GPU, the automatic device and precision, NCCL under
trainer=ddp and the recipes' GPU times are unmeasured. The GPU machine has Python, torch and
Lightning but no Hydra, Gymnasium or Copier, and reaches no package index. So `prepare` renders the
presets here and gathers them, a small real data subset and the wheels of what that machine lacks in
one folder (the device tool carries at most 64 MiB), and `run` installs those the machine lacks into a
folder on PYTHONPATH beside its own torch, then runs, each with its own time limit:

1. smoke steps of every capstone and engine on cuda in each precision (32, 16, bf16), compiled once,
   once with trainer.device=auto and trainer.precision=auto, and once under torchrun with NCCL;
2. the MNIST and IMDB default recipes, a short CamVid run and the CartPole recipe, on real data.

It writes one results file (JSON: each command, its exit status, seconds, and the metrics of its
summary.json or the end of its output) and prints a table; record it in bench/RESULTS.md.
Without a CUDA GPU, `run --device cpu` runs the same steps on the CPU (tests/test_gpu_check.py).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "gpu_bundle"
LIMIT_MIB = 64
# The presets the check renders: (name in the bundle, preset, copier answers beyond the preset's).
RENDERS = [("mnist", "mnist", {}), ("mnist-lightning", "mnist", {"engine": "lightning"})]
RENDERS += [("imdb", "imdb", {}), ("camvid", "camvid", {}), ("rl", "rl", {})]
# What the rendered repos import that the GPU machine lacks: Hydra (with OmegaConf, its grammar
# runtime and PyYAML), Gymnasium and its helpers, tqdm, Pillow, and numpy in case torch came without it.
# Each at the version installed here, which the tests ran with (PyPI's newest OmegaConf is too new for Hydra).
WHEELS = ["hydra-core", "omegaconf", "pyyaml", "packaging", "gymnasium", "cloudpickle", "farama-notifications"]
WHEELS += ["typing-extensions", "tqdm", "pillow", "numpy"]
BUILT_HERE = ["antlr4-python3-runtime"]  # pure Python, but PyPI has only its source: built into a wheel here
GPU_PYTHON = "3.12"  # the GPU machine's Python, for which the wheels are downloaded
# CamVid's short run: a few frames of each drive; 0006R0 is the drive the default recipe validates on.
CAMVID_FRAMES = {"0001TP": 15, "0016E5": 15, "0006R0": 15}
CAMVID_VAL_FRAMES = 5


def prepare(out: Path, shared: Path, wheels: bool) -> None:
    """Render the presets, and gather them with the data subset and the wheels in `out`."""
    sys.path.insert(0, str(HERE))
    from common import render

    if out.exists():
        shutil.rmtree(out)
    for name, preset, answers in RENDERS:
        render(out / "repos" / name, preset, **answers)
        for heavy in ("notebooks", ".git"):  # not run there
            shutil.rmtree(out / "repos" / name / heavy, ignore_errors=True)
    data = out / "data"
    shutil.copytree(shared / "mnist/raw", data / "mnist")
    labelled_imdb(shared / "imdb/aclImdb_train.tar.gz", data / "imdb_labelled.tar.gz")
    camvid_subset(shared / "camvid", data / "camvid", out / "repos/camvid")
    if wheels:  # each named, without dependencies: with them pip would look for a wheel of antlr4 too
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(out / "wheels")]
        pip += ["--only-binary=:all:", "--python-version", GPU_PYTHON, "--implementation", "cp"]
        pip += ["--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64"]
        subprocess.run([*pip, *map(pinned, WHEELS)], check=True)
        build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out / "wheels")]
        subprocess.run([*build, *map(pinned, BUILT_HERE)], check=True)
    shutil.copy2(__file__, out / "gpu_check.py")
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) / 2**20
    print(f"{out}: {size:.1f} MiB", "(over the limit)" if size > LIMIT_MIB else f"(limit {LIMIT_MIB} MiB)")
    if size > LIMIT_MIB:
        sys.exit(1)


def pinned(name: str) -> str:
    return f"{name}=={metadata.version(name)}"


def labelled_imdb(archive: Path, out: Path) -> None:
    """The 25,000 labelled training reviews and their movies' urls, without the 50,000 unlabelled ones."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as source, tarfile.open(out, "w:gz") as target:
        for member in source:
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and parts[1] == "train" and "unsup" not in parts[2]:
                target.addfile(member, source.extractfile(member))


def camvid_subset(source: Path, out: Path, repo: Path) -> None:
    """A few real frames of each drive; the bundled repo's manifest then lists only those (names, sizes)."""
    for drive, count in CAMVID_FRAMES.items():
        frames = sorted((source / "train").glob(f"{drive}_*.png"))[:count]
        copy_frames(source, out, "train", frames)
    copy_frames(source, out, "val", sorted((source / "val").glob("*.png"))[:CAMVID_VAL_FRAMES])
    (manifest,) = repo.glob("src/*/camvid_manifest.tsv")
    kept = [
        line
        for line in manifest.read_text().splitlines(keepends=True)
        if line.startswith(("#", "split\t")) or (out / line.split("\t")[0] / line.split("\t")[1]).is_file()
    ]
    manifest.write_text("".join(kept))


def copy_frames(source: Path, out: Path, split: str, frames: list[Path]) -> None:
    for folder in (split, f"{split}annot"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for frame in frames:
            shutil.copy2(source / folder / frame.name, out / folder / frame.name)


def install_missing(bundle: Path, work: Path) -> str | None:
    """Install the bundle's wheels that this Python lacks into a folder; return it for PYTHONPATH.

    The GPU machine's python3 is itself a venv (the one holding torch), so a venv made from it would
    see the base Python's packages, not torch: a folder on PYTHONPATH keeps torch, Lightning and their
    numpy as they are and adds only what is missing (Hydra, Gymnasium and their helpers).
    """
    wheels = bundle / "wheels"
    if not wheels.is_dir():
        return None  # prepare --no-wheels: this Python has everything
    missing = [name for name in WHEELS + BUILT_HERE if not installed(name)]
    if missing:
        install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile"]
        install += ["--find-links", str(wheels), "--target", str(work / "site")]
        subprocess.run([*install, *missing], check=True)
    return str(work / "site")


def installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def steps(device: str, data: dict[str, Path]) -> list[tuple[str, str, list[str], int]]:
    """(repo, what it checks, train.py overrides, time limit in seconds), in the order they run.

    About 20 processes of a few seconds each, then the four real runs: under 8 minutes on one GPU.
    """
    on = f"trainer.device={device}"
    plan = []
    precisions = ["32", "16", "bf16"] if device == "cuda" else ["32", "bf16"]  # float16 needs a GPU
    for repo in ("mnist", "mnist-lightning", "imdb", "camvid"):
        plan += [(repo, f"smoke {precision}", [on, f"trainer.precision={precision}"], 120) for precision in precisions]
    if device == "cuda":  # on the CPU, inductor compiles C++ for minutes
        plan += [(repo, "smoke compiled", [on, "trainer.compile=true"], 240) for repo in ("mnist", "camvid")]
    plan += [(repo, "smoke auto", ["trainer.device=auto", "trainer.precision=auto"], 120) for repo in ("mnist", "imdb")]
    plan += [("rl", "smoke ppo", [on], 120), ("rl", "smoke connect four", [on, "experiment=connect_four"], 120)]
    plan = [(repo, what, ["debug=smoke", *overrides], limit) for repo, what, overrides, limit in plan]
    plan.append(("mnist", "smoke ddp", ["trainer=ddp", "debug=smoke", on], 180))
    plan.append(("mnist", "recipe", [f"data.root={data['mnist']}", on], 240))
    plan.append(("imdb", "recipe", [f"data.root={data['imdb']}", on], 300))
    plan.append(("camvid", "10 epochs, 50 frames", [f"data.root={data['camvid']}", on, "trainer.max_epochs=10"], 300))
    plan.append(("rl", "CartPole, 50,000 steps", [on, "trainer.total_steps=50000"], 300))
    return plan


def run(bundle: Path, output: Path, device: str, only: list | None, smoke_only: bool, budget_s: float) -> list[dict]:
    # The installed wheels, IMDB's reviews and the run folders: removed at the end (results go to `output`).
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as work:
        return run_in(Path(work), bundle.resolve(), output, device, only, smoke_only, budget_s)


def run_in(
    work: Path, bundle: Path, output: Path, device: str, only: list | None, smoke_only: bool, budget_s: float
) -> list[dict]:
    started = time.monotonic()
    site = install_missing(bundle, work)
    results = [machine(site)]
    data = real_data(bundle / "data", work)
    for number, (repo_name, what, overrides, limit) in enumerate(steps(device, data)):
        if (only and repo_name not in only) or (smoke_only and not what.startswith("smoke")):
            continue
        repo = bundle / "repos" / repo_name  # the commands run in the rendered repos' folders
        left = budget_s - (time.monotonic() - started)
        if left < 20:
            results.append({"repo": repo_name, "check": what, "status": "skipped: the time budget was spent"})
            continue
        run_dir = work / "runs" / f"{number:02d}"
        command = [sys.executable, str(repo / "train.py"), *overrides, f"hydra.run.dir={run_dir}"]
        if "trainer=ddp" in overrides:
            command[1:1] = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
        results.append(one_step(command, repo, site, run_dir, repo_name, what, min(limit, left)))
        print(row(results[-1]), flush=True)
        output.write_text(json.dumps(results, indent=2))  # what ran so far, should the machine go away
    return results


def machine(site: str | None) -> dict:
    """What the machine is: the versions that matter and the GPU, as the training processes see them."""
    code = (
        "import json, platform, torch\n"
        "cuda = torch.cuda.is_available()\n"
        "print(json.dumps({'python': platform.python_version(), 'torch': torch.__version__,\n"
        "    'cuda': torch.version.cuda, 'gpu': torch.cuda.get_device_name() if cuda else None,\n"
        "    'bf16': torch.cuda.is_bf16_supported() if cuda else None}))\n"
    )
    env = {**os.environ, "PYTHONPATH": site or ""}
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return {"check": "machine", **(json.loads(shown.stdout) if shown.returncode == 0 else {"error": shown.stderr})}


def real_data(data: Path, work: Path) -> dict[str, Path]:
    """The bundle's data as the rendered repos read it: IMDB's reviews extracted, the rest as they are."""
    imdb = work / "imdb"
    if (data / "imdb_labelled.tar.gz").is_file():
        with tarfile.open(data / "imdb_labelled.tar.gz") as archive:
            archive.extractall(imdb, filter="data")
    return {"mnist": data / "mnist", "imdb": imdb, "camvid": data / "camvid"}


def one_step(
    command: list[str], repo: Path, site: str | None, run_dir: Path, repo_name: str, what: str, limit: float
) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo / "src"), site]))}
    began = time.monotonic()
    try:
        done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=limit)
        status, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as stopped:
        status, output = f"stopped after {limit:.0f} s", str(stopped.stdout or "") + str(stopped.stderr or "")
    result = {"repo": repo_name, "check": what, "command": " ".join(command[1:]), "status": status}
    result["seconds"] = round(time.monotonic() - began, 1)
    summary = run_dir / "summary.json"
    if summary.is_file():
        result["summary"] = json.loads(summary.read_text())
    if status != 0:
        result["output_tail"] = output[-3000:]
    return result


def row(result: dict) -> str:
    summary = result.get("summary", {})
    best = ", ".join(f"{key}={value:.4g}" for key, value in summary.items() if key.startswith("best/"))
    seconds = f"{result['seconds']:>6.1f} s" if "seconds" in result else " " * 8
    return f"{result['repo']:<16} {result['check']:<24} {seconds}  {result['status']!s:<8} {best}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("prepare", help="render, gather data and wheels into --out (here)")
    make.add_argument("--out", type=Path, default=BUNDLE)
    make.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "datasets")
    make.add_argument("--no-wheels", dest="wheels", action="store_false", help="for a machine that has them")
    check = commands.add_parser("run", help="run the checks (on the GPU machine)")
    check.add_argument("--bundle", type=Path, default=Path(__file__).resolve().parent)
    check.add_argument("--output", type=Path, default=Path("gpu_check.json"))
    check.add_argument("--device", default="cuda", help="cuda; cpu runs the same steps without a GPU")
    check.add_argument("--only", nargs="*", help="these repos only, e.g. mnist rl")
    check.add_argument("--smoke-only", action="store_true", help="leave out the runs on real data")
    check.add_argument("--budget-s", type=float, default=450, help="later steps are skipped once it is spent")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.out, args.shared, args.wheels)
        return
    results = run(args.bundle, args.output, args.device, args.only, args.smoke_only, args.budget_s)
    args.output.write_text(json.dumps(results, indent=2))
    failed = [result for result in results[1:] if result["status"] != 0]
    print(f"{len(results) - 1 - len(failed)} of {len(results) - 1} checks passed; results in {args.output}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
