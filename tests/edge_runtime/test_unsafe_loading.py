"""No code path unpickles data: every ``torch.load`` passes ``weights_only=True``; nothing reads a
pickle (``pickle``/``joblib``/``dill``/``shelve``/``marshal``), no ``eval``/``exec``, ``yaml.load`` without a safe loader, or ``numpy.load(allow_pickle=True)``.

A checkpoint, bundle or configuration comes from a site or a download; unpickling one runs
whatever code it carries. This scans the repository's own sources (not the virtual environment),
so a new module is checked the day it is added.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
PACKAGES = ("edge_runtime", "train", "export", "benchmarks", "tests", "deploy")
UNPICKLING_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}
READERS = {"load", "loads", "Unpickler", "open"}  # writing a pickle (a hostile test payload) is allowed


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py") if ".venv" not in p.parts)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str) -> list[str]:
    """Every unsafe load in ``source``, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLING_MODULES:
            found += [
                f"{node.lineno}: from {node.module} import {a.name}" for a in node.names if a.name in READERS
            ]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            found.append(f"{node.lineno}: {func.id}()")
        if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
            continue
        owner, attr = func.value.id, func.attr
        if owner in UNPICKLING_MODULES and attr in READERS:
            found.append(f"{node.lineno}: {owner}.{attr}()")
        if owner == "torch" and attr == "load" and not _is_true(_keyword(node, "weights_only")):
            found.append(f"{node.lineno}: torch.load without weights_only=True")
        if owner in ("np", "numpy") and attr == "load" and _is_true(_keyword(node, "allow_pickle")):
            found.append(f"{node.lineno}: numpy.load(allow_pickle=True)")
        if owner == "yaml" and attr in ("load", "load_all", "unsafe_load", "full_load"):
            loader = _keyword(node, "Loader")
            if not (isinstance(loader, ast.Attribute) and loader.attr in ("SafeLoader", "CSafeLoader")):
                found.append(f"{node.lineno}: yaml.{attr} without SafeLoader")
    return found


def test_the_repository_never_unpickles():
    offenders = [
        f"{path.relative_to(REPO)}:{hit}" for path in _sources() for hit in unsafe_calls(path.read_text())
    ]
    assert not offenders, "unsafe loading:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "code",
    [
        "import torch\ntorch.load('x.pt')",
        "import torch\ntorch.load('x.pt', weights_only=False)",
        "import pickle\npickle.loads(b'')",
        "from pickle import loads",
        "import joblib\njoblib.load('m.joblib')",
        "import shelve\nshelve.open('db')",
        "eval('1+1')",
        "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
        "import yaml\nyaml.load(open('a'))",
    ],
)
def test_the_scan_catches_each_unsafe_form(code):
    assert unsafe_calls(code)


def test_the_scan_accepts_the_safe_forms():
    code = (
        "import pickle, torch, yaml, numpy as np\npickle.dumps(1)\n"
        "torch.load('x.pt', map_location='cpu', weights_only=True)\n"
        "model.eval()\nyaml.safe_load('a: 1')\nnp.load('a.npy')\n"
    )
    assert unsafe_calls(code) == []
