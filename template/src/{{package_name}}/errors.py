"""Errors a user can cause and fix. train.py and evaluate.py print their message, not a traceback."""

import math

from omegaconf import OmegaConf


class UserError(Exception):
    """Something in the command, the config or the files needs fixing; the message says what."""


def check_number(cfg, key: str, *, whole: bool = False, least=None, above=None, null: str | None = None) -> None:
    """Raise a UserError unless the setting `key` is a finite number (a whole one if `whole`) of at
    least `least` and above `above`; or null, where `null` says what null means.

    Hydra takes any value (optim.lr=nan, trainer.grad_clip=abc), so without this the mistake would
    surface mid-run, as a traceback from deep inside PyTorch.
    """
    value = OmegaConf.select(cfg, key)
    if value is None and null:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if (
        number
        and (isinstance(value, int) or not whole)
        and (least is None or value >= least)
        and (above is None or value > above)
    ):
        return
    finite = "a finite number" if isinstance(value, float) and not math.isfinite(value) else "a number"
    kind = "a whole number" if whole else finite
    bound = f" of at least {least}" if least is not None else f" above {above}" if above is not None else ""
    raise UserError(f"{key}={value} must be {kind}{bound}{f', or null ({null})' if null else ''}.")
