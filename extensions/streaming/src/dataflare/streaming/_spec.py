"""The ``pipeline:`` config section: a pipeline as a file describes it.

A pipeline file is a kernel config file, so ``dataflare validate`` checks it and
reports every problem with its line and column::

    pipeline:
      name: orders
      source: {type: jsonl, options: {path: orders.jsonl, columns: [amount]}}
      operators:
        - wasm: {uses: plugins/acme-high-value-0.1.0.dfp, params: {min: "100"}}
        - key_by: {column: customer}
        - window:
            kind: tumbling
            size_ms: 60000
            aggregations: [{output: orders, function: count}]
      sinks:
        - {type: jsonl, options: {path: out.jsonl}}
      dead_letter: {type: jsonl, options: {path: dead.jsonl}}

Every field has a default, so config files of other extensions stay valid; a
file that gives sinks without a source (or the reverse) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from dataflare.streaming._spec_window import WindowOperatorSpec

__all__ = (
    "ConnectorSpec",
    "CustomOperatorSpec",
    "KeyBySpec",
    "OperatorSpec",
    "PipelineSpec",
    "PythonOperatorSpec",
    "TestCaseSpec",
    "WasmOperatorSpec",
)


def _check_options(
    spec: ConnectorSpec, _: attrs.Attribute[Any], options: Mapping[str, Any]
) -> None:
    # Imported here: the connectors import the spec module's neighbours.
    from dataflare.streaming._connectors import check_builtin_options

    check_builtin_options(spec.type, options)


@attrs.frozen
class ConnectorSpec:
    """A source, sink or dead-letter destination: a connector type and its options."""

    type: str
    """The connector's registered name: jsonl, csv, stdin, stdout, generator, nats, discard..."""
    options: Mapping[str, Any] = attrs.field(factory=dict, validator=_check_options)
    """The connector's own options (``dataflare streaming connectors`` lists them)."""


@attrs.frozen
class WasmOperatorSpec:
    """A signed WASM plugin package applied to every batch."""

    uses: str
    """Path to the signed ``.dfp`` package, relative to the pipeline file."""
    params: Mapping[str, str] = attrs.field(factory=dict)
    """Parameters overriding the manifest's defaults (strings, as the ABI passes them)."""


def _check_function(_: object, __: attrs.Attribute[str], value: str) -> None:
    module, _sep, attribute = value.partition(":")
    if not module or not attribute:
        raise ValueError(f"expected 'package.module:function', got {value!r}")


@attrs.frozen
class PythonOperatorSpec:
    """A Python function over whole batches: ``fn(batch) -> batch``."""

    function: str = attrs.field(validator=_check_function)
    """``package.module:function``; with ``params`` it is a factory called with them."""
    params: Mapping[str, Any] = attrs.field(factory=dict)
    """Keyword arguments for the factory; empty means ``function`` is the batch function."""


@attrs.frozen
class KeyBySpec:
    """Re-key every record by a typed column (vectorised: no Python step per record)."""

    column: str
    """The typed column whose value becomes the key (as decimal text)."""


@attrs.frozen
class CustomOperatorSpec:
    """An operator another extension registered through ``dataflare_operators``."""

    type: str
    """The registered operator name."""
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """Passed to the operator's factory."""


_KINDS = ("wasm", "python", "key_by", "window", "operator")


def _exactly_one(spec: OperatorSpec, _: attrs.Attribute[Any], __: Any) -> None:
    given = [kind for kind in _KINDS if getattr(spec, kind) is not None]
    if len(given) != 1:
        got = ", ".join(given) or "none"
        raise ValueError(
            f"an operator is exactly one of {', '.join(_KINDS)}; got {got} (or only invalid ones)"
        )


@attrs.frozen
class OperatorSpec:
    """One step between source and sinks: exactly one of its kinds is given."""

    name: str | None = attrs.field(default=None, validator=_exactly_one)
    """A name for logs, statistics and dead letters; defaults to ``<kind>-<position>``."""
    wasm: WasmOperatorSpec | None = None
    """A signed WASM transform."""
    python: PythonOperatorSpec | None = None
    """A Python batch function."""
    key_by: KeyBySpec | None = None
    """Re-key records by a typed column."""
    window: WindowOperatorSpec | None = None
    """Keyed windows with aggregations."""
    operator: CustomOperatorSpec | None = None
    """An operator contributed by an extension."""

    def kind(self) -> str:
        """Which kind this operator is."""
        return next(kind for kind in _KINDS if getattr(self, kind) is not None)


@attrs.frozen
class TestCaseSpec:
    """A pipeline unit test: records in, the records expected out (``dataflare test``)."""

    name: str
    """What the test checks, shown in the report."""
    input: tuple[Mapping[str, Any], ...] = ()
    """Records as JSON objects: key, value, timestamp, headers, fields (all optional)."""
    expect: tuple[Mapping[str, Any], ...] = ()
    """The records the sinks should receive, in order; only the members given are compared."""
    expect_dead_letters: int | None = None
    """How many records should be dead-lettered, when that is part of the test."""


def _source_for_sinks(spec: PipelineSpec, _: attrs.Attribute[Any], source: Any) -> None:
    if source is None and spec.sinks:
        raise ValueError("a pipeline with sinks needs a (valid) source; add 'source: {type: ...}'")


def _sinks_for_source(spec: PipelineSpec, _: attrs.Attribute[Any], sinks: Any) -> None:
    if spec.source is not None and not sinks:
        raise ValueError("a pipeline needs at least one sink; add 'sinks: [{type: stdout}]'")


@attrs.frozen
class PipelineSpec:
    """A whole pipeline: source, operators in order, sinks, dead letters, tests."""

    name: str = "pipeline"
    """The pipeline's name: it keys its checkpoints, logs and statistics."""
    source: ConnectorSpec | None = attrs.field(default=None, validator=_source_for_sinks)
    """Where records come from."""
    operators: tuple[OperatorSpec, ...] = ()
    """What happens to each batch, in order."""
    sinks: tuple[ConnectorSpec, ...] = attrs.field(default=(), validator=_sinks_for_source)
    """Where the results go; every sink receives every output batch."""
    dead_letter: ConnectorSpec | None = None
    """Where malformed records go, each with its error; default: logged and counted."""
    tests: tuple[TestCaseSpec, ...] = ()
    """Unit tests run by ``dataflare test``."""

    @property
    def defined(self) -> bool:
        """Whether the file defines a pipeline at all (another extension's file may not)."""
        return self.source is not None
