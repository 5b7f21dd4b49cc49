"""The embedded default state backend: one file per key, replaced atomically.

A save writes a temporary file beside the target, fsyncs it, renames it over the
target and fsyncs the directory, so after a crash (even SIGKILL mid-write, or a
power loss) a key holds either its old value or its new one, never a torn mix.
Leftover temporary files from an interrupted save are ignored and cleaned up.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from dataflare.streaming._state import StateBackend, check_key
from dataflare.streaming.errors import StateBackendError

__all__ = ("FileStateBackend",)

_SUFFIX = ".state"
_TEMP = ".tmp-"


class FileStateBackend(StateBackend):
    """Keeps each key in ``root/<key>.state``; crash-safe through atomic renames."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / (check_key(key) + _SUFFIX)

    async def save(self, key: str, value: bytes) -> None:
        path = self._path(key)
        await anyio.to_thread.run_sync(self._write, path, bytes(value))

    def _write(self, path: Path, value: bytes) -> None:
        temp = path.with_name(f"{_TEMP}{os.getpid()}-{path.name}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with temp.open("wb") as handle:
                handle.write(value)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself must survive a power loss
            finally:
                os.close(directory)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StateBackendError(f"cannot save to {path}: {exc}", key=str(path)) from exc

    async def load(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateBackendError(f"cannot read {path}: {exc}", key=key) from exc

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.exists():
            return []
        keys: list[str] = []
        for path in self.root.rglob(f"*{_SUFFIX}"):
            if path.name.startswith(_TEMP):
                path.unlink(missing_ok=True)  # an interrupted save: the old value stands
                continue
            key = path.relative_to(self.root).as_posix().removesuffix(_SUFFIX)
            if key.startswith(prefix):
                keys.append(key)
        return sorted(keys)
