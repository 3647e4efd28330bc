"""IMDB: finding or downloading the reviews, reading them, and turning them into token ids.

The Large Movie Review Dataset (Maas et al., 2011) is one archive, aclImdb_v1.tar.gz, with one
text file per review: aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt. Reading and tokenizing
25,000 reviews takes seconds, so the token ids are cached in root/cache/, keyed by the settings
and the files they came from: a second run starts training at once.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .fixtures import write_fake_imdb_archive
from .movies import movies_of, random_split, split_by_movie
from .plumbing.archive import extract_reviews
from .plumbing.download import download
from .plumbing.errors import UserError
from .plumbing.files import explained, write_cache
from .text import TOKENIZER, Vocabulary, lengths_of, tokenize

LABELS = ("neg", "pos")  # the folders of label 0 (negative) and label 1 (positive)
log = logging.getLogger(__name__)


@dataclass
class Reviews:
    texts: list[str]
    labels: list[int]
    files: list[str]  # e.g. "test/pos/123_9.txt", for finding a review again


def ensure_reviews(cfg, split: str) -> Path:
    """root/aclImdb holding the split's reviews; the archive is downloaded and extracted when missing."""
    root = Path(cfg.root).expanduser()
    folder = root / "aclImdb"
    if has_split(folder, split):
        return folder
    # The fake archive has its own name, so it is never mistaken for the real one, nor the real for it.
    name = f"fake_{cfg.archive}" if cfg.fixture else cfg.archive
    if cfg.fixture and not (root / name).exists():
        with explained(f"write the fake IMDB archive into {root}", elsewhere="data.root=DIR"):
            write_fake_imdb_archive(root / name)  # fake reviews have no official checksum to check
    archive = download(name, list(cfg.mirrors), root, None if cfg.fixture else cfg.md5, cfg.download_timeout)
    log.info(f"Extracting the reviews of {archive}")
    with explained(f"extract the reviews of {archive} into {root}", elsewhere="data.root=DIR"):
        extract_reviews(archive, root)
    if not has_split(folder, split):
        raise UserError(f"{archive} holds no aclImdb/{split}/ reviews; delete it and run again to download it.")
    return folder


def has_split(folder: Path, split: str) -> bool:
    return all((folder / split / label).is_dir() for label in LABELS)


def review_files(folder: Path) -> list[Path]:
    """The review files of one folder, in name order (sorted as strings: Path objects compare slowly)."""
    return sorted(folder.glob("*.txt"), key=lambda path: path.name)


def clean(text: str) -> str:
    """The review as a reader sees it: the HTML line breaks in about half of them become spaces."""
    return text.replace("<br />", " ").replace("<br/>", " ").strip()


def read_reviews(folder: Path, split: str) -> Reviews:
    """All reviews of a split, negative then positive, each in file-name order. Empty files are skipped."""
    reviews, empty = Reviews([], [], []), []
    for label, name in enumerate(LABELS):
        for path in review_files(folder / split / name):
            try:
                text = clean(path.read_text(encoding="utf-8", errors="replace"))
            except OSError as error:
                raise UserError(f"Could not read {path} ({error}); delete {folder} and run again.") from error
            if not text:
                empty.append(path.name)
                continue
            reviews.texts.append(text)
            reviews.labels.append(label)
            reviews.files.append(f"{split}/{name}/{path.name}")
    if empty:
        log.warning(f"Skipped {len(empty)} empty review files in {folder / split}: {', '.join(empty[:5])}")
    if not reviews.texts:
        raise UserError(f"{folder / split} holds no reviews; delete {folder} and run again to download them.")
    return reviews


def file_signature(folder: Path, split: str) -> str:
    """A digest of the names and sizes of a split's review files and urls files: what a cache was made from."""
    digest = hashlib.sha1()
    for name in LABELS:
        for path in review_files(folder / split / name):
            digest.update(f"{name}/{path.name} {path.stat().st_size}\n".encode())
        urls = folder / split / f"urls_{name}.txt"  # which movie each review is about (movies.py)
        digest.update(f"{urls.name} {urls.stat().st_size if urls.is_file() else None}\n".encode())
    return digest.hexdigest()


