"""SDK conformance: every example plugin, built from source, through the real host.

Golden batches go in and exact batches must come out; each expected output is
written out literally or computed by the small Python reference of the plugin
below, never by running a plugin. Malformed input bytes must make both SDKs
answer status 2 (bad input), never trap.
"""

from __future__ import annotations

import math
import re
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import numpy as np
import pytest

from dataflare.kernel import Record, RecordBatch
from dataflare.kernel._authoring import build_project, new_project
from dataflare.kernel._kv import encode_kv
from dataflare.kernel._package import PluginPackage, read_package
from dataflare.kernel._plugin_project import PROJECT_FILE
from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_imports import HostImports
from dataflare.kernel._wasm_instance import WasmInstance
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_plugin import WasmPlugin
from dataflare.kernel._wasm_result import CallFailure
from dataflare.kernel.errors import PluginLoadError, PluginRuntimeError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
NAMES = ("redact", "high-value", "split-words", "parse-level", "count-by-key")
# Byte-at-a-time plugins need ~25 fuel per byte: a 1 MiB value needs more than the default.
LIMITS = HostLimits(fuel_base=2_000_000_000, timeout_ms=20_000)
MIB = 1 << 20


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PluginPackage]:
    """Every example plugin, copied out of the repository and built once."""
    root = tmp_path_factory.mktemp("examples")
    built = {}
    for name in NAMES:
        project = shutil.copytree(EXAMPLES / name, root / name)
        built[name] = read_package(build_project(project))
    return built


@pytest.fixture(scope="session")
def sdk_engine() -> Iterator[WasmEngine]:
    """One engine for the whole module, closed at the end."""
    with WasmEngine() as engine:
        yield engine


@pytest.fixture
def load(packages, sdk_engine) -> Iterator[Callable[..., WasmPlugin]]:
    """Load an example with its default parameters, overridden by keyword; closed afterwards."""
    loaded: list[WasmPlugin] = []

    def load(name: str, *, limits: HostLimits = LIMITS, **params: str) -> WasmPlugin:
        package = packages[name]
        plugin = WasmPlugin.load(
            package.module_bytes,
            name=package.manifest.name,
            params={**package.manifest.params, **params},
            capabilities=package.manifest.capabilities,
            limits=limits,
            engine=sdk_engine,
        )
        loaded.append(plugin)
        return plugin

    yield load
    for plugin in loaded:
        plugin.close()


def _letters(result) -> list[tuple[int, str, int | None]]:
    return [(d.input_index, d.failure, d.code) for d in result.dead_letters]


# --- golden batches, written out ------------------------------------------------------------


def test_redact_masks_every_digit_and_keeps_the_rest(load):
    """redact replaces digits with the mask and keeps key, time, headers, columns and metadata."""
    records = [
        Record(b"card 4111-1111", key=b"c-1", timestamp=10, headers={"src": "web"},
               fields={"amount": 12.5, "n": 3}),
        Record(b"no digits here", timestamp=11, fields={"amount": -1.0, "n": 0}),
    ]  # fmt: skip
    expected = [
        attrs.evolve(records[0], value=b"card ****-****"),
        attrs.evolve(records[1], value=b"no digits here"),
    ]
    batch = RecordBatch.from_records(records, {"tenant": "t1"})
    result = load("redact", mask="*").process(batch)
    assert result.output == RecordBatch.from_records(expected, {"tenant": "t1"})
    assert result.dead_letters == ()
    default = load("redact").process(RecordBatch.from_records([Record(b"pin 1234")]))
    assert default.output == RecordBatch.from_records([Record(b"pin ####")])


def test_redact_refuses_a_mask_that_is_not_one_byte(load):
    """A two-byte mask is a config error that the host reports at load."""
    with pytest.raises(PluginLoadError, match="parameter 'mask' must be exactly one byte"):
        load("redact", mask="**")


def test_redact_refuses_an_unknown_parameter(load):
    """A misspelt parameter is named, with the known ones."""
    with pytest.raises(PluginLoadError, match="unknown parameter 'mask2'; known parameters: mask"):
        load("redact", mask2="*")


