"""One section of the benchmark report: a title, paragraphs and a table, rendered as Markdown and HTML."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    right: set[int] = field(default_factory=set)  # numeric columns, right-aligned


def fmt(value: object, spec: str = ".2f", suffix: str = "") -> str:
    """A figure for a table cell; a dash where it was not measured."""
    return "–" if value is None else f"{value:{spec}}{suffix}"
