"""A pipeline ready to run: a source, operators in order, sinks, dead letters.

Build one from a file (:func:`~dataflare.streaming.load_pipeline`) or in Python
with the same parts::

    pipeline = (
        Pipeline("orders", GeneratorConnector(GeneratorOptions(profile="orders")))
        .filter(lambda batch: batch.column("amount") >= 100)
        .key_by("customer")
        .window(WindowOperatorSpec(kind="tumbling", size_ms=10_000,
                                   aggregations=(AggregationSpec("n", "count"),)))
        .sink(JsonLinesConnector(FileOptions(path="out.jsonl")))
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dataflare.kernel import Kernel, RecordBatch
from dataflare.streaming._connector import Connector
from dataflare.streaming._op_basic import BatchFunction, KeyByOperator, PythonOperator
from dataflare.streaming._op_wasm import WasmOperator
from dataflare.streaming._operator import Operator
from dataflare.streaming._spec_window import WindowOperatorSpec

__all__ = ("Pipeline",)


class Pipeline:
    """Source → operators → sinks; the builder methods return the pipeline itself."""

    def __init__(self, name: str, source: Connector) -> None:
        self.name = name
        self.source = source
        self.operators: list[Operator] = []
        self.sinks: list[Connector] = []
        self.dead_letter: Connector | None = None

    def __repr__(self) -> str:
        steps = " -> ".join(
            [self.source.name, *(op.name for op in self.operators), *(s.name for s in self.sinks)]
        )
        return f"Pipeline({self.name!r}: {steps})"

    def apply(self, operator: Operator) -> Pipeline:
        """Add any operator."""
        self.operators.append(operator)
        return self

    def map_batches(self, function: BatchFunction, *, name: str | None = None) -> Pipeline:
        """Add a Python function of a whole batch (return ``None`` to drop it)."""
        return self.apply(PythonOperator(function, name=name))

    def filter(
        self, predicate: Callable[[RecordBatch], npt.ArrayLike], *, name: str | None = None
    ) -> Pipeline:
        """Keep the records where ``predicate(batch)`` (one boolean per record) is true."""

        def keep(batch: RecordBatch) -> RecordBatch:
            return batch.filter(np.asarray(predicate(batch), dtype=bool))

        return self.apply(PythonOperator(keep, name=name or "filter"))

    def key_by(self, column: str) -> Pipeline:
        """Key every record by a typed column."""
        return self.apply(KeyByOperator(column))

    def wasm(
        self,
        package: Path,
        *,
        params: Mapping[str, str] | None = None,
        kernel: Kernel | None = None,
        name: str | None = None,
    ) -> Pipeline:
        """Add a signed WASM plugin; ``kernel`` decides trust (its trust store and policy)."""
        return self.apply(WasmOperator(package, params=params, kernel=kernel, name=name))

    def window(self, spec: WindowOperatorSpec, *, name: str | None = None) -> Pipeline:
        """Add keyed windows with aggregations."""
        # Imported here: the windows module is only needed by pipelines that window.
        from dataflare.streaming._op_window import WindowOperator

        return self.apply(WindowOperator(spec, name=name))

    def sink(self, connector: Connector) -> Pipeline:
        """Add a sink; every sink receives every output batch."""
        self.sinks.append(connector)
        return self

    def dead_letters(self, connector: Connector) -> Pipeline:
        """Send malformed and rejected records, with their errors, to ``connector``."""
        self.dead_letter = connector
        return self
