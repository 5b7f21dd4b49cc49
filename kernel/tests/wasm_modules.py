"""WAT plugins for the WASM host tests: good ones, and one per attack.

Every plugin shares a prelude implementing the ABI's plumbing: the input buffer
that ``df_reserve`` hands out at 64 KiB (growing memory as needed), a per-batch
bump arena after it, the result block at address 16, and a per-record error list
at 1024. The trigger plugins (:func:`trigger`) copy their input to their output
unchanged, except that a record whose value starts with ``X`` runs the attack
under test and one that starts with ``E`` is reported as a per-record error, so
one module serves for bisection, for isolation, and for "the next good batch
still works". Real transforms are in :mod:`wasm_transforms`.
"""

from __future__ import annotations

import struct

import numpy as np
import wasmtime

from dataflare.kernel._batch import RecordBatch

# --- the prelude ---------------------------------------------------------------------

_PRELUDE = r"""
  (memory (export "memory") 2)
  (global $res_cap (mut i32) (i32.const 0))
  (global $heap (mut i32) (i32.const 0))
  (global $nerr (mut i32) (i32.const 0))
  (global $err_end (mut i32) (i32.const 1028))
  (global $out_len (mut i32) (i32.const 0))
  (global $reserves (mut i32) (i32.const 0))
  (data (i32.const 512) "bad record")
  (data (i32.const 528) "unknown parameter")
  (data (i32.const 700) "hello from wasm\n")

  ;; Make [0, end) addressable; 0 when memory.grow hits the limit.
  (func $ensure (param $end i32) (result i32)
    (local $have i32)
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.le_u (local.get $end) (local.get $have)) (then (return (i32.const 1))))
    (i32.ne
      (memory.grow (i32.shr_u
        (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
        (i32.const 16)))
      (i32.const -1)))

  (func (export "df_reserve") (param $size i32) (result i32)
    (global.set $reserves (i32.add (global.get $reserves) (i32.const 1)))
    (if (i32.gt_u (local.get $size) (global.get $res_cap))
      (then
        (if (i32.eqz (call $ensure (i32.add (i32.const 65536) (local.get $size))))
          (then (return (i32.const 0))))
        (global.set $res_cap (local.get $size))))
    (i32.const 65536))

  (func $alloc (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (if (i32.eqz (call $ensure (i32.add (local.get $p) (local.get $size))))
      (then (return (i32.const 0))))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    (local.get $p))

  ;; Every call starts with an empty arena (after the input buffer) and error list.
  (func $begin
    (global.set $heap (i32.add (i32.const 65536) (global.get $res_cap)))
    (global.set $nerr (i32.const 0))
    (global.set $err_end (i32.const 1028))
    (i32.store (i32.const 1024) (i32.const 0)))

  (func $error (param $i i32) (param $code i32) (param $msg i32) (param $len i32)
    (local $at i32)
    (local.set $at (global.get $err_end))
    (i32.store (local.get $at) (local.get $i))
    (i32.store offset=4 (local.get $at) (local.get $code))
    (i32.store offset=8 (local.get $at) (local.get $len))
    (memory.copy (i32.add (local.get $at) (i32.const 12)) (local.get $msg) (local.get $len))
    (global.set $err_end (i32.add (local.get $at) (i32.add (i32.const 12) (local.get $len))))
    (global.set $nerr (i32.add (global.get $nerr) (i32.const 1)))
    (i32.store (i32.const 1024) (global.get $nerr)))

  (func $result (param $status i32) (param $out i32) (param $out_len i32) (result i32)
    (i32.store (i32.const 16) (local.get $status))
    (i32.store (i32.const 20) (local.get $out))
    (i32.store (i32.const 24) (local.get $out_len))
    (i32.store (i32.const 28) (i32.const 1024))
    (i32.store (i32.const 32)
      (select (i32.sub (global.get $err_end) (i32.const 1024)) (i32.const 0) (global.get $nerr)))
    (i32.const 16))

  ;; The first byte of record i's value, or -1 when the value is empty.
  (func $first (param $b i32) (param $i i32) (result i32)
    (local $o i32) (local $start i32)
    (local.set $o (i32.add (i32.add (local.get $b) (i32.load offset=28 (local.get $b)))
                           (i32.shl (local.get $i) (i32.const 2))))
    (local.set $start (i32.load (local.get $o)))
    (if (i32.eq (local.get $start) (i32.load offset=4 (local.get $o)))
      (then (return (i32.const -1))))
    (i32.load8_u (i32.add (i32.add (local.get $b) (i32.load offset=44 (local.get $b)))
                          (local.get $start))))
"""

_MARKER = '(func (export "df_abi_v1"))'
_INIT = """
  (func (export "df_init") (param $cfg i32) (param $len i32) (result i32)
    (call $begin)
    (call $result (i32.const 0) (i32.const 0) (i32.const 0)))
"""


