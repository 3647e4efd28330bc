"""A tiny IMDB in the real archive format, for `debug=smoke` and the tests.

aclImdb_v1.tar.gz as the original lays it out: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt,
the urls_{pos,neg}.txt files that name each review's movie (REVIEWS_PER_MOVIE of each label per
movie; the test reviews are of other movies), a few unlabelled reviews in train/unsup/ and the
README. Reviews are filler words with a few words of their sentiment (and one of the other, as
noise) and HTML line breaks: easy to learn.
"""

import io
import random
import tarfile
from pathlib import Path

from .plumbing.files import atomic_write

POSITIVE = "great wonderful superb moving brilliant loved beautiful best enjoyable masterpiece".split()
NEGATIVE = "awful boring terrible waste worst dull poorly stupid mess disappointing".split()
FILLER = "the a film movie plot actor scene story it was and of to in this director cast music ending".split()
REVIEWS_PER_MOVIE = 4  # of each label: a fake movie has 4 positive and 4 negative reviews


def fake_review(rng: random.Random, positive: bool) -> str:
    own, other = (POSITIVE, NEGATIVE) if positive else (NEGATIVE, POSITIVE)
    words = rng.choices(FILLER, k=rng.randint(5, 30)) + rng.choices(own, k=4) + rng.choices(other, k=1)
    rng.shuffle(words)
    middle = len(words) // 2
    return " ".join(words[:middle]).capitalize() + ".<br /><br />" + " ".join(words[middle:]) + "!"


def write_fake_imdb_archive(path: str | Path, per_class: dict | None = None, seed: int = 0) -> Path:
    """Write a fake aclImdb_v1.tar.gz to `path` (60 train and 30 test reviews per class by default).

    Atomically (files.atomic_write): a second run that starts meanwhile never takes half an archive.
    """
    path = Path(path)
    per_class = per_class or {"train": 60, "test": 30}
    rng = random.Random(seed)
    files = {"aclImdb/README": "A tiny fake of the Large Movie Review Dataset, for tests.\n"}
    first_movie = 1_000_000
    for split, n in per_class.items():
        for label, ratings in (("pos", (7, 8, 9, 10)), ("neg", (1, 2, 3, 4))):
            for i in range(n):
                files[f"aclImdb/{split}/{label}/{i}_{rng.choice(ratings)}.txt"] = fake_review(rng, label == "pos")
            movies = (first_movie + i // REVIEWS_PER_MOVIE for i in range(n))  # line i: the movie of review i
            files[f"aclImdb/{split}/urls_{label}.txt"] = "".join(
                f"http://www.imdb.com/title/tt{movie}/usercomments\n" for movie in movies
            )
        first_movie += -(-n // REVIEWS_PER_MOVIE)  # the next split's reviews are of other movies
    for i in range(5):  # unlabelled reviews, which the capstone leaves in the archive
        files[f"aclImdb/train/unsup/{i}_0.txt"] = fake_review(rng, rng.random() < 0.5)

    def write(f) -> None:
        with tarfile.open(fileobj=f, mode="w:gz") as tar:
            for name, text in files.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    atomic_write(path, write)
    return path
