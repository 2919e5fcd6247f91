"""Load a YAML file into a typed pydantic model, with ``key.sub=value`` overrides.

Used by every stage's configuration: overrides are applied to the raw mapping once, before
validation, and errors name the field's path and the file, so a bad value stops the program at
start-up rather than deep inside a run. A key given twice in one mapping is refused (YAML says
keys are unique; PyYAML silently keeps the last, so a second ``rules:`` replaced the first), and
so is a document nested deeper than any configuration needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edge_runtime.errors import ConfigError
from edge_runtime.redact import redact

ModelT = TypeVar("ModelT", bound=BaseModel)


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping, naming both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *defaults" may repeat keys on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: the base class names it
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {first})", key_node.start_mark
                )
        return super().construct_mapping(node, deep)


def read_yaml(text: str) -> Any:
    """Parse one YAML document safely; a repeated key or absurd nesting is a ``yaml.YAMLError``."""
    loader = UniqueKeyLoader(text)  # what yaml.safe_load does, with the stricter constructor
    try:
        return loader.get_single_data()
    except RecursionError as exc:
        raise yaml.YAMLError("nested too deeply (a configuration never needs hundreds of levels)") from exc
    finally:
        loader.dispose()


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``a.b.c=value`` set; values are parsed as YAML scalars.

    A numeric part indexes an existing list entry, e.g. ``cameras.0.source=rtsp://...``.
    """
    result = yaml.safe_load(yaml.safe_dump(raw)) or {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"override {item!r}: expected key=value (e.g. epochs=5 or model.artifact=onnx-int8)"
            )
        node: Any = result
        *parents, leaf = key.split(".")
        for depth, part in enumerate(parents):
            if isinstance(node, list):
                node = node[_list_index(node, part, item)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ConfigError(f"override {item!r}: {'.'.join(parents[:depth])!r} is not a section")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"override {item!r}: the value is not valid YAML ({' '.join(str(exc).split())})"
            ) from exc
        if isinstance(node, list):
            node[_list_index(node, leaf, item)] = value
        elif isinstance(node, dict):
            node[leaf] = value
        else:
            raise ConfigError(f"override {item!r}: {'.'.join(parents)!r} is not a section")
    return result


def _list_index(items: list[Any], part: str, item: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"override {item!r}: {part!r} is not an index of a list of {len(items)} entries")
    return int(part)


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
        lines.append(f"  {path or '<root>'}: {error['msg']}")
    return f"{source}: invalid configuration\n" + "\n".join(lines)


def load_config(model: type[ModelT], path: str | Path | None, overrides: list[str] | None = None) -> ModelT:
    """Read ``path`` (or start from defaults when None), apply overrides, validate into ``model``."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{file}: configuration file not found")
        try:
            raw = read_yaml(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of settings")
    try:
        return model.model_validate(apply_overrides(raw, overrides or []))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from exc
    except RecursionError as exc:
        raise ConfigError(f"{source}: nested too deeply to be a configuration") from exc


def save_config(config: BaseModel, path: Path) -> None:
    """Write the resolved configuration next to a run's outputs (passwords in URLs redacted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(redact(config.model_dump(mode="json")), sort_keys=False), encoding="utf-8")
