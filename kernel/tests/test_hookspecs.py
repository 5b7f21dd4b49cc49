"""The hook contract keeps its own rules: prefixed, documented, exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from dataflare.kernel import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name, value in vars(hookspecs).items() if hasattr(value, "dataflare_spec"))


def test_there_are_hooks_to_check():
    """The spec module is read correctly (guards the tests below from passing on nothing)."""
    assert "dataflare_startup" in HOOKS
    assert len(HOOKS) >= 14


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_prefixed_and_documented(hook):
    """Each hook starts with dataflare_ and says when it is called, with an Args section."""
    function = getattr(hookspecs, hook)
    assert hook.startswith("dataflare_")
    doc = inspect.getdoc(function) or ""
    assert len(doc.splitlines()[0]) > 20, f"{hook} needs a summary line"
    if inspect.signature(function).parameters:
        assert "Args:" in doc, f"{hook} must document its arguments"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_a_test(hook):
    """Some test outside this file implements the hook (datasette's meta-test)."""
    here = Path(__file__).resolve()
    sources = [
        path.read_text()
        for path in [*ROOT.glob("kernel/tests/**/*.py"), *ROOT.glob("tests/**/*.py")]
        if path.resolve() != here
    ]
    assert any(f"def {hook}(" in source for source in sources), f"no test implements {hook}"


def test_every_hook_is_in_all():
    """The spec module's __all__ lists every hook."""
    assert set(HOOKS) <= set(hookspecs.__all__)