def digest(settings: dict) -> str:
    """A short name for the settings a cache was made with."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def read_cache(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception as error:  # cut short, or from another version: it is only a cache
        log.info(f"Could not use {path} ({error}); tokenizing again")
        return None


def check_settings(cfg) -> None:
    for key in ("val_size", "min_count", "vocab_size", "max_tokens"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise UserError(f"data.{key}={cfg[key]} must be a whole number of at least 1.")


def encoded_training_reviews(cfg) -> dict:
    """The vocabulary and the token ids and labels of `train` and `val`, from the cache when it fits.

    Exact duplicate reviews (about 100) are dropped first, so that no review is in both `train`
    and `val`; then whole movies are held out for `val` (movies.py says why). The vocabulary is
    learnt from the `train` reviews only: validation stays unseen.
    """
    check_settings(cfg)
    folder = ensure_reviews(cfg, "train")
    keys = ("min_count", "vocab_size", "max_tokens", "val_size", "split_seed", "train_on_val")
    settings = {key: cfg[key] for key in keys} | {"tokenizer": TOKENIZER, "files": file_signature(folder, "train")}
    cache = folder.parent / "cache" / f"train-{digest(settings)}.pt"
    if (cached := read_cache(cache)) is not None:
        return cached

    log.info(f"Tokenizing the training reviews in {folder} (cached for later runs in {cache.parent})")
    reviews = read_reviews(folder, "train")
    unique = first_copies(reviews.texts)
    movies = movies_of(folder, reviews.files)
    if movies is None:
        train, val = random_split(unique, cfg.val_size, cfg.split_seed)
    else:
        train, val = split_by_movie(unique, movies, cfg.val_size, cfg.split_seed)
    if cfg.train_on_val:  # a final run: more data, but val/ metrics are no longer held out
        train = train + val
    tokenized = [tokenize(text) for text in reviews.texts]
    vocabulary = Vocabulary.build((tokenized[i] for i in train), cfg.min_count, cfg.vocab_size)
    labels = torch.tensor(reviews.labels)

    def encode(rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return vocabulary.encode([tokenized[i] for i in rows], cfg.max_tokens), labels[rows]

    encoded = {"vocabulary": vocabulary.words[2:], "train": encode(train), "val": encode(val)}
    write_cache(cache, lambda f: torch.save(encoded, f))
    return encoded


def first_copies(texts: list[str]) -> list[int]:
    """The indices of `texts` without exact duplicates: each text's first copy, in order."""
    first = {}  # text -> index of its first copy
    for i, text in enumerate(texts):
        first.setdefault(text, i)
    return sorted(first.values())


def load_splits(cfg) -> dict:
    """Token ids int32 [N, longest] and labels int64 [N] of `train` and `val`, and the `state` to save.

    `state` holds the vocabulary: checkpoints keep it, so evaluate.py and predict.py read new
    text exactly as training did, without the training reviews. With `data.bucket`, also
    `train_reorder`: the loop then batches reviews of similar length (batches_of_similar_length).
    """
    encoded = encoded_training_reviews(cfg)
    if cfg.train_on_val:
        log.warning("data.train_on_val=true: the validation reviews are trained on, so val/ metrics are optimistic.")
    splits = {"train": encoded["train"], "val": encoded["val"], "state": {"vocabulary": encoded["vocabulary"]}}
    if cfg.bucket:
        splits["train_reorder"] = batches_of_similar_length(lengths_of(encoded["train"][0]))
    return splits


def batches_of_similar_length(lengths: torch.Tensor, pool_batches: int = 50):
    """A batch order (InMemoryBatches' `reorder`) in which a batch holds reviews of similar length,
    so that little of it is padding, while every epoch still mixes the reviews differently.

    The shuffled reviews are cut into pools of `pool_batches` batches; each pool is sorted by
    length and cut into batches, and the batches are shuffled.
    """
    lengths = lengths.cpu()

    def reorder(order: torch.Tensor, generator: torch.Generator, batch_size: int) -> torch.Tensor:
        pool = pool_batches * batch_size
        # A stable sort keeps the random order among reviews of equal length.
        pools = [rows[lengths[rows].argsort(stable=True)] for rows in order.split(pool)]
        batches = list(torch.cat(pools).split(batch_size))
        short = [batches.pop()] if len(batches[-1]) < batch_size else []  # stays last: DDP's slices line up
        return torch.cat([batches[i] for i in torch.randperm(len(batches), generator=generator)] + short)

    return reorder


def test_reviews(cfg) -> Reviews:
    """The test reviews as text, in the order of load_test's rows."""
    return read_reviews(ensure_reviews(cfg, "test"), "test")


def load_test(cfg, state: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and labels of the 25,000 test reviews, with the vocabulary of training (cached too).

    `state` is what training saved (its vocabulary); without it, the vocabulary is learnt again
    from the training reviews with the same settings.
    """
    vocabulary = Vocabulary(state["vocabulary"]) if state else Vocabulary(encoded_training_reviews(cfg)["vocabulary"])
    folder = ensure_reviews(cfg, "test")
    settings = {
        "vocabulary": hashlib.sha1("\n".join(vocabulary.words).encode()).hexdigest(),
        "max_tokens": cfg.max_tokens,
        "tokenizer": TOKENIZER,
        "files": file_signature(folder, "test"),
    }
    cache = folder.parent / "cache" / f"test-{digest(settings)}.pt"
    if (cached := read_cache(cache)) is not None:
        return cached["test"]
    log.info(f"Tokenizing the test reviews in {folder} (cached for later runs in {cache.parent})")
    reviews = read_reviews(folder, "test")
    test = vocabulary.encode([tokenize(text) for text in reviews.texts], cfg.max_tokens), torch.tensor(reviews.labels)
    write_cache(cache, lambda f: torch.save({"test": test}, f))
    return test


def train_transform(cfg):
    """No augmentation for text: returns None (the loop then trains on the reviews as they are)."""
    return None
