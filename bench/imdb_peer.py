"""The baseline a practitioner tries first on IMDB, as a whole process: scikit-learn's TF-IDF of words
and word pairs, then logistic regression, untuned (library defaults but the n-gram range).

    python bench/imdb_peer.py ACLIMDB SPLIT_JSON

ACLIMDB is an extracted aclImdb/ folder; SPLIT_JSON names the review files of each side
({"train": ["train/pos/0_9.txt", ...], "val": [...]}), written by `bench/report.py --only imdb` from
the rendered project's own split by movie, so both are scored on the same validation reviews.
Prints one JSON line with the validation accuracy. scikit-learn is a benchmark dependency only
(`pip install --group bench`), never one of a rendered project.
"""

import json
import sys
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def read(folder: Path, files: list[str]) -> tuple[list[str], list[int]]:
    """The reviews' text (HTML line breaks as spaces, as the project reads them) and labels (pos: 1)."""
    texts = [(folder / file).read_text(encoding="utf-8", errors="replace").replace("<br />", " ") for file in files]
    return texts, [int(file.split("/")[1] == "pos") for file in files]


def main() -> None:
    folder, split_file = Path(sys.argv[1]), Path(sys.argv[2])
    split = json.loads(split_file.read_text())
    train_texts, train_labels = read(folder, split["train"])
    val_texts, val_labels = read(folder, split["val"])
    vectorizer = TfidfVectorizer(ngram_range=(1, 2))
    classifier = LogisticRegression(max_iter=1000)
    classifier.fit(vectorizer.fit_transform(train_texts), train_labels)
    accuracy = classifier.score(vectorizer.transform(val_texts), val_labels)
    print(json.dumps({"val/acc": accuracy, "train_reviews": len(train_texts), "val_reviews": len(val_texts)}))


if __name__ == "__main__":
    main()
