"""The networks: a fastText-style bag of n-grams, Naive Bayes regression (NBSVM), the two together, and
a bidirectional LSTM. Token ids in, 2 logits out."""

import torch
from torch import nn

from .plumbing.errors import UserError
from .text import PAD, lengths_of

NUM_CLASSES = 2  # negative, positive
HASH_PRIME = 1_000_003  # mixes the ids of an n-gram into one number before it is reduced to a bucket


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Drop the columns that are padding in every review of the batch (most are, without bucketing)."""
    return tokens[:, : max(1, int(lengths_of(tokens).max()))].long()


def hashed_ngrams(tokens: torch.Tensor, n: int, first_row: int, buckets: int) -> torch.Tensor:
    """Ids of the n-grams (n consecutive tokens) of each review: first_row + hash(ids) % buckets.

    [B, L] -> [B, L - n + 1]; an n-gram that reaches into the padding gets PAD. Hashing gives
    every possible n-gram a row without a dictionary of the millions there are (the
    "hashing trick"); the few that share a row cost little accuracy.
    """
    length = tokens.shape[1] - n + 1
    code = torch.zeros_like(tokens[:, :length])
    for k in range(n):
        code = code * HASH_PRIME + tokens[:, k : k + length]  # int64 overflow wraps: still a fine hash
    ids = first_row + code.remainder(buckets)
    return ids.masked_fill(tokens[:, n - 1 :] == PAD, PAD)  # padding sits at the end of each row


class BagOfNgrams(nn.Module):
    """fastText (Joulin et al., 2017): average the embeddings of all words and n-grams, then classify.

    Word ids use the first vocab_size + 2 rows of one embedding table; hashed n-grams share the
    next `buckets` rows. EmbeddingBag averages without building the [B, L, dim] tensor.
    """

    def __init__(self, vocab_size: int, dim: int = 16, ngrams: int = 2, buckets: int = 2**18, dropout: float = 0.0):
        super().__init__()
        self.words, self.ngrams, self.buckets = vocab_size + 2, ngrams, buckets
        rows = self.words + (buckets if ngrams > 1 else 0)
        self.embedding = nn.EmbeddingBag(rows, dim, mode="mean", padding_idx=PAD)
        nn.init.uniform_(self.embedding.weight, -1 / dim, 1 / dim)  # small, as fastText starts
        with torch.no_grad():
            self.embedding.weight[PAD].zero_()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, NUM_CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = trim_padding(tokens)
        features = [tokens] + [hashed_ngrams(tokens, n, self.words, self.buckets) for n in range(2, self.ngrams + 1)]
        return self.classifier(self.dropout(self.embedding(torch.cat(features, dim=1))))


def distinct_per_row(ids: torch.Tensor) -> torch.Tensor:
    """Each row's ids once each, in ascending order; the repeats become PAD. [B, L] -> [B, L]"""
    ids, _ = ids.sort(dim=1)
    repeat = torch.zeros_like(ids, dtype=torch.bool)
    repeat[:, 1:] = ids[:, 1:] == ids[:, :-1]
    return ids.masked_fill(repeat, PAD)