def test_high_value_keeps_amounts_at_least_min_with_every_column(load):
    """high-value keeps amount >= min (the boundary included), never NaN, columns intact."""
    amounts = [99.99, 100.0, 250.5, math.nan, -5.0]
    records = [
        Record(f"order {i}".encode(), key=b"k", timestamp=i, fields={"amount": a, "qty": i})
        for i, a in enumerate(amounts)
    ]
    result = load("high-value", min="100").process(RecordBatch.from_records(records))
    assert result.output == RecordBatch.from_records([records[1], records[2]])
    assert result.dead_letters == ()


def test_high_value_accepts_an_integer_amount_column(load):
    """An i64 amount column compares as a number too."""
    records = [Record(b"a", fields={"amount": 7}), Record(b"b", fields={"amount": 700})]
    result = load("high-value", min="99.5").process(RecordBatch.from_records(records))
    assert result.output == RecordBatch.from_records([records[1]])


def test_high_value_dead_letters_records_without_an_amount(load):
    """A batch with no amount column sends every record to the dead letters with code 1."""
    batch = RecordBatch.from_records(
        [Record(b"a", fields={"price": 500.0}), Record(b"b", fields={"price": 1.0})]
    )
    result = load("high-value").process(batch)
    assert len(result.output) == 0
    assert _letters(result) == [(0, "record-error", 1), (1, "record-error", 1)]
    assert result.dead_letters[0].message == "the record has no typed column 'amount'"


@pytest.mark.parametrize("bad", ["", "ten", "1e999", "12abc"])
def test_high_value_refuses_a_min_that_is_not_a_number(load, bad):
    """min must parse as a finite number."""
    with pytest.raises(PluginLoadError, match="parameter 'min' must be a number"):
        load("high-value", min=bad)


def test_split_words_emits_one_record_per_word_with_the_input_key(load):
    """split-words splits on ASCII whitespace and keeps each input's key, time and headers."""
    records = [
        Record(b"  the quick\tbrown\n", key=b"s1", timestamp=1, headers={"h": "1"}),
        Record(b" \r\n ", key=b"s2", timestamp=2),
        Record(b"fox", timestamp=3),
    ]
    result = load("split-words").process(RecordBatch.from_records(records, {"m": "x"}))
    expected = [
        Record(b"the", key=b"s1", timestamp=1, headers={"h": "1"}),
        Record(b"quick", key=b"s1", timestamp=1, headers={"h": "1"}),
        Record(b"brown", key=b"s1", timestamp=1, headers={"h": "1"}),
        Record(b"fox", timestamp=3),
    ]
    assert result.output == RecordBatch.from_records(expected, {"m": "x"})


def test_parse_level_maps_problem_lines_and_dead_letters_bad_ones(load):
    """parse-level keeps ERROR/WARN lines as the level word; empty and non-UTF-8 values fail."""
    values = [b"12:00 ERROR disk full", b"WARN: low memory", b"INFO all good", b"",
              b"\xff\xfe ERROR", b"WARN then ERROR"]  # fmt: skip
    records = [Record(v, key=b"host-%d" % i, timestamp=100 + i) for i, v in enumerate(values)]
    result = load("parse-level").process(RecordBatch.from_records(records))
    expected = [
        Record(b"ERROR", key=b"host-0", timestamp=100),
        Record(b"WARN", key=b"host-1", timestamp=101),
        Record(b"ERROR", key=b"host-5", timestamp=105),
    ]
    assert result.output == RecordBatch.from_records(expected)
    assert _letters(result) == [(3, "record-error", 1), (4, "record-error", 2)]
    assert [d.message for d in result.dead_letters] == [
        "the log line is empty",
        "the log line is not valid UTF-8",
    ]
    assert result.dead_letters[1].record == RecordBatch.from_records([records[4]])


