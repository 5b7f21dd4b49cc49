"""Operators that need no plugin: Python batch functions and key_by.

A Python operator is a function over a whole batch, so it runs numpy over
columns, not a Python step per record::

    def expensive(batch: RecordBatch) -> RecordBatch:
        return batch.filter(batch.column("amount") >= 100)

If the function raises, every record of that batch is dead-lettered with the
error and the pipeline carries on: a bad batch must not stop the stream.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from dataflare.kernel import RecordBatch
from dataflare.streaming._dead_letters import dead_letter_batch
from dataflare.streaming._operator import Operator, OperatorOutput
from dataflare.streaming._ragged_batch import IntKeyTable, keys_from_column, with_keys
from dataflare.streaming.errors import OperatorError, PipelineDefinitionError

__all__ = ("BatchFunction", "KeyByOperator", "PythonOperator", "import_function")

log = logging.getLogger("dataflare.streaming")

BatchFunction = Callable[[RecordBatch], RecordBatch | None]


class PythonOperator(Operator):
    """Applies a Python function to each batch; ``None`` from it means "drop the batch"."""

    def __init__(self, function: BatchFunction, *, name: str | None = None) -> None:
        self.function = function
        self.name = name or str(getattr(function, "__name__", "python"))

    def process(self, batch: RecordBatch) -> OperatorOutput:
        try:
            result = self.function(batch)
        except Exception as exc:  # noqa: BLE001 -- a user function's failure dead-letters its batch
            log.warning(
                "python operator failed; its batch is dead-lettered",
                extra={"operator": self.name, "records": len(batch), "error": repr(exc)},
            )
            error = f"{type(exc).__name__}: {exc}"
            return OperatorOutput(
                RecordBatch.empty(), dead_letter_batch(((r, error) for r in batch), self.name)
            )
        if result is None:
            return OperatorOutput(RecordBatch.empty())
        if not isinstance(result, RecordBatch):
            raise OperatorError(
                f"returned {type(result).__name__}; a batch function returns a RecordBatch "
                "(or None to drop the batch)",
                operator=self.name,
            )
        return OperatorOutput(result)


class KeyByOperator(Operator):
    """Sets each record's key to the decimal text of a typed column."""

    def __init__(self, column: str, *, name: str | None = None) -> None:
        self.column = column
        self.name = name or f"key_by-{column}"
        self._table = IntKeyTable()

    def process(self, batch: RecordBatch) -> OperatorOutput:
        if len(batch) == 0:
            return OperatorOutput(batch)
        if self.column not in batch.column_names:
            error = (
                f"no typed column {self.column!r} to key by (columns: {list(batch.column_names)}); "
                "declare it in the source's 'columns' option"
            )
            return OperatorOutput(
                RecordBatch.empty(), dead_letter_batch(((r, error) for r in batch), self.name)
            )
        values = batch.column(self.column)
        keys = (
            self._table.keys(values.astype(np.int64, copy=False))
            if values.dtype.kind == "i"
            else None
        )
        if keys is None:  # floats, or integers too spread out for a table
            keys = keys_from_column(values)
        return OperatorOutput(with_keys(batch, keys))


def import_function(
    path: str, params: Mapping[str, Any] | None = None, *, beside: Path | None = None
) -> BatchFunction:
    """Import ``package.module:function``; with ``params``, call it to get the batch function.

    Args:
        path: ``module:function``.
        params: Keyword arguments of a factory, if ``function`` is one.
        beside: A directory (the pipeline file's) where ``module.py`` is looked for
            first; it is loaded from there under a name of its own, so two pipelines
            with a ``transforms.py`` each do not share one module.

    Raises:
        PipelineDefinitionError: The module or attribute is missing, or is not callable.
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = _module(module_name, beside)
    except ImportError as exc:
        raise PipelineDefinitionError(
            f"cannot import module {module_name!r} ({exc}); put {module_name}.py beside the "
            "pipeline file, or install it"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise PipelineDefinitionError(f"module {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if params:
        target = target(**params)
    if not callable(target):
        raise PipelineDefinitionError(f"{path} is not callable; give a function of a batch")
    function: BatchFunction = target
    return function


def _module(name: str, beside: Path | None) -> ModuleType:
    file = None if beside is None else beside.joinpath(*name.split(".")).with_suffix(".py")
    if file is None or not file.is_file():
        return importlib.import_module(name)
    unique = f"_dataflare_pipeline_{hashlib.sha256(str(file).encode()).hexdigest()[:12]}_{name}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique]
        raise
    return module