def module(body: str, *, imports: str = "", marker: str = _MARKER, init: str = _INIT) -> bytes:
    """A plugin module (binary): imports, the prelude, the marker, ``df_init``, then ``body``."""
    return wasm(f"(module {imports} {_PRELUDE} {marker} {init} {body})")


def wasm(text: str) -> bytes:
    """Assemble WAT text into a binary module."""
    return bytes(wasmtime.wat2wasm(text))


# --- trigger plugins: identity output, an attack on records whose value starts with X -----


def trigger(attack: str, *, each: str = "", extra: str = "", imports: str = "", **kw: str) -> bytes:
    """An identity plugin that runs ``attack`` for values starting ``X`` and ``each`` per record.

    A value starting with ``E`` is listed as a per-record error (code 7, "bad
    record"). Inside ``attack`` and ``each`` the locals ``$b`` (input pointer),
    ``$len`` (input length) and ``$i`` (record index) are in scope.
    """
    process = f"""
  (func (export "df_process") (param $b i32) (param $len i32) (result i32)
    (local $i i32) (local $n i32) (local $c i32)
    (call $begin)
    (local.set $n (i32.load offset=8 (local.get $b)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $c (call $first (local.get $b) (local.get $i)))
      {each}
      (if (i32.eq (local.get $c) (i32.const 88)) (then {attack}))
      (if (i32.eq (local.get $c) (i32.const 69))
        (then (call $error (local.get $i) (i32.const 7) (i32.const 512) (i32.const 10))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $result (i32.const 0) (local.get $b) (local.get $len)))
  {extra}
"""
    return module(process, imports=imports, **kw)


IDENTITY = trigger("")
"""Output = input; lists values starting with E as per-record errors."""

POISON = trigger("unreachable")
"""Traps (``unreachable``) on any batch holding a value that starts with X."""

SPIN = trigger("(loop $spin (br $spin))")
"""Loops forever on X: stopped by fuel, or by the deadline when fuel is plentiful."""

GROW_BOMB = trigger("""
  (block $full (loop $grow
    (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
    (br $grow)))
  (i32.store (i32.shl (memory.size) (i32.const 16)) (i32.const 1))""")
"""Grows memory on X until ``memory.grow`` returns -1, then stores past the end."""

GROW_UNTIL_FULL = trigger("""
  (block $full (loop $grow
    (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
    (br $grow)))
  (i32.store (i32.const 4000) (memory.size))
  (return (call $result (i32.const 3) (i32.const 0) (i32.const 0)))""")
"""Grows memory on X until ``memory.grow`` returns -1, then reports status 3 (out of memory)."""

RECURSE = trigger(
    "(drop (call $deep (i32.const 0)))",
    extra="""(func $deep (param $n i32) (result i32)
      (i32.add (call $deep (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))""",
)
"""Recurses without end on X: a stack overflow."""

BAD_OUTPUT_POINTER = trigger(
    "(return (call $result (i32.const 0) (i32.const -256) (i32.const 64)))"
)
"""On X, returns output at 0xFFFFFF00, far outside memory."""

BAD_OUTPUT_LENGTH = trigger(
    "(return (call $result (i32.const 0) (local.get $b) (i32.const 0x7fffffff)))"
)
"""On X, returns an output length of 2 GiB."""

BAD_RESULT_POINTER = trigger("(return (i32.const -8))")
"""On X, returns a result block pointer at 0xFFFFFFF8."""

GARBAGE_OUTPUT = trigger("(return (call $result (i32.const 0) (i32.const 512) (i32.const 64)))")
"""On X, returns 64 bytes that are not a record batch."""

BAD_STATUS = trigger("""
  (call $error (local.get $i) (i32.const 9) (i32.const 512) (i32.const 10))
  (return (call $result (i32.const 16) (i32.const 0) (i32.const 0)))""")
"""On X, fails the whole call with status 16 and a message."""

LOGGER = trigger(
    "",
    each="(call $log (i32.const 1) (i32.const 512) (i32.const 10))",
    imports='(import "df" "log" (func $log (param i32 i32 i32)))',
)
"""Calls ``df.log`` once per record with "bad record" (needs the ``log`` capability)."""

WASI_HELLO = trigger(
    "",
    each="""(i32.store (i32.const 680) (i32.const 700))
      (i32.store (i32.const 684) (i32.const 16))
      (drop (call $fd_write (i32.const 1) (i32.const 680) (i32.const 1) (i32.const 692)))""",
    imports="""(import "wasi_snapshot_preview1" "fd_write"
      (func $fd_write (param i32 i32 i32 i32) (result i32)))""",
)
"""Writes "hello from wasm" to stdout per record (needs the ``wasi-stdio`` capability)."""

SYSTEM_IMPORT = trigger(
    "", imports='(import "env" "system" (func $system (param i32) (result i32)))'
)
"""Imports ``env.system``, which no capability grants."""

