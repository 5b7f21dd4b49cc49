"""The public surface: __all__, the namespace package, the error tree, the hook contract."""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from pathlib import Path

import dataflare.observability as observability
from dataflare.kernel import DataFlareError
from dataflare.observability import errors, hookspecs
from dataflare.observability._contract import ComponentProbe, Telemetry

SRC = Path(__file__).parents[1] / "src"


def test_all_names_exactly_the_public_attributes():
    """Every name in __all__ exists, and every public non-module attribute is listed."""
    public = {
        name
        for name, value in vars(observability).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(observability.__all__) == public
    for name in observability.__all__:
        assert getattr(observability, name) is not None


def test_dataflare_is_a_namespace_package_here():
    """PEP 420: no src/dataflare/__init__.py; py.typed ships."""
    assert not (SRC / "dataflare" / "__init__.py").exists()
    assert (SRC / "dataflare" / "observability" / "py.typed").exists()


def test_the_entry_point_names_the_extension_class():
    (point,) = [p for p in entry_points(group="dataflare.extensions") if p.name == "observability"]
    assert point.load() is observability.ObservabilityExtension


def test_every_error_is_a_dataflare_error_and_documented_in_the_tree():
    classes = [getattr(errors, name) for name in errors.__all__]
    for cls in classes:
        assert issubclass(cls, errors.ObservabilityError)
        assert issubclass(cls, DataFlareError)
        assert cls.__name__ in (errors.__doc__ or "")
        assert cls.__doc__


def test_errors_name_the_thing_and_the_fix():
    assert "observability.metrics.port" in str(errors.AdminServerError("127.0.0.1", 80, "busy"))
    error = errors.NotificationError("oncall", "slow", "refused")
    assert "'oncall'" in str(error)
    assert "'slow'" in str(error)
    assert "--url" in str(errors.ScrapeError("http://x/metrics", "refused"))


def test_every_published_hook_is_documented_and_prefixed():
    hooks = list(hookspecs.__all__)
    assert hooks == ["dataflare_telemetry"]
    for name in hooks:
        assert name.startswith("dataflare_")
        assert "Called" in (getattr(hookspecs, name).__doc__ or "")


def test_the_no_op_contract_accepts_every_call_and_records_nothing():
    """What a component uses without observability: every method exists and does nothing."""
    probe = Telemetry().component("c", "operator")
    assert type(probe) is ComponentProbe
    probe.received(1, 2)
    probe.sent(1, 2)
    probe.discarded(1, "x", intentional=False)
    probe.error("E", "s")
    probe.backpressure(0.5)
    probe.plugin_result("p", object())
    with probe.batch({"a": "b"}) as scope:
        assert scope.metadata({"a": "b"}) == {"a": "b"}
    assert Telemetry().inject({}) == {}