class NaiveBayesRegression(nn.Module):
    """Logistic regression on the words and n-grams a review holds, each scaled by its Naive Bayes
    log-count ratio: NBSVM (Wang and Manning, 2012), here with the logistic loss.

    The ratio of an n-gram is log(its share among the n-grams of positive reviews / its share among
    those of negative reviews), each count plus one (Laplace smoothing): "excellent" gets a large
    positive ratio, "waste" a large negative one. count_training_data computes the ratios from the
    training reviews before gradient descent; they are a buffer, so checkpoints keep them. A review
    counts each n-gram once (presence, not frequency, as NBSVM does). Hashed n-grams of each order
    get their own `buckets` rows after the words'.
    """

    def __init__(self, vocab_size: int, ngrams: int = 3, buckets: int = 2**21, dropout: float = 0.3):
        super().__init__()
        self.words, self.ngrams, self.buckets, self.dropout = vocab_size + 2, ngrams, buckets, dropout
        rows = self.words + (ngrams - 1) * buckets
        self.register_buffer("ratios", torch.zeros(rows))
        self.weight = nn.EmbeddingBag(rows, 1, mode="sum", padding_idx=PAD)
        nn.init.zeros_(self.weight.weight)  # learnt from zero (all ones would start from Naive Bayes itself)
        self.bias = nn.Parameter(torch.zeros(1))

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The distinct rows of the words and n-grams of each review, PAD where there are none. [B, L'] int64"""
        tokens = trim_padding(tokens)
        first_rows = {n: self.words + (n - 2) * self.buckets for n in range(2, self.ngrams + 1)}
        orders = [hashed_ngrams(tokens, n, first_row, self.buckets) for n, first_row in first_rows.items()]
        return distinct_per_row(torch.cat([tokens, *orders], dim=1))

    @torch.no_grad()
    def count_training_data(self, tokens: torch.Tensor, labels: torch.Tensor, chunk: int = 1000) -> None:
        """Set the ratios from the training reviews (token ids [N, L], labels [N]: 1 positive, 0 negative)."""
        positive, negative = torch.ones_like(self.ratios), torch.ones_like(self.ratios)
        for start in range(0, len(tokens), chunk):
            features, label = self.features(tokens[start : start + chunk]), labels[start : start + chunk]
            positive += torch.bincount(features[label == 1].flatten(), minlength=len(positive))
            negative += torch.bincount(features[label == 0].flatten(), minlength=len(negative))
        ratios = (positive / positive.sum()).log() - (negative / negative.sum()).log()
        self.ratios.copy_(ratios.masked_fill(torch.arange(len(ratios), device=ratios.device) == PAD, 0.0))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        features = self.features(tokens)
        if self.training and self.dropout:  # forget a share of each review's n-grams: less reliance on any one
            features = features.masked_fill(torch.rand(features.shape, device=features.device) < self.dropout, PAD)
        score = self.weight(features, per_sample_weights=self.ratios[features]).squeeze(1) + self.bias
        return torch.stack([torch.zeros_like(score), score], dim=1)  # logits of negative and positive


class BagEnsemble(nn.Module):
    """The fastText bag and the Naive Bayes regression, trained together: the mean of their
    log-probabilities (a geometric mean of their predictions). The two read a review differently
    (learnt vectors of words and pairs; weighted presence of words, pairs and triples) and err on
    different reviews, so the pair is more accurate than either."""

    def __init__(self, bag: BagOfNgrams, naive_bayes: NaiveBayesRegression):
        super().__init__()
        self.bag, self.naive_bayes = bag, naive_bayes

    def count_training_data(self, tokens: torch.Tensor, labels: torch.Tensor) -> None:
        self.naive_bayes.count_training_data(tokens, labels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return (self.bag(tokens).log_softmax(dim=1) + self.naive_bayes(tokens).log_softmax(dim=1)) / 2


class BiLSTMClassifier(nn.Module):
    """Embeddings -> bidirectional LSTM -> max- and mean-pooling over the words -> linear.

    Two one-way LSTMs read the review: one from the first word, one from the last. Padding sits
    at the end of each row, so the first never sees it before a real word; the second reads each
    review reversed within its own length (padding stays at the end). The outputs are exactly
    those of unpadded reviews, and both LSTMs run as whole-batch kernels: on a CPU about 20x
    faster to train than packed sequences (bench/HISTORY.md of the deep-capstone template).
    Pooling over all positions (not only the last state) lets a strong word anywhere count.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int = 128, hidden: int = 128, layers: int = 1, dropout: float = 0.3
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size + 2, embedding_dim, padding_idx=PAD)
        lstm_dropout = dropout if layers > 1 else 0.0
        self.forward_lstm = nn.LSTM(embedding_dim, hidden, num_layers=layers, batch_first=True, dropout=lstm_dropout)
        self.backward_lstm = nn.LSTM(embedding_dim, hidden, num_layers=layers, batch_first=True, dropout=lstm_dropout)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * 2 * hidden, NUM_CLASSES)  # (max, mean) x (forward, backward)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = trim_padding(tokens)
        lengths = lengths_of(tokens).clamp(min=1)  # an empty review reads one padding token
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        real = positions < lengths[:, None]  # [B, L]
        # Position i of a reversed review is word length - 1 - i; padding positions stay where they are.
        reverse = torch.where(real, lengths[:, None] - 1 - positions, positions)
        words = self.dropout(self.embedding(tokens))
        forward, _ = self.forward_lstm(words)
        backward, _ = self.backward_lstm(words.gather(1, reverse[..., None].expand_as(words)))
        backward = backward.gather(1, reverse[..., None].expand(-1, -1, backward.shape[2]))  # back in word order
        outputs = torch.cat([forward, backward], dim=2)
        mean = (outputs * real[..., None]).sum(dim=1) / lengths[:, None].to(outputs.dtype)
        top = outputs.masked_fill(~real[..., None], torch.finfo(outputs.dtype).min).amax(dim=1)
        return self.classifier(self.dropout(torch.cat([top, mean], dim=1)))


def build_model(cfg) -> nn.Module:
    if cfg.name == "bag":
        return BagOfNgrams(cfg.vocab_size, cfg.dim, cfg.ngrams, cfg.buckets, cfg.dropout)
    if cfg.name == "naive_bayes":
        return NaiveBayesRegression(cfg.vocab_size, cfg.ngrams, cfg.buckets, cfg.dropout)
    if cfg.name == "ensemble":
        bag, naive_bayes = cfg.bag, cfg.naive_bayes
        return BagEnsemble(
            BagOfNgrams(cfg.vocab_size, bag.dim, bag.ngrams, bag.buckets, bag.dropout),
            NaiveBayesRegression(cfg.vocab_size, naive_bayes.ngrams, naive_bayes.buckets, naive_bayes.dropout),
        )
    if cfg.name == "lstm":
        return BiLSTMClassifier(cfg.vocab_size, cfg.embedding_dim, cfg.hidden, cfg.layers, cfg.dropout)
    names = "bag, naive_bayes, ensemble or lstm"
    raise UserError(f"model.name={cfg.name} is not {names}; pick one with model=NAME (configs/model/).")