ABI_V2_ONLY = trigger("", marker='(func (export "df_abi_v2"))')
"""Built for a future ABI: exports ``df_abi_v2`` only."""

NO_MARKER = trigger("", marker="")
"""Has every export but no version marker: not a DataFlare plugin."""

START_LOOP = trigger("", extra="(func $boot (loop $l (br $l))) (start $boot)")
"""Loops forever in its start function, during instantiation."""

INIT_TRAP = trigger("", init='(func (export "df_init") (param i32 i32) (result i32) unreachable)')
"""Traps in ``df_init``."""

REJECT_PARAMS = trigger(
    "",
    init="""(func (export "df_init") (param $cfg i32) (param $len i32) (result i32)
      (call $begin)
      (if (local.get $len) (then
        (call $error (i32.const 0) (i32.const 1) (i32.const 528) (i32.const 17))
        (return (call $result (i32.const 4) (i32.const 0) (i32.const 0)))))
      (call $result (i32.const 0) (i32.const 0) (i32.const 0)))""",
)
"""Rejects any parameters with status 4 and "unknown parameter"."""

ECHO_PARAMS = trigger(
    "",
    init="""(global $cfg_len (mut i32) (i32.const 0))
    (func (export "df_init") (param $cfg i32) (param $len i32) (result i32)
      (call $begin)
      (memory.copy (i32.const 4096) (local.get $cfg) (local.get $len))
      (global.set $cfg_len (local.get $len))
      (call $result (i32.const 0) (i32.const 0) (i32.const 0)))""",
    extra="""(func (export "df_snapshot") (result i32)
      (call $begin)
      (call $result (i32.const 0) (i32.const 4096) (global.get $cfg_len)))""",
)
"""Keeps its parameter block; ``df_snapshot`` returns it unchanged."""

COUNTER = trigger(
    "unreachable",
    each="(global.set $count (i64.add (global.get $count) (i64.const 1)))",
    extra="""(global $count (mut i64) (i64.const 0))
    (func (export "df_snapshot") (result i32)
      (call $begin)
      (i64.store (i32.const 4000) (global.get $count))
      (call $result (i32.const 0) (i32.const 4000) (i32.const 8)))
    (func (export "df_restore") (param $p i32) (param $len i32) (result i32)
      (call $begin)
      (global.set $count (i64.load (local.get $p)))
      (call $result (i32.const 0) (i32.const 0) (i32.const 0)))
    (func (export "df_flush") (result i32)
      (call $begin)
      (global.set $count (i64.const 0))
      (call $result (i32.const 0) (i32.const 0) (i32.const 0)))""",
)
"""An aggregate: counts records across batches (state: a u64), traps on X, flush resets."""

RESERVE_COUNT = trigger(
    "",
    extra="""(func (export "df_snapshot") (result i32)
      (call $begin)
      (i32.store (i32.const 4000) (global.get $reserves))
      (call $result (i32.const 0) (i32.const 4000) (i32.const 4)))""",
)
"""``df_snapshot`` returns how many times ``df_reserve`` was called (a u32)."""

BAD_ERROR_LIST = trigger("""
  (i32.store (i32.const 1024) (i32.const 1000))
  (global.set $nerr (i32.const 1))
  (global.set $err_end (i32.const 1032))
  (return (call $result (i32.const 0) (local.get $b) (local.get $len)))""")
"""On X, returns an error list that claims 1000 entries in 8 bytes."""

ERROR_INDEX_OUT_OF_RANGE = trigger(
    "(call $error (i32.const 99) (i32.const 1) (i32.const 512) (i32.const 10))"
)
"""On X, lists an error for input record 99, which no test batch has."""

LACKS_EXPORTS = wasm('(module (memory (export "memory") 1) (func (export "df_abi_v1")))')
"""Has the version marker but none of the required functions."""

WRONG_TYPES = module(
    '(func (export "df_process") (param i32) (result i32) (local.get 0))'
    '(func (export "df_flush") (param i32))'
)
"""``df_process`` takes one parameter, and ``df_flush`` returns nothing."""

# --- batches --------------------------------------------------------------------------


def batch(*values: bytes, metadata: dict[str, str] | None = None) -> RecordBatch:
    """A batch with the given values, keys ``k0, k1...``, timestamps and an i64 column."""
    count = len(values)
    return RecordBatch.from_arrays(
        values=list(values),
        keys=[b"k%d" % index for index in range(count)],
        timestamps=np.arange(count, dtype=np.int64) + 1_700_000_000_000,
        columns={"n": np.arange(count, dtype=np.int64)},
        metadata=metadata,
        count=count,
    )


def values(batch: RecordBatch) -> list[bytes]:
    """The values of a batch, in order."""
    return [batch.value(index) for index in range(len(batch))]


def counter_state(count: int) -> bytes:
    """The state :data:`COUNTER` snapshots: its count as a little-endian u64."""
    return struct.pack("<Q", count)
