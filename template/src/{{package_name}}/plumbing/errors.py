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
    if whole:
        kind = "a whole number"
    elif isinstance(value, float) and not math.isfinite(value):
        kind = "a finite number"
    else:
        kind = "a number"
    if least is not None:
        kind += f" of at least {least}"
    if above is not None:
        kind += f" above {above}"
    if null:
        kind += f", or null ({null})"
    shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else value  # as typed
    raise UserError(f"{key}={shown} must be {kind}.")
