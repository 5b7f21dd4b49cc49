"""Reading what a plugin call returned: the result block, the output and the error list.

Every pointer and length the guest returns is checked against the size of its
memory and the output limit before a byte is read, and everything is copied out
at once (the guest owns it only until the next call). A call that fails in any
way becomes a :class:`CallFailure` naming the failure kind that dead letters and
:class:`~dataflare.kernel.errors.PluginRuntimeError` carry
(``docs/plugin-abi.md``, "The result block").

Example::

    result = read_result(memory, store, pointer, max_bytes=limits.max_output_bytes, records=n)
    result.output       # bytes copied out of guest memory (not yet checked as a batch)
    result.errors       # per-record errors, input indexes checked against ``records``
"""

from __future__ import annotations

import struct

import attrs
import wasmtime

__all__ = ("CallFailure", "CallResult", "RecordError", "describe_trap", "read_result")

_BLOCK = struct.Struct("<5I")
_U32 = struct.Struct("<I")
_ENTRY = struct.Struct("<3I")
_MASK = 0xFFFFFFFF
_STATUS = {2: "bad input", 3: "out of memory", 4: "bad config"}
_TRAPS = {
    wasmtime.TrapCode.OUT_OF_FUEL: "out-of-fuel",
    wasmtime.TrapCode.INTERRUPT: "deadline",
    wasmtime.TrapCode.STACK_OVERFLOW: "stack-overflow",
}


@attrs.frozen
class RecordError:
    """One entry of a plugin's per-record error list."""

    index: int
    """The record's position in the input of the call."""
    code: int
    """The plugin's error code."""
    message: str
    """The plugin's message (invalid UTF-8 replaced)."""


@attrs.frozen
class CallResult:
    """A successful call's output and per-record errors, copied out of guest memory."""

    output: bytearray
    """The output bytes (a batch, or state for ``df_snapshot``); empty for none."""
    errors: tuple[RecordError, ...]
    """Records the plugin rejected."""


class CallFailure(Exception):
    """A plugin call failed: it trapped, returned a failing status, or returned bad output.

    Args:
        failure: ``out-of-fuel``, ``deadline``, ``stack-overflow``, ``trap``,
            ``memory``, ``bad-status`` or ``bad-output``.
        message: What happened, for people.
        code: The status, for ``bad-status``.
        errors: The error list that came with a failing status.
    """

    def __init__(
        self,
        failure: str,
        message: str,
        *,
        code: int | None = None,
        errors: tuple[RecordError, ...] = (),
    ) -> None:
        super().__init__(f"{failure}: {message}")
        self.failure = failure
        self.message = message
        self.code = code
        self.errors = errors


def describe_trap(error: wasmtime.Trap | wasmtime.WasmtimeError) -> CallFailure:
    """Turn a trap or a wasmtime error from a call into a :class:`CallFailure`.

    The cause is the last line of wasmtime's text (the lines before it are a
    backtrace).
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = lines[-1] if lines else type(error).__name__
    cause = cause.removeprefix("wasm trap: ")
    if isinstance(error, wasmtime.Trap):
        code = error.trap_code
        failure = _TRAPS.get(code, "trap") if code is not None else "trap"
        return CallFailure(failure, cause)
    if isinstance(error, wasmtime.ExitTrap):
        return CallFailure("trap", f"the plugin exited with code {error.code}")
    return CallFailure("trap", cause)


def read_result(
    memory: wasmtime.Memory,
    store: wasmtime.Store,
    pointer: int,
    *,
    max_bytes: int,
    records: int | None,
) -> CallResult:
    """Check and copy out the result block at ``pointer`` and what it points to.

    Args:
        memory: The guest's memory.
        store: Its store.
        pointer: What the call returned (an ``i32``; negative values wrap).
        max_bytes: The most bytes the output, or the error list, may have.
        records: How many records the call's input had; error indexes must be
            below it. ``None`` for calls without input (no index check).

    Returns:
        The output and errors of a call with status 0.

    Raises:
        CallFailure: ``bad-status`` for a non-zero status (with its error list when
            that is readable), ``bad-output`` for anything out of bounds or
            malformed.
    """
    size = memory.data_len(store)
    at = pointer & _MASK
    if at + _BLOCK.size > size:
        raise CallFailure(
            "bad-output", f"result block at {at} is outside the plugin's memory ({size} bytes)"
        )
    status, out_ptr, out_len, err_ptr, err_len = _BLOCK.unpack(memory.read(store, at, at + 20))
    if status != 0:
        try:
            # A failed call's messages explain the failure; they need not name a record
            # (the SDKs put one at index 0, even for an empty batch), so keep them all.
            errors = _read_errors(memory, store, err_ptr, err_len, size, max_bytes, None)
        except CallFailure:
            errors = ()
        meaning = _STATUS.get(status, "plugin-defined" if status >= 16 else "undefined status")
        said = "; ".join(f"record {e.index}: {e.message}" for e in errors)
        raise CallFailure(
            "memory" if status == 3 else "bad-status",
            f"status {status} ({meaning}){': ' + said if said else ''}",
            code=status,
            errors=errors,
        )
    _check_region("output", out_ptr, out_len, size, max_bytes)
    output = memory.read(store, out_ptr, out_ptr + out_len) if out_len else bytearray()
    errors = _read_errors(memory, store, err_ptr, err_len, size, max_bytes, records)
    return CallResult(output=output, errors=errors)


def _check_region(what: str, start: int, length: int, size: int, max_bytes: int) -> None:
    if length > max_bytes:
        raise CallFailure(
            "bad-output",
            f"{what} is {length} bytes, over the limit of {max_bytes} (max_output_bytes)",
        )
    if start + length > size:
        raise CallFailure(
            "bad-output",
            f"{what} region [{start}, {start + length}) is outside the plugin's memory "
            f"({size} bytes)",
        )


def _read_errors(
    memory: wasmtime.Memory,
    store: wasmtime.Store,
    start: int,
    length: int,
    size: int,
    max_bytes: int,
    records: int | None,
) -> tuple[RecordError, ...]:
    if length == 0:
        return ()
    _check_region("error list", start, length, size, max_bytes)
    data = memory.read(store, start, start + length)
    if length < 4:
        raise CallFailure("bad-output", f"error list is {length} bytes, too short for its count")
    (count,) = _U32.unpack_from(data)
    # Each entry takes at least 12 bytes, which also bounds the loop.
    if count > (length - 4) // _ENTRY.size:
        raise CallFailure("bad-output", f"error list claims {count} entries in {length} bytes")
    errors = []
    position = 4
    for entry in range(count):
        if position + _ENTRY.size > length:
            raise CallFailure("bad-output", f"error list entry {entry} runs past its end")
        index, code, message_len = _ENTRY.unpack_from(data, position)
        position += _ENTRY.size
        if position + message_len > length:
            raise CallFailure("bad-output", f"error list entry {entry} message runs past its end")
        if records is not None and index >= records:
            raise CallFailure(
                "bad-output",
                f"error list entry {entry} names input record {index} of a {records}-record batch",
            )
        message = data[position : position + message_len].decode("utf-8", "replace")
        errors.append(RecordError(index=index, code=code, message=message))
        position += message_len
    return tuple(errors)
