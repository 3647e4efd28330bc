"""From review text to token ids: a simple word tokenizer, and a vocabulary learnt from training reviews."""

import re
from collections import Counter
from collections.abc import Iterable
from itertools import chain

import torch

PAD, UNK = 0, 1  # id 0 fills the end of short reviews; id 1 stands for words outside the vocabulary
# Lower-case words and numbers (with inner apostrophes: don't, 90's), and "!" and "?", which carry
# sentiment. Other punctuation is dropped. Changing it changes TOKENIZER, which keys the cache.
WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[!?]")
TOKENIZER = "regex-words-v1"


def tokenize(text: str) -> list[str]:
    """'A <b>great</b> film!' -> ['a', 'b', 'great', 'b', 'film', '!']"""
    return WORD.findall(text.lower())


class Vocabulary:
    """The words a model knows, each with an id: 0 is padding, 1 unknown, then by frequency."""

    def __init__(self, words: Iterable[str]):
        self.words = ["<pad>", "<unk>", *words]
        self.ids = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def build(cls, tokenized: Iterable[list[str]], min_count: int, max_size: int) -> "Vocabulary":
        """The `max_size` most frequent words that occur at least `min_count` times (ties: alphabetical)."""
        counts = Counter(chain.from_iterable(tokenized))
        frequent = sorted((word for word, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(frequent[:max_size])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokenized: list[list[str]], max_tokens: int) -> torch.Tensor:
        """Token ids as int32 [reviews, longest review], cut at `max_tokens`, padded with PAD at the end."""
        rows = [[self.ids.get(token, UNK) for token in tokens[:max_tokens]] for tokens in tokenized]
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
        # At least one column: a review without a single word is one padding token, which the models read as empty.
        ids = torch.full((len(rows), max(1, max(map(len, rows), default=0))), PAD, dtype=torch.int32)
        # Row-major boolean indexing fills each row's first `length` places, in order.
        filled = torch.arange(ids.shape[1]) < lengths[:, None]
        ids[filled] = torch.tensor(list(chain.from_iterable(rows)), dtype=torch.int32)
        return ids


def lengths_of(ids: torch.Tensor) -> torch.Tensor:
    """The number of tokens of each review in a padded [reviews, length] tensor."""
    return (ids != PAD).sum(dim=1)
