"""From a pipeline file to a :class:`Pipeline`: load, validate, then build every part.

The file is loaded through the kernel, so it is validated like any config file
(every problem at once, each at its line and column) and the connectors and
operators that extensions registered are available by name. Relative paths (a
WASM package, a file connector's path, ``streaming.state_dir``) are taken from
the file's directory, and ``function: transforms:clean`` finds ``transforms.py``
beside the pipeline first.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from dataflare.kernel import Kernel
from dataflare.streaming._connectors import build_connector
from dataflare.streaming._op_basic import KeyByOperator, PythonOperator, import_function
from dataflare.streaming._op_wasm import WasmOperator
from dataflare.streaming._operator import Operator
from dataflare.streaming._pipeline import Pipeline
from dataflare.streaming._settings import StreamingSettings
from dataflare.streaming._spec import OperatorSpec, PipelineSpec
from dataflare.streaming.errors import PipelineDefinitionError

__all__ = ("LoadedPipeline", "build_pipeline", "load_pipeline")


@attrs.frozen
class LoadedPipeline:
    """A pipeline file, loaded: the built pipeline, its spec and the processor settings."""

    pipeline: Pipeline
    spec: PipelineSpec
    settings: StreamingSettings
    kernel: Kernel
    base_dir: Path


def load_pipeline(path: str | os.PathLike[str], *, kernel: Kernel | None = None) -> LoadedPipeline:
    """Load and build the pipeline in a file.

    Args:
        path: The pipeline file.
        kernel: The kernel whose config, registries and trust store apply; by
            default one loaded from ``path`` with every installed extension.

    Raises:
        ConfigError: The file is invalid (every problem, with line and column).
        PipelineDefinitionError: It defines no pipeline, or a part cannot be built.
        UnknownComponentError: A connector or operator type is not installed.
    """
    file = Path(path)
    kernel = kernel or Kernel(file)
    kernel.load()
    spec: PipelineSpec = kernel.config.section("pipeline", PipelineSpec)
    settings: StreamingSettings = kernel.config.section("streaming", StreamingSettings)
    base_dir = file.resolve().parent
    settings = attrs.evolve(settings, state_dir=str(base_dir / settings.state_dir))
    if not spec.defined:
        raise PipelineDefinitionError(
            f"{file} has no pipeline: add a 'pipeline:' section with a source and sinks"
        )
    pipeline = build_pipeline(spec, kernel, base_dir=base_dir)
    return LoadedPipeline(pipeline, spec, settings, kernel, base_dir)


def build_pipeline(spec: PipelineSpec, kernel: Kernel, *, base_dir: Path) -> Pipeline:
    """Build every part of a validated pipeline spec."""
    if spec.source is None:
        raise PipelineDefinitionError("the pipeline has no source", where="pipeline.source")
    registry = kernel.connectors
    source = build_connector(spec.source, registry, base_dir=base_dir, where="pipeline.source")
    pipeline = Pipeline(spec.name, source)
    for index, operator in enumerate(spec.operators):
        pipeline.apply(_operator(operator, index, kernel, base_dir))
    for index, sink in enumerate(spec.sinks):
        where = f"pipeline.sinks[{index}]"
        pipeline.sink(build_connector(sink, registry, base_dir=base_dir, where=where))
    if spec.dead_letter is not None:
        letters = build_connector(
            spec.dead_letter, registry, base_dir=base_dir, where="pipeline.dead_letter"
        )
        pipeline.dead_letters(letters)
    return pipeline


def _operator(spec: OperatorSpec, index: int, kernel: Kernel, base_dir: Path) -> Operator:
    kind = spec.kind()
    name = spec.name or f"{kind}-{index}"
    where = f"pipeline.operators[{index}].{kind}"
    if spec.wasm is not None:
        package = base_dir / spec.wasm.uses
        if not package.is_file():
            raise PipelineDefinitionError(
                f"no plugin package at {package}; build and sign it with "
                "'dataflare plugin build' and 'dataflare plugin sign'",
                where=where,
            )
        return WasmOperator(package, params=spec.wasm.params, kernel=kernel, name=name)
    if spec.python is not None:
        try:
            function = import_function(spec.python.function, spec.python.params, beside=base_dir)
        except PipelineDefinitionError as exc:
            raise PipelineDefinitionError(str(exc), where=where) from exc
        return PythonOperator(function, name=name)
    if spec.key_by is not None:
        return KeyByOperator(spec.key_by.column, name=name)
    if spec.window is not None:
        from dataflare.streaming._op_window import WindowOperator  # needs the windows module

        return WindowOperator(spec.window, name=name)
    assert spec.operator is not None
    component = kernel.operators.get(spec.operator.type)
    built = component.factory(dict(spec.operator.options))
    if not isinstance(built, Operator):
        raise PipelineDefinitionError(
            f"operator {spec.operator.type!r} from extension {component.extension!r} built a "
            f"{type(built).__name__}, not an Operator",
            where=where,
        )
    built.name = name
    return built
