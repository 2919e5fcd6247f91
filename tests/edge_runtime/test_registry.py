"""Every extension point refuses a second entry under the same name."""

import pytest

from edge_runtime.postprocess import register_postprocess
from edge_runtime.registry import Registry, UnknownNameError
from edge_runtime.sinks import register_sink


def test_registry_looks_up_and_lists_by_name():
    registry: Registry[int] = Registry("number")
    registry.register("two")(2)
    registry.register("one")(1)
    assert registry.names() == ["one", "two"] and registry.get("two") == 2 and registry.get("three") is None
    assert "one" in registry and "three" not in registry
    assert registry.require("one") == 1
    with pytest.raises(UnknownNameError, match="unknown number 'three'; choose one of: one, two"):
        registry.require("three")


@pytest.mark.parametrize(("register", "name"), [(register_sink, "jsonl"), (register_postprocess, "boxes")])
def test_a_duplicate_is_refused(register, name):
    with pytest.raises(ValueError, match=f"{name!r} is already registered"):
        register(name)(lambda *args: None)
