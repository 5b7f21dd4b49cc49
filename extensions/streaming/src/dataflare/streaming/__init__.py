"""DataFlare streaming: pipelines of sources, signed WASM and Python operators, windows, sinks.

Example::

    from dataflare.streaming import GeneratorConnector, GeneratorOptions, Pipeline
    from dataflare.streaming.testing import run_pipeline

    pipeline = Pipeline("big", GeneratorConnector(GeneratorOptions(records=10_000)))
    pipeline.filter(lambda batch: batch.column("value") >= 500).key_by("user_id")
    output = run_pipeline(pipeline, [{"key": "u1", "fields": {"user_id": 1, "value": 900}}])
"""

from __future__ import annotations

from dataflare.streaming._backpressure import BackpressureController
from dataflare.streaming._build import LoadedPipeline, build_pipeline, load_pipeline
from dataflare.streaming._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from dataflare.streaming._conn_files import CsvConnector, FileOptions, JsonLinesConnector
from dataflare.streaming._conn_generator import GeneratorConnector, GeneratorOptions
from dataflare.streaming._conn_memory import CollectingSink, MemorySource, NullSink
from dataflare.streaming._conn_nats import NatsConnector, NatsOptions
from dataflare.streaming._conn_stdio import StdinConnector, StdioOptions, StdoutConnector
from dataflare.streaming._connector import Connector, ConnectorStatus, Received
from dataflare.streaming._dead_letters import ERROR_HEADER, STAGE_HEADER
from dataflare.streaming._extension import StreamingExtension
from dataflare.streaming._op_basic import KeyByOperator, PythonOperator
from dataflare.streaming._op_wasm import WasmOperator
from dataflare.streaming._operator import Operator, OperatorOutput
from dataflare.streaming._pipeline import Pipeline
from dataflare.streaming._processor import StreamProcessor
from dataflare.streaming._runner import PipelineRunner
from dataflare.streaming._settings import (
    BackpressureSettings,
    BackpressureStrategy,
    StreamingSettings,
)
from dataflare.streaming._spec import (
    ConnectorSpec,
    CustomOperatorSpec,
    KeyBySpec,
    OperatorSpec,
    PipelineSpec,
    PythonOperatorSpec,
    TestCaseSpec,
    WasmOperatorSpec,
)
from dataflare.streaming._spec_window import (
    AggregationSpec,
    LateSpec,
    WatermarkSpecConfig,
    WindowOperatorSpec,
)
from dataflare.streaming._state import MemoryStateBackend, StateBackend
from dataflare.streaming._state_file import FileStateBackend
from dataflare.streaming._state_nats import JetStreamStateBackend
from dataflare.streaming._statistics import PipelineStatistics
from dataflare.streaming.errors import (
    CheckpointError,
    ConnectorError,
    OperatorError,
    PipelineDefinitionError,
    PipelineTestError,
    ProcessingTimeoutError,
    StateBackendError,
    StreamingError,
)

__all__ = (
    "ERROR_HEADER",
    "STAGE_HEADER",
    "AggregationSpec",
    "BackpressureController",
    "BackpressureSettings",
    "BackpressureStrategy",
    "Checkpoint",
    "CheckpointError",
    "CollectingSink",
    "Connector",
    "ConnectorError",
    "ConnectorSpec",
    "ConnectorStatus",
    "CsvConnector",
    "CustomOperatorSpec",
    "FileOptions",
    "FileStateBackend",
    "GeneratorConnector",
    "GeneratorOptions",
    "JetStreamStateBackend",
    "JsonLinesConnector",
    "KeyByOperator",
    "KeyBySpec",
    "LateSpec",
    "LoadedPipeline",
    "MemorySource",
    "MemoryStateBackend",
    "NatsConnector",
    "NatsOptions",
    "NullSink",
    "Operator",
    "OperatorError",
    "OperatorOutput",
    "OperatorSpec",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineRunner",
    "PipelineSpec",
    "PipelineStatistics",
    "PipelineTestError",
    "ProcessingTimeoutError",
    "PythonOperator",
    "PythonOperatorSpec",
    "Received",
    "StateBackend",
    "StateBackendError",
    "StdinConnector",
    "StdioOptions",
    "StdoutConnector",
    "StreamProcessor",
    "StreamingError",
    "StreamingExtension",
    "StreamingSettings",
    "TestCaseSpec",
    "WasmOperator",
    "WasmOperatorSpec",
    "WatermarkSpecConfig",
    "WindowOperatorSpec",
    "build_pipeline",
    "load_checkpoint",
    "load_pipeline",
    "save_checkpoint",
)