FIRST = RecordBatch.from_records(
    [Record(b"x", key=b"a", timestamp=5), Record(b"y", key=b"b", timestamp=3),
     Record(b"z", key=b"a", timestamp=9)]
)  # fmt: skip
SECOND = RecordBatch.from_records(
    [Record(b"x", key=b"b", timestamp=1), Record(b"", timestamp=2),
     Record(b"y", key=b"a", timestamp=4)]
)  # fmt: skip
COUNTS = RecordBatch.from_records(
    [Record(b"3", key=b"a", timestamp=9, fields={"count": 3}),
     Record(b"2", key=b"b", timestamp=3, fields={"count": 2}),
     Record(b"1", key=b"", timestamp=2, fields={"count": 1})]
)  # fmt: skip


def test_count_by_key_emits_counts_on_flush_only(load):
    """count-by-key emits nothing per batch, then key, count, column and latest time on flush."""
    plugin = load("count-by-key")
    assert len(plugin.process(FIRST).output) == 0
    assert len(plugin.process(SECOND).output) == 0
    assert plugin.flush().output == COUNTS
    assert len(plugin.flush().output) == 0, "a flush starts the counts again"


def test_count_by_key_state_survives_snapshot_and_restore(load):
    """Counts snapshotted by one instance and restored into another carry on."""
    before = load("count-by-key")
    before.process(FIRST)
    state = before.snapshot()
    assert state is not None
    after = load("count-by-key")
    after.restore(state)
    after.process(SECOND)
    assert after.flush().output == COUNTS


@pytest.mark.parametrize("state", [b"\x01\x00", b"\x02\x00\x00\x00\x00\x00\x00\x00", b"x" * 40])
def test_count_by_key_refuses_state_it_did_not_write(load, state):
    """Corrupt state is refused with status 2, and the plugin keeps its previous counts."""
    plugin = load("count-by-key")
    plugin.process(FIRST)
    plugin.snapshot()
    with pytest.raises(PluginRuntimeError) as caught:
        plugin.restore(state)
    assert caught.value.failure == "bad-status"
    assert "status 2 (bad input)" in str(caught.value)
    plugin.process(SECOND)
    assert plugin.flush().output == COUNTS


# --- the conformance matrix: every example, every shape of batch, against a reference --------


def _rebuild(batch: RecordBatch, records: list[Record]) -> RecordBatch:
    return RecordBatch.from_records(records, batch.metadata) if records else RecordBatch.empty()


def _redact(batch: RecordBatch) -> tuple[RecordBatch, list[tuple[int, int]]]:
    masked = [attrs.evolve(r, value=re.sub(rb"[0-9]", b"#", r.value)) for r in batch]
    return _rebuild(batch, masked), []


def _high_value(batch: RecordBatch) -> tuple[RecordBatch, list[tuple[int, int]]]:
    if len(batch) and "amount" not in batch.column_names:
        return RecordBatch.empty(), [(i, 1) for i in range(len(batch))]
    return _rebuild(batch, [r for r in batch if r.fields["amount"] >= 100]), []


def _split_words(batch: RecordBatch) -> tuple[RecordBatch, list[tuple[int, int]]]:
    words = [attrs.evolve(r, value=word) for r in batch for word in r.value.split()]
    return _rebuild(batch, words), []


def _parse_level(batch: RecordBatch) -> tuple[RecordBatch, list[tuple[int, int]]]:
    kept, failed = [], []
    for index, record in enumerate(batch):
        try:
            record.value.decode("utf-8")
        except UnicodeDecodeError:
            failed.append((index, 2))
            continue
        if not record.value:
            failed.append((index, 1))
        elif b"ERROR" in record.value or b"WARN" in record.value:
            word = b"ERROR" if b"ERROR" in record.value else b"WARN"
            kept.append(attrs.evolve(record, value=word))
    return _rebuild(batch, kept), failed


def _count_by_key(batch: RecordBatch) -> tuple[RecordBatch, list[tuple[int, int]]]:
    counts: dict[bytes, list[int]] = {}
    for record in batch:
        count, latest = counts.setdefault(record.key, [0, record.timestamp])
        counts[record.key] = [count + 1, max(latest, record.timestamp)]
    flushed = [
        Record(str(count).encode(), key=key, timestamp=latest, fields={"count": count})
        for key, (count, latest) in counts.items()
    ]
    return (RecordBatch.from_records(flushed) if flushed else RecordBatch.empty()), []


