"""Tell the sentiment of any text: python predict.py "A review..." [more texts] [ckpt=PATH] [device=auto].

Also `python -m <package>.predict ...`, and `-` reads the text from standard input. Settings are
key=value words, as for evaluate.py; ckpt is a checkpoint or a run folder, the newest run's best.pt
unless set.
"""

import argparse
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .data import clean
from .model import build_model
from .plumbing import runtime
from .plumbing.checkpoint import load_checkpoint
from .plumbing.errors import UserError
from .plumbing.run_paths import resolve_checkpoint
from .task import CAPSTONE, CLASSES
from .text import Vocabulary, tokenize


class SentimentClassifier:
    """A trained model with the vocabulary it was trained with: text in, P(positive) out."""

    def __init__(self, ckpt: str | Path | None = None, device: str = "auto"):
        self.checkpoint = resolve_checkpoint(ckpt)
        state = load_checkpoint(self.checkpoint, CAPSTONE)
        trained = OmegaConf.create(state["config"])
        self.max_tokens = trained.data.max_tokens
        self.vocabulary = Vocabulary(state["data_state"]["vocabulary"])  # the words the model learnt
        self.device = runtime.pick_device(device)
        self.model = build_model(trained.model)
        self.model.load_state_dict(state["model"])
        self.model.to(self.device).eval()

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> list[float]:
        """The probability that each text is positive."""
        if not texts:
            return []
        tokens = self.vocabulary.encode([tokenize(clean(text)) for text in texts], self.max_tokens)
        logits = self.model(tokens.to(self.device))
        return logits.float().softmax(dim=1)[:, 1].tolist()


# predict.py's settings, written key=value as evaluate.py's are; ckpt None: the newest run's best.pt.
SETTINGS = {"ckpt": None, "device": "auto"}


def split_settings(words: list[str]) -> tuple[list[str], dict]:
    """predict.py's words: the texts, and the SETTINGS that key=value words change."""
    settings, texts = dict(SETTINGS), []
    for word in words:
        key, equals, value = word.partition("=")
        if equals and key in SETTINGS:
            settings[key] = value or SETTINGS[key]
        else:
            texts.append(word)
    if not texts:
        raise UserError('Which texts? Pass one or more in quotes, e.g. python predict.py "A moving story." ckpt=PATH.')
    return texts, settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Tell whether texts are positive or negative, with a trained model.",
        usage='python predict.py "TEXT"... [ckpt=PATH] [device=auto|cpu|cuda|mps]',
        epilog="ckpt: a checkpoint or run folder; without it, the newest run's best.pt.",
    )
    parser.add_argument("words", nargs="+", metavar="TEXT", help='texts in quotes ("-" reads one from stdin), settings')
    try:
        texts, settings = split_settings(parser.parse_args(argv).words)
        classify = SentimentClassifier(settings["ckpt"], settings["device"])
    except UserError as error:  # a wrong path or file: the message says what to do
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"Checkpoint: {classify.checkpoint}", file=sys.stderr)
    texts = [sys.stdin.read() if text == "-" else text for text in texts]
    for text, positive in zip(texts, classify(texts), strict=True):
        label, probability = (CLASSES[1], positive) if positive > 0.5 else (CLASSES[0], 1 - positive)
        excerpt = " ".join(text.split())
        print(f"{label:<8}  {probability:.3f}  {excerpt[:70] + ' ...' if len(excerpt) > 70 else excerpt}")


if __name__ == "__main__":
    main()
