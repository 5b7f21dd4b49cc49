"""Every error the streaming extension raises, in one tree under the kernel's base.

Catch :class:`StreamingError` for anything this extension refused, or the
kernel's :class:`~dataflare.kernel.errors.DataFlareError` for anything DataFlare
refused. Each error carries the context a caller needs (the pipeline, the
operator, the connector, the state key) as attributes.

::

    DataFlareError                         (dataflare.kernel.errors)
    └── StreamingError                     the streaming extension refused something
        ├── PipelineDefinitionError        a pipeline cannot be built as written (ValueError)
        ├── ConnectorError                 a connector failed to connect, read or write
        ├── OperatorError                  an operator failed on a whole batch
        │   └── ProcessingTimeoutError     a batch took longer than processing_timeout
        ├── StateBackendError              a state backend cannot save, load or delete
        ├── CheckpointError                a checkpoint cannot be written or restored
        ├── PipelineTestError              a pipeline unit test did not produce what it expected
        ├── WindowConfigError              a window, aggregation, watermark or lateness is wrong
        ├── WindowDataError                a batch cannot be aggregated (missing column, bad time)
        ├── WindowStateError               the aggregator was used after finish()
        └── WindowSnapshotError            bytes are not a window snapshot this version can restore

Example::

    try:
        await run_pipeline(pipeline, inputs)
    except OperatorError as exc:
        print(exc.operator, exc)
"""

from __future__ import annotations

from collections.abc import Sequence

from dataflare.kernel.errors import DataError, DataFlareError

__all__ = (
    "CheckpointError",
    "ConnectorError",
    "OperatorError",
    "PipelineDefinitionError",
    "PipelineTestError",
    "ProcessingTimeoutError",
    "StateBackendError",
    "StreamingError",
    "WindowConfigError",
    "WindowDataError",
    "WindowSnapshotError",
    "WindowStateError",
)


class StreamingError(DataFlareError):
    """The streaming extension refused an operation."""


class PipelineDefinitionError(StreamingError, ValueError):
    """A pipeline cannot be built as written; the message names the part and the fix."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        """The part of the pipeline at fault (``pipeline.operators[2].wasm``)."""


class ConnectorError(StreamingError):
    """A connector failed to connect, read or write."""

    def __init__(self, message: str, *, connector: str) -> None:
        super().__init__(f"connector {connector!r}: {message}")
        self.connector = connector
        """The connector's name."""


class OperatorError(StreamingError):
    """An operator failed on a whole batch (not one record: those are dead-lettered)."""

    def __init__(self, message: str, *, operator: str) -> None:
        super().__init__(f"operator {operator!r}: {message}")
        self.operator = operator
        """The operator's name."""


class ProcessingTimeoutError(OperatorError, TimeoutError):
    """A batch took longer than ``streaming.processing_timeout`` to process."""


class StateBackendError(StreamingError):
    """A state backend cannot save, load, delete or list."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"state key {key!r}: {message}" if key else message)
        self.key = key
        """The state key involved, when there is one."""


class CheckpointError(StreamingError):
    """A checkpoint cannot be written or restored."""

    def __init__(self, message: str, *, pipeline: str) -> None:
        super().__init__(f"pipeline {pipeline!r}: {message}")
        self.pipeline = pipeline
        """The pipeline whose checkpoint failed."""


class PipelineTestError(StreamingError):
    """A pipeline unit test did not produce the records it expected."""

    def __init__(self, message: str, *, test: str, diff: str = "") -> None:
        super().__init__(f"test {test!r}: {message}")
        self.test = test
        """The test's name."""
        self.diff = diff
        """A unified diff of expected and actual output, one JSON line per record."""


class WindowConfigError(StreamingError, ValueError):
    """A window, aggregation, watermark or late-data setting is invalid; lists every problem.

    Attributes:
        problems: ``(field, message)`` pairs, one per bad field.
        where: Which value they belong to (``"aggregation 'p95'"``), when known.
    """

    def __init__(self, problems: Sequence[tuple[str, str]], *, where: str | None = None) -> None:
        self.problems = tuple(problems)
        self.where = where
        detail = "; ".join(f"{field} {message}" for field, message in self.problems)
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{detail}")


class WindowDataError(StreamingError, DataError):
    """A batch cannot be aggregated: it lacks a column an aggregation reads, or a time is
    out of range.

    Attributes:
        column: The column involved, when there is one.
    """

    def __init__(self, message: str, *, column: str | None = None) -> None:
        self.column = column
        super().__init__(message)


class WindowStateError(StreamingError):
    """A window aggregator was used after ``finish()`` closed every window."""


class WindowSnapshotError(StreamingError, ValueError):
    """Bytes are not a window aggregator snapshot, come from a newer version, or were taken
    with a different configuration than the aggregator restoring them."""
