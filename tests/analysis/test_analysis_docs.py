"""The examples in the analysis docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import voxelwise.analysis

MODULES = [voxelwise.analysis.__name__] + [
    f"{voxelwise.analysis.__name__}.{m.name}"
    for m in pkgutil.iter_modules(voxelwise.analysis.__path__)
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_names_are_documented():
    for name in voxelwise.analysis.__all__:
        obj = getattr(voxelwise.analysis, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"
