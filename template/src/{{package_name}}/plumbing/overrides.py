"""Command-line overrides of the wrong type, caught before they reach the code as a traceback.

The YAML files in configs/ carry no types, so Hydra accepts `optim.lr=abc` and the error would come
from deep inside PyTorch. Each `key=value` on the command line is checked against the value the
same key has without it: a number stays a number, a list a list, true/false a boolean. And a key
appended with `+key=value` must be one the code reads: Hydra would add `+optim.lrr=0.5` to the
config and the run would ignore it.
"""

import difflib

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from .errors import UserError


def check_override_types(
    hydra_cfg: DictConfig, config_name: str = "train", words: tuple[str, ...] = (), appendable: tuple[str, ...] = ()
) -> None:
    """Raise a UserError for the first override whose value has another type than the key's default,
    or that appends a key nothing reads.

    words: keys whose value may be a word where the default is a number (trainer.precision: 32 or
    bf16); the code that reads them checks their values. appendable: where +key=value adds an entry
    on purpose (search.py's hparams_search.params: one more setting to search).
    """
    overrides = OverridesParser.create().parse_overrides(list(hydra_cfg.overrides.task))
    groups = hydra_cfg.runtime.choices
    # The config as the command line composes it, but with the defaults of the keys it sets.
    base = compose(config_name, overrides=[o.input_line for o in overrides if o.key_or_group in groups])
    for override in overrides:
        key = override.key_or_group
        if key in groups or key.startswith("hydra.") or override.is_delete() or key in words:
            continue  # a config group, Hydra's own settings, a deleted key: nothing to compare with
        # +key=value; ++key=value (is_force_add) adds or sets a key on purpose
        if override.is_add() and not key.startswith(appendable):
            check_appended(override.input_line, key, base)
        if override.is_sweep_override():
            continue  # -m a=1,2: each run of the sweep is checked on its own
        default, value = OmegaConf.select(base, key), override.value()
        expected = expected_kind(default, value)
        if expected:
            example = f"{key}={as_override(default)}"
            raise UserError(f"{key}={override.get_value_element_as_str()} must be {expected}, like {example}.")


def check_appended(line: str, key: str, base: DictConfig) -> None:
    """`+key=value` adds a key that is not in the config: no code reads it, so the run would ignore it."""
    value = line.split("=", 1)[-1]
    close = difflib.get_close_matches(key, setting_names(OmegaConf.to_container(base)), n=1)
    meant = f"write {close[0]}={value} if that was meant" if close else "run with --cfg job to list the settings"
    raise UserError(
        f"{line} is not a setting, so nothing would read it; {meant}, or ++{key}={value} to add a key "
        "that code of your own reads."
    )


def setting_names(tree: dict, prefix: str = "") -> list[str]:
    """Every key of a config as the command line writes it: optim.lr, trainer.max_epochs, ..."""
    names = []
    for key, value in tree.items():
        names.append(f"{prefix}{key}")
        if isinstance(value, dict):
            names += setting_names(value, f"{prefix}{key}.")
    return names


def expected_kind(default, value) -> str | None:
    """What `value` should be, judging by `default`; None when it fits (or anything goes)."""
    if value is None or default is None:
        return None  # null by default (trainer.grad_clip): the run's own checks know the kind (check_number)
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if isinstance(default, float):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if OmegaConf.is_list(default):
        return None if isinstance(value, list) else "a list in brackets"
    return None


def as_override(value) -> str:
    """A value as it is written on the command line: true, null, 0.003, [0.9,0.999]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if OmegaConf.is_list(value):
        return "[" + ",".join(as_override(item) for item in value) + "]"
    return str(value)
