"""Tests for the extension's error tree (dataflare.events.errors)."""

from __future__ import annotations

import inspect

import pytest

from dataflare.events import errors
from dataflare.kernel import DataFlareError

CLASSES = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_is_an_events_error_and_a_dataflare_error(cls):
    """Catching EventsError, or the kernel's DataFlareError, catches every error here."""
    assert issubclass(cls, errors.EventsError)
    assert issubclass(cls, DataFlareError)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_is_drawn_in_the_tree_and_documented(cls):
    """The module docstring's tree names each class, and each class says when it is raised."""
    assert f"── {cls.__name__} " in (errors.__doc__ or "")
    assert inspect.getdoc(cls)


def test_lookup_errors_read_without_quotes():
    """The KeyError subclasses print their message, not its repr."""
    assert str(errors.DeadLetterNotFoundError("x")).startswith("no unresolved dead letter")
    assert str(errors.UnknownHandlerError("h", ["a"])).startswith("the processor has no handler")
