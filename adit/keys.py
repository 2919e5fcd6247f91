"""``key=value`` arguments turned into a stage's own command line, and the keys listed for ``--help``.

The keys are read from the stage's argparse parser (an option ``--max-drop`` is the key ``max_drop``, a
positional ``video`` the key ``video``) and from its pydantic configuration, so adit holds no second
list of options: what the stage accepts is what ``adit VERB --help`` shows.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from edge_runtime.errors import ConfigError

# positionals that collect the stage's configuration overrides (``optim.epochs=3``)
OVERRIDE_DESTS = ("overrides", "thresholds")
TRUE, FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True)
class Key:
    name: str
    action: argparse.Action


def subparser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser:
    """``parser`` itself, or its sub-command ``name`` (``fit`` of ``python -m train``)."""
    if name is None:
        return parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def keys_of(parser: argparse.ArgumentParser) -> dict[str, Key]:
    """Every option and positional of ``parser`` by its key name (``--help`` and overrides left out)."""
    keys = {}
    for action in parser._actions:
        if (
            isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
            or action.dest in OVERRIDE_DESTS
        ):
            continue
        keys[action.dest] = Key(action.dest, action)
    return keys


def takes_overrides(parser: argparse.ArgumentParser) -> bool:
    return any(action.dest in OVERRIDE_DESTS for action in parser._actions)


def to_argv(verb: str, parser: argparse.ArgumentParser, items: list[str]) -> list[str]:
    """``key=value`` items (and any ``--option`` passed as is) as ``parser``'s argv; ConfigError on an unknown
    key when the stage takes no configuration overrides."""
    keys, overrides_ok = keys_of(parser), takes_overrides(parser)
    options: list[str] = []
    positionals: dict[str, list[str]] = {}
    overrides: list[str] = []
    for item in items:
        if item.startswith("-"):
            options.append(item)
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"adit {verb}: {item!r} is not key=value (see `adit {verb} --help`)")
        key = keys.get(name.replace("-", "_"))
        if key is None:
            if overrides_ok:
                overrides.append(item)
                continue
            raise ConfigError(f"adit {verb}: unknown key {name!r}; keys: {', '.join(sorted(keys))}")
        values = value.split(",") if key.action.nargs in ("+", "*") else [value]
        _check_values(verb, name, key.action, values)
        if not key.action.option_strings:
            positionals[key.name] = values
        elif isinstance(key.action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            if value.lower() not in TRUE + FALSE:
                raise ConfigError(f"adit {verb}: {name}={value!r} is not true or false")
            wanted = value.lower() in TRUE
            if wanted == isinstance(key.action, argparse._StoreTrueAction):
                options.append(key.action.option_strings[0])
        elif isinstance(key.action, argparse._AppendAction):
            options += [part for v in values for part in (key.action.option_strings[0], v)]
        else:
            options += [key.action.option_strings[0], *values]
    ordered = [
        v for action in parser._actions if action.dest in positionals for v in positionals[action.dest]
    ]
    return options + ordered + overrides


def _check_values(verb: str, name: str, action: argparse.Action, values: list[str]) -> None:
    """Each value through the option's argparse type, so a refusal names the key (``threads: '0' must be a
    positive integer``) rather than the stage's ``--threads`` that the user never typed."""
    if not callable(action.type):
        return
    for value in values:
        try:
            action.type(value)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ConfigError(f"adit {verb}: {name}: {exc}") from None


def describe(parser: argparse.ArgumentParser) -> list[str]:
    """One line per key: ``name=VALUE  help (default)``."""
    lines = []
    for key in keys_of(parser).values():
        action = key.action
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            value = "true|false"
        elif action.choices:
            value = "|".join(str(c) for c in action.choices)
        else:
            value = (action.metavar if isinstance(action.metavar, str) else None) or action.dest.upper()
        required = " (required)" if action.required or not action.option_strings else ""
        default = (
            f" (default {action.default})"
            if action.default not in (None, False, [], argparse.SUPPRESS) and not required
            else ""
        )
        lines.append(f"  {key.name + '=' + value:<28} {action.help or ''}{required}{default}".rstrip())
    return lines


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of a configuration model as ``path  type (default): description``, nested sections
    and list items (``cameras.N.source``) spelled out."""
    lines = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = _model_in(field.annotation)
        if nested is not None:
            lines += config_keys(nested[0], f"{path}.N." if nested[1] else f"{path}.")
            continue
        default = (
            ""
            if field.is_required()
            else f" (default {_short(field.get_default(call_default_factory=True))})"
        )
        lines.append(f"  {path:<34} {field.description or ''}{default}".rstrip())
    return lines


def _model_in(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The configuration model inside a field's type (and whether it is a list of them), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (list, tuple) and len(args) == 1 and _model_in(args[0]):
        return _model_in(args[0])[0], True  # type: ignore[index]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _model_in(args[0])
    return None


def _short(value: Any) -> str:
    text = str(value.model_dump(mode="json") if isinstance(value, BaseModel) else value)
    return text if len(text) <= 40 else text[:37] + "..."
