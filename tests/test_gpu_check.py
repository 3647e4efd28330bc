"""bench/gpu_check.py, on a tiny stand-in for ../shared/datasets and on the CPU (no GPU, no network here)."""

import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
from PIL import Image

from .conftest import ROOT

MANIFEST = ROOT / "template/{% if capstone == 'camvid' %}.{% endif %}/src/{{package_name}}/camvid_manifest.tsv"


def fake_shared(root):
    """The layout of ../shared/datasets, with a few files of each kind."""
    (root / "mnist/raw").mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (root / "mnist/raw" / name).write_bytes(b"digits")
    (root / "imdb").mkdir()
    with tarfile.open(root / "imdb/aclImdb_train.tar.gz", "w:gz") as archive:
        for name in ("train/pos/0_9.txt", "train/neg/0_2.txt", "train/unsup/0_0.txt", "train/urls_pos.txt", "README"):
            text = f"{name}\n".encode()
            member = tarfile.TarInfo(f"aclImdb/{name}")
            member.size = len(text)
            archive.addfile(member, io.BytesIO(text))
    # CamVid's own file names (the rendered repo checks them against its manifest), with tiny pictures.
    rows = [line.split("\t")[:2] for line in MANIFEST.read_text().splitlines() if line.startswith(("train", "val"))]
    frames = {"train": [name for split, name in rows if split == "train"]}
    frames["val"] = [name for split, name in rows if split == "val"][:7]
    for split, names in frames.items():
        for folder in (split, f"{split}annot"):
            (root / "camvid" / folder).mkdir(parents=True)
            for name in names:
                Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "camvid" / folder / name)


def test_prepare_gathers_the_renders_and_a_data_subset_and_run_checks_them_on_the_cpu(tmp_path):
    fake_shared(tmp_path / "shared")
    bundle = tmp_path / "bundle"
    script = str(ROOT / "bench/gpu_check.py")
    command = [sys.executable, script, "prepare", "--out", str(bundle), "--shared", str(tmp_path / "shared")]
    prepared = subprocess.run([*command, "--no-wheels"], capture_output=True, text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    assert "MiB (limit 64 MiB)" in prepared.stdout

    assert sorted(path.name for path in (bundle / "repos").iterdir()) == [
        "camvid",
        "imdb",
        "mnist",
        "mnist-lightning",
        "rl",
    ]
    with tarfile.open(bundle / "data/imdb_labelled.tar.gz") as archive:  # the labelled reviews only
        assert sorted(archive.getnames()) == ["aclImdb/train/neg/0_2.txt", "aclImdb/train/pos/0_9.txt"] + [
            "aclImdb/train/urls_pos.txt"
        ]
    drives = [name.name.split("_")[0] for name in (bundle / "data/camvid/train").iterdir()]
    assert {drive: drives.count(drive) for drive in set(drives)} == {"0001TP": 15, "0016E5": 15, "0006R0": 15}
    assert len(list((bundle / "data/camvid/valannot").iterdir())) == 5
    # The bundled camvid repo checks the subset: its manifest lists those 50 frames, with their sizes.
    (manifest,) = (bundle / "repos/camvid/src").glob("*/camvid_manifest.tsv")
    listed = [line.split("\t") for line in manifest.read_text().splitlines() if not line.startswith(("#", "split"))]
    assert sorted((split, name) for split, name, *_ in listed) == sorted(
        (split, path.name) for split in ("train", "val") for path in (bundle / "data/camvid" / split).iterdir()
    )

    # The bundle's own copy of the script runs there; here on the CPU, the smoke steps of one repo.
    results = tmp_path / "results.json"
    command = [sys.executable, str(bundle / "gpu_check.py"), "run", "--device", "cpu", "--only", "mnist"]
    scratch = tmp_path / "scratch"  # for its temporary folder, which it removes at the end
    scratch.mkdir()
    checked = subprocess.run(
        [*command, "--smoke-only", "--output", str(results)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert not list(scratch.glob("gpu_check-*"))  # (PyTorch's compiler and torchrun leave their own)
    machine, *steps = json.loads(results.read_text())
    assert machine["torch"] and machine["gpu"] is None
    assert [step["check"] for step in steps] == ["smoke 32", "smoke bf16", "smoke auto", "smoke ddp"]
    for step in steps:
        assert step["status"] == 0 and step["summary"]["step"] == 3, step
    assert "4 of 4 checks passed" in checked.stdout
