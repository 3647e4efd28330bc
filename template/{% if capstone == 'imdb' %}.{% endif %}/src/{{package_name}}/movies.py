"""The validation split by movie: every review of a movie lands on the same side.

The 25,000 training reviews are of only about 3,500 movies (up to 30 reviews each), and the 25,000
test reviews are of other movies. A random validation split would put reviews of the same movie
on both sides, so validation would reward remembering a movie's title, actors and plot words, and
promise a score the test reviews do not give (about two points too high on this dataset). Holding
out whole movies makes validation as far from training as the test split is: that is the lesson
of "leakage" between training and validation data.

The official archive says which movie each review is about: line i of aclImdb/train/urls_pos.txt
is the IMDb address of the movie of the review train/pos/i_<rating>.txt (urls_neg.txt likewise).
"""

import logging
import re
from pathlib import Path

import torch

from .plumbing.errors import UserError

MOVIE = re.compile(r"/title/(tt\d+)")  # http://www.imdb.com/title/tt0453418/usercomments -> tt0453418
log = logging.getLogger(__name__)


def movies_of(folder: Path, files: list[str]) -> list[str] | None:
    """The IMDb id of the movie of each review file ("train/pos/123_9.txt"), from the urls files.

    None, with one warning line, when the urls files are missing or do not match the review
    folders: the caller then splits at random.
    """
    urls, reason = {}, None
    for label in sorted({file.split("/")[1] for file in files}):
        path = folder / "train" / f"urls_{label}.txt"
        reviews = len(list((folder / "train" / label).glob("*.txt")))
        if not path.is_file():
            reason = f"{path} is missing"
            break
        urls[label] = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(urls[label]) != reviews:
            reason = f"{path} has {len(urls[label])} lines for {reviews} reviews in {path.parent / label}"
            break
    movies = []
    for file in files if reason is None else []:
        _, label, name = file.split("/")
        number = name.split("_")[0]
        found = MOVIE.search(urls[label][int(number)]) if number.isdigit() and int(number) < len(urls[label]) else None
        if found is None:
            reason = f"{folder / file} has no movie in {folder / 'train' / f'urls_{label}.txt'}"
            break
        movies.append(found.group(1))
    if reason is None:
        return movies
    log.warning(
        f"Validation reviews are drawn at random, not by movie ({reason}), so validation scores will be "
        f"optimistic; put the archive's urls_neg.txt and urls_pos.txt in {folder / 'train'} to split by movie."
    )
    return None


def split_by_movie(rows: list[int], movies: list[str], val_size: int, seed: int) -> tuple[list[int], list[int]]:
    """`rows` (review indices) as (train, val): whole movies, drawn in a seeded order, join `val`
    until it holds at least `val_size` reviews (the last movie may take it a few reviews past)."""
    reviews_of: dict[str, list[int]] = {}
    for row in rows:
        reviews_of.setdefault(movies[row], []).append(row)
    titles = sorted(reviews_of)
    order = [titles[i] for i in torch.randperm(len(titles), generator=torch.Generator().manual_seed(seed))]
    largest = len(rows) - len(reviews_of[order[-1]])  # the last movie in the order must stay for training
    if val_size > largest:
        raise UserError(
            f"data.val_size={val_size} is more than a split by movie can hold out of {len(rows)} reviews; "
            f"the largest that works is data.val_size={largest}."
        )
    val: list[int] = []
    for title in order:
        if len(val) >= val_size:
            break
        val += reviews_of[title]
    held_out = set(val)
    return [row for row in rows if row not in held_out], sorted(val)


def random_split(rows: list[int], val_size: int, seed: int) -> tuple[list[int], list[int]]:
    """`rows` as (train, val), `val_size` of them drawn at random: the fallback without the urls files."""
    if not 0 < val_size < len(rows):
        raise UserError(f"data.val_size={val_size} must be between 1 and {len(rows) - 1}.")
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(rows[i] for i in order[:-val_size]), sorted(rows[i] for i in order[-val_size:])