REFERENCES = {
    "redact": _redact,
    "high-value": _high_value,
    "split-words": _split_words,
    "parse-level": _parse_level,
    "count-by-key": _count_by_key,
}

CASES = {
    "empty batch": RecordBatch.empty(),
    "no keys": RecordBatch.from_arrays(
        values=[b"ERROR 500 at /a", b"WARN 3 retries", b"all fine"],
        columns={"amount": np.array([100.0, 99.0, 1e9])},
    ),
    "zero-length values": RecordBatch.from_arrays(
        keys=[b"a", b"b", b"a"], values=[b"", b"ERROR 1", b""], timestamps=[3, 1, 2],
        columns={"amount": np.array([150, 50, 100])},
    ),
    "headers and metadata": RecordBatch.from_records(
        [Record(b"WARN disk 91%", key=b"h1", timestamp=1, headers={"dc": "eu", "rack": "7"}),
         Record(b"ok", key=b"h2", timestamp=2, headers={}),
         Record(b"ERROR fan 2", key=b"h1", timestamp=3, headers={"dc": "us"})],
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    ),
    "many headers": RecordBatch.from_records(
        [Record(b"ERROR %d" % i, key=b"h", headers={f"x-{k}": str(k * i) for k in range(12)})
         for i in range(3)],
    ),
    "typed columns": RecordBatch.from_arrays(
        keys=[b"x", b"y"], values=[b"ERROR 1", b"2 WARN"], timestamps=[-5, 2**62],
        columns={"qty": np.array([-(2**63), 2**63 - 1]),
                 "amount": np.array([math.inf, math.nan]), "ratio": np.array([0.5, -0.0])},
    ),
    "non-UTF-8 values": RecordBatch.from_arrays(
        keys=[b"\x00k", b"k"], values=[b"\xc3\x28 ERROR 9", b"\xe2\x82\xac 5 WARN"],
        columns={"amount": np.array([1000.0, 0.0])},
    ),
    "a 1 MiB value": RecordBatch.from_arrays(
        keys=[b"big", b"small"],
        values=[(b"ERROR 42 lines\t" * (MIB // 15 + 1))[:MIB], b"WARN 7"],
        columns={"amount": np.array([1e6, 1.0])},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", NAMES)
def test_every_example_matches_its_reference(load, name, case):
    """Each example's output and dead letters equal its Python reference's on each batch shape."""
    batch = CASES[case]
    expected, failed = REFERENCES[name](batch)
    plugin = load(name)
    result = plugin.process(batch)
    output = plugin.flush().output if plugin.has_flush else result.output
    if plugin.has_flush:
        assert len(result.output) == 0
    assert output == expected
    assert _letters(result) == [(i, "record-error", code) for i, code in failed]


# --- rules of the SDKs themselves -----------------------------------------------------------

_UNSET_COLUMN = {
    "c": """#include "dataflare.h"
df_status df_on_init(const df_params *params) { return df_params_allow(params, NULL, 0); }
df_status df_on_batch(const df_batch *in, df_output *out) {
    int32_t n = df_output_add_column(out, "n", DF_I64);
    df_record r;
    for (df_iter it = df_iter_begin(in); df_next(&it, &r);) {
        df_emit_input(out, r.index);
        if (r.value.len) df_set_i64(out, n, r.value.len);
    }
    return DF_OK;
}
""",
    "zig": """const df = @import("dataflare");
pub fn init(params: df.Params) !void { try params.allow(&.{}); }
pub fn process(in: *const df.Batch, out: *df.Output) !void {
    const n = try out.addColumn("n", .i64);
    var records = in.records();
    while (records.next()) |r| {
        try out.emitInput(r.index);
        if (r.value.len > 0) try out.setInt(n, @intCast(r.value.len));
    }
}
comptime { df.plugin(@This()); }
""",
}


@pytest.mark.parametrize("language", ["c", "zig"])
def test_an_added_column_left_unset_fails_the_record_not_a_zero(tmp_path, engine, language):
    """An output column without a value is status 16 (misuse) and that record a dead letter."""
    project = new_project(tmp_path / "p", name="acme/unset", language=language, kind="map")
    (project / f"src/unset.{language}").write_text(_UNSET_COLUMN[language])
    package = read_package(build_project(project))
    batch = RecordBatch.from_records([Record(b"x", timestamp=1), Record(b""), Record(b"yz")])
    with WasmPlugin.load(package.module_bytes, name="acme/unset", engine=engine) as plugin:
        result = plugin.process(batch)
    assert result.output == RecordBatch.from_records(
        [Record(b"x", timestamp=1, fields={"n": 1}), Record(b"yz", fields={"n": 2})]
    )
    assert _letters(result) == [(1, "bad-status", 16)]
    assert "output column 'n' has no value for output record 0" in result.dead_letters[0].message


def test_running_out_of_memory_is_status_3_not_a_trap(load):
    """When memory.grow fails at the memory limit, the SDK answers status 3 for the record."""
    plugin = load("redact", limits=attrs.evolve(LIMITS, memory_mb=4))
    result = plugin.process(RecordBatch.from_arrays(values=[b"1" * MIB]))
    assert len(result.output) == 0
    assert _letters(result) == [(0, "memory", 3)]  # how the host reports status 3
    assert "out of memory" in result.dead_letters[0].message
    small = plugin.process(RecordBatch.from_arrays(values=[b"a1"]))
    assert small.output == RecordBatch.from_arrays(values=[b"a#"])


# --- malformed input: status 2 from both SDKs, never a trap ----------------------------------

GOOD = RecordBatch.from_records(
    [Record(b"ERROR 12", key=b"k1", timestamp=1, headers={"h": "v", "i": "w"},
            fields={"amount": 200.0, "n": 1}),
     Record(b"WARN 3", key=b"k2", timestamp=2, headers={}, fields={"amount": 5.0, "n": 2})],
    {"trace": "t"},
).to_bytes()  # fmt: skip
_HEADER = struct.Struct("<4sHH14I")
_FIELDS = ("magic", "version", "header_size", "count", "ncols", "total_len", "ts_off",
           "key_offs_off", "value_offs_off", "hdr_offs_off", "cols_off", "key_data_off",
           "value_data_off", "hdr_data_off", "meta_off", "meta_len", "reserved")  # fmt: skip


def _with(**fields: object) -> bytes:
    """GOOD with some header fields replaced."""
    values = dict(zip(_FIELDS, _HEADER.unpack_from(GOOD), strict=True))
    values.update(fields)
    return _HEADER.pack(*values.values()) + GOOD[_HEADER.size :]


def _field(name: str) -> int:
    return int(dict(zip(_FIELDS, _HEADER.unpack_from(GOOD), strict=True))[name])


def _put(data: bytes, at: int, fmt: str, *values: object) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


MALFORMED = {
    "empty": (b"", "truncated"),
    "shorter than the header": (GOOD[:40], "truncated"),
    "truncated at the end": (GOOD[:-8], "total_len"),
    "extra bytes": (GOOD + bytes(8), "total_len"),
    "bad magic": (b"DFRX" + GOOD[4:], "bad magic"),
    "newer version": (_with(version=2), "newer than this SDK supports"),
    "version zero": (_with(version=0), "version is 0"),
    "wrong header size": (_with(header_size=32), "header_size"),
    "reserved set": (_with(reserved=1), "reserved"),
    "timestamps past the end": (_with(ts_off=len(GOOD)), "ts_off"),
    "misaligned key offsets": (_with(key_offs_off=_field("key_offs_off") + 4), "key_offs_off"),
    "value offsets past the end": (_with(value_offs_off=2**32 - 8), "value_offs_off"),
    "column directory past the end": (_with(ncols=1000), "cols_off"),
    "metadata past the end": (_with(meta_len=len(GOOD)), "meta_off"),
    "value offset out of range": (
        _put(GOOD, _field("value_offs_off") + 8, "<I", 2**31), "values: an offset"),
    "key offsets decrease": (_put(GOOD, _field("key_offs_off") + 8, "<I", 1), "keys: an offset"),
    "first offset not zero": (_put(GOOD, _field("hdr_offs_off"), "<I", 1), "headers: an offset"),
    "unknown column type": (_put(GOOD, _field("cols_off"), "<I", 7), "unknown type"),
    "column values out of range": (
        _put(GOOD, _field("cols_off") + 4, "<I", len(GOOD)), "column's values"),
    "empty column name": (_put(GOOD, _field("cols_off") + 8, "<B", 0), "column name"),
    "duplicate column": (
        _put(GOOD, _field("cols_off") + 32 + 8, "<B7s", 6, b"amount\0"), "same name"),
    "malformed metadata": (_put(GOOD, _field("meta_off"), "<I", 1000), "metadata block"),
    "malformed header block": (_put(GOOD, _field("hdr_data_off"), "<I", 99), "header block"),
    "metadata not UTF-8": (_put(GOOD, _field("meta_off") + 8, "<B", 0xFF), "metadata block"),
    "header key twice": (_put(GOOD, _field("hdr_data_off") + 18, "<1s", b"h"), "header block"),
    "header key twice in a big block": (
        RecordBatch.from_records([Record(b"x", headers={f"k{i}": "v" for i in range(12)})])
        .to_bytes().replace(b"k11", b"k10"), "header block"),
}  # fmt: skip


def _instance(package: PluginPackage, engine: WasmEngine) -> WasmInstance:
    """One bare instance of the host, which passes any bytes to df_process."""
    host = HostImports(engine.engine, frozenset(), plugin=package.manifest.name)
    pre = host.linker.instantiate_pre(engine.compile(package.module_bytes))
    instance = WasmInstance(pre, engine, host, HostLimits())
    instance.init(encode_kv(dict(package.manifest.params)))
    return instance


@pytest.mark.parametrize("name", NAMES)
def test_malformed_batches_are_status_2_with_the_reason(packages, sdk_engine, name):
    """Every malformed batch gets status 2 naming the problem; the instance keeps working."""
    instance = _instance(packages[name], sdk_engine)
    try:
        for case, (data, reason) in MALFORMED.items():
            with pytest.raises(CallFailure) as caught:
                instance.process(memoryview(data), records=2)
            failure = caught.value
            assert (failure.failure, failure.code) == ("bad-status", 2), case
            assert failure.message.startswith("status 2 (bad input): record 0: input batch: "), case
            assert reason in failure.message, (case, failure.message)
        assert instance.process(memoryview(GOOD), records=2) is not None
    finally:
        instance.close()


@pytest.mark.parametrize("name", NAMES)
def test_random_corruption_never_traps(packages, sdk_engine, name):
    """Random byte flips and truncations give either a valid result or status 2, never a trap."""
    rng = np.random.default_rng(20_251_123)
    instance = _instance(packages[name], sdk_engine)
    outcomes = set()
    try:
        for _ in range(400):
            data = bytearray(GOOD)
            for at in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
                data[at] = int(rng.integers(0, 256))
            if rng.random() < 0.2:
                data = data[: int(rng.integers(0, len(data)))]
            try:
                result = instance.process(memoryview(bytes(data)), records=2)
            except CallFailure as failure:
                outcomes.add(f"{failure.failure} {failure.code}")
            else:
                if result.output:
                    RecordBatch.from_buffer(result.output)  # whatever it emits is a valid batch
                outcomes.add("ok")
    finally:
        instance.close()
    assert outcomes == {"ok", "bad-status 2"}


def test_the_project_files_of_the_examples_are_complete():
    """Each example directory is a project `plugin new` could have made: file, source, README."""
    for name in NAMES:
        project = EXAMPLES / name
        assert (project / PROJECT_FILE).is_file()
        assert (project / "README.md").is_file()
        assert len(list((project / "src").iterdir())) == 1
