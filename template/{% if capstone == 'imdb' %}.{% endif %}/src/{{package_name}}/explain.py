"""Which words made the model decide: each word's and word pair's push towards positive or negative.

The models end in a score: the log-odds of positive, log(P(positive) / P(negative)). For the bag
models that score is a sum over the review's words and n-grams, so each one's share is exact:

- fastText bag: the classifier reads the mean of the n-grams' embeddings, so an n-gram adds
  (w_positive - w_negative) . embedding / (number of n-grams);
- Naive Bayes regression: each distinct n-gram adds its weight times its log-count ratio (an
  n-gram met twice shares that between its two places);
- the ensemble: half of each, as its log-probabilities are the mean of the two models'.

An LSTM's score is no such sum. For it each word gets a simple stated attribution instead:
occlusion, how much the score falls when that word alone is left out of the review.
"""

import re
from dataclasses import dataclass

import torch

from .data import clean
from .model import BagEnsemble, BagOfNgrams, BiLSTMClassifier, NaiveBayesRegression, hashed_ngrams
from .predict import SentimentClassifier
from .text import PAD, WORD, tokenize


@torch.no_grad()
def contributions(model: torch.nn.Module, tokens: torch.Tensor) -> dict[int, torch.Tensor]:
    """For one review's token ids [1, L]: {n: each n-gram's push on the log-odds of positive, [L - n + 1]}.

    The n-gram at place i is words i to i + n - 1. For the bag models, the pushes and the score of
    an empty review add up to the score of this one.
    """
    if isinstance(model, BagEnsemble):
        parts = [contributions(model.bag, tokens), contributions(model.naive_bayes, tokens)]
        orders = sorted(set(parts[0]) | set(parts[1]))
        return {n: sum(part[n] for part in parts if n in part) / 2 for n in orders}
    if isinstance(model, BagOfNgrams):
        ids = ngram_ids(tokens, model.ngrams, lambda n: model.words, model.buckets)
        weights = model.classifier.weight
        direction = model.embedding.weight @ (weights[1] - weights[0])  # each row's push, before the mean
        count = sum(int((row != PAD).sum()) for row in ids.values())
        return {n: direction[row].masked_fill(row == PAD, 0.0) / max(1, count) for n, row in ids.items()}
    if isinstance(model, NaiveBayesRegression):
        first_rows = {n: model.words + (n - 2) * model.buckets for n in range(2, model.ngrams + 1)}
        ids = ngram_ids(tokens, model.ngrams, first_rows.get, model.buckets)
        push = model.weight.weight[:, 0] * model.ratios
        places = torch.bincount(torch.cat(list(ids.values())), minlength=len(push)).clamp(min=1)
        return {n: (push[row] / places[row]).masked_fill(row == PAD, 0.0) for n, row in ids.items()}
    if isinstance(model, BiLSTMClassifier):
        return {1: occlusion(model, tokens)}
    raise TypeError(f"no attribution for {type(model).__name__}")


def ngram_ids(tokens: torch.Tensor, ngrams: int, first_row, buckets: int) -> dict[int, torch.Tensor]:
    """{n: the embedding row of each n-gram of the review, [L - n + 1]}, as the models' forward reads them."""
    ids = {1: tokens[0].long()}
    for n in range(2, ngrams + 1):
        if tokens.shape[1] >= n:
            ids[n] = hashed_ngrams(tokens.long(), n, first_row(n), buckets)[0]
    return ids


def log_odds(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """log P(positive) - log P(negative) for each review of a batch of token ids [B, L]."""
    logits = model(tokens).float()
    return logits[:, 1] - logits[:, 0]


def occlusion(model: torch.nn.Module, tokens: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """[L]: the review's log-odds minus those of the review without word i, for each i."""
    length = tokens.shape[1]
    if length < 2:
        return log_odds(model, tokens) - log_odds(model, torch.zeros_like(tokens))
    keep = ~torch.eye(length, dtype=torch.bool)  # row i: every place but i
    without = tokens[0].expand(length, length)[keep].view(length, length - 1)
    scores = torch.cat([log_odds(model, without[i : i + batch]) for i in range(0, length, batch)])
    return log_odds(model, tokens) - scores


@dataclass
class Explanation:
    """What the page shows of one review."""

    positive: float  # P(positive)
    segments: list[tuple[str, float | None]]  # the review in pieces: each word with its push, the rest None
    pushes: list[tuple[str, float]]  # each word and n-gram of the review with its push, strongest first
    words_read: int  # the model reads the first data.max_tokens words; the rest is shown, unscored


@torch.no_grad()
def explain_review(classify: SentimentClassifier, text: str) -> Explanation:
    """The probability that `text` is positive, and the push of each of its words and n-grams."""
    shown = clean(text)
    words = list(re.finditer(WORD.pattern, shown, re.IGNORECASE))
    if [word.group().lower() for word in words] != tokenize(shown):  # a letter whose lower case is longer
        shown = shown.lower()
        words = list(WORD.finditer(shown))
    tokens = [word.group().lower() for word in words]
    ids = classify.vocabulary.encode([tokens], classify.max_tokens).to(classify.device)
    read = min(len(tokens), classify.max_tokens)
    pushes = contributions(classify.model, ids) if read else {}
    # Each word's share: its own push, and an equal part of the push of each n-gram it belongs to.
    per_word = torch.zeros(read)
    by_text: dict[str, float] = {}
    for n, row in pushes.items():
        for start, push in enumerate(row.tolist()):
            per_word[start : start + n] += push / n
            ngram = " ".join(tokens[start : start + n])
            by_text[ngram] = by_text.get(ngram, 0.0) + push
    segments, end = [], 0
    for place, word in enumerate(words):
        segments += [(shown[end : word.start()], None)] if word.start() > end else []
        segments.append((word.group(), float(per_word[place]) if place < read else None))
        end = word.end()
    segments += [(shown[end:], None)] if end < len(shown) else []
    strongest = sorted(by_text.items(), key=lambda item: -abs(item[1]))
    positive = float(torch.sigmoid(log_odds(classify.model, ids))[0])  # the ids read above: no second tokenizing
    return Explanation(positive, segments, strongest, read)
