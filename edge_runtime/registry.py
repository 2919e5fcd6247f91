"""Named extension points (backends, decoders, sinks, tasks, model builders): one registry type for all.

Each extension point owns a ``Registry``; entries register with its decorator, and registering a
name twice is refused, so two plug-ins can never silently shadow each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from edge_runtime.errors import AditError

T = TypeVar("T")


class UnknownNameError(AditError, KeyError):
    """A name that no entry of the registry has; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class Registry(Generic[T]):
    """Entries of one kind (``kind`` names it in errors), looked up by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name``; duplicates are refused."""

        def decorate(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry
            return entry

        return decorate

    def get(self, name: str) -> T | None:
        return self._entries.get(name)

    def require(self, name: str) -> T:
        """The entry called ``name``; an unknown name is an error that lists the known ones."""
        if name not in self._entries:
            known = ", ".join(self.names()) or "none registered"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; choose one of: {known}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
