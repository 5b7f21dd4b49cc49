"""The compile cache: native code that this host compiled, and nothing else, kept on disk.

Deserialising a compiled module runs the native code inside it, so wasmtime treats
``Module.deserialize`` as unsafe on anything but its own output. The cache therefore
trusts only what it can prove it wrote:

* the directory is created 0700 and must belong to this user with no group or
  other access, or the cache stays off (every load compiles);
* each artifact is a 0600 file owned by this user, opened without following
  symlinks, and carries an HMAC-SHA256 over its key and bytes under a host-local
  secret (``secret``, 0600, in the same directory);
* an artifact that fails any check, or that wasmtime refuses, is deleted, and the
  caller compiles again from the wasm it has already verified.

The key binds the wasm's sha256, the wasmtime version and the engine's settings:
wasmtime refuses code compiled under other settings, and a new wasmtime may not
read an old artifact at all.

Example::

    cache = CompileCache(Path("~/.dataflare/cache/wasm").expanduser())
    key = cache.key(wasm_sha256, engine_fingerprint)
    module = cache.get(key, engine)            # None: not cached, or refused
    if module is None:
        module = wasmtime.Module(engine, wasm)
        cache.put(key, module)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import stat
import tempfile
import threading
from pathlib import Path

import attrs
import wasmtime

__all__ = ("CacheStats", "CompileCache")

logger = logging.getLogger("dataflare.plugins.cache")

_MAGIC = b"DFWC\x01\x00\x00\x00"
_MAC_SIZE = hashlib.sha256().digest_size
_SECRET_NAME = "secret"
_SECRET_SIZE = 32
_SUFFIX = ".cwasm"


@attrs.define
class CacheStats:
    """What the compile cache has done since it was opened."""

    hits: int = 0
    """Modules served from an artifact on disk."""
    misses: int = 0
    """Lookups that found no artifact (the caller compiled)."""
    rejected: int = 0
    """Artifacts refused and deleted: bad HMAC, mode or owner, or refused by wasmtime."""
    stored: int = 0
    """Artifacts written."""


class CompileCache:
    """Compiled modules on disk, each proven by an HMAC to come from this host.

    Thread-safe. A directory that cannot be made private turns the cache off
    (:attr:`enabled` is false) with a warning; loading still works, it compiles.

    Args:
        directory: Where artifacts live; created 0700 when missing.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._secret = _open_directory(directory)

    @property
    def enabled(self) -> bool:
        """Whether artifacts are read and written (the directory passed its checks)."""
        return self._secret is not None

    @staticmethod
    def key(wasm_sha256: str, fingerprint: str) -> str:
        """Return the cache key for a wasm under an engine configuration.

        Args:
            wasm_sha256: The hex sha256 of the wasm bytes.
            fingerprint: The engine's settings and wasmtime version (see
                :attr:`WasmEngine.fingerprint
                <dataflare.kernel._wasm_engine.WasmEngine.fingerprint>`).

        Returns:
            A hex digest naming the artifact.
        """
        return hashlib.sha256(f"{wasm_sha256}\0{fingerprint}".encode()).hexdigest()

    def get(self, key: str, engine: wasmtime.Engine) -> wasmtime.Module | None:
        """Return the cached module for ``key``, or ``None`` when there is none to trust.

        Args:
            key: From :meth:`key`.
            engine: The engine the module was compiled for.

        Returns:
            The module, or ``None``: no artifact, the cache is off, or the artifact
            failed a check (it is then deleted and counted in ``stats.rejected``).
        """
        if self._secret is None:
            self._count("misses")
            return None
        path = self.directory / f"{key}{_SUFFIX}"
        try:
            blob = _read_private(path)
        except FileNotFoundError:
            self._count("misses")
            return None
        except (OSError, _Refused) as exc:
            self._reject(path, str(exc))
            return None
        header = len(_MAGIC) + _MAC_SIZE
        mac = blob[len(_MAGIC) : header]
        artifact = blob[header:]
        if not blob.startswith(_MAGIC) or not hmac.compare_digest(mac, self._mac(key, artifact)):
            self._reject(path, "its HMAC does not match: it was not written by this host")
            return None
        try:
            module = wasmtime.Module.deserialize(engine, artifact)
        except wasmtime.WasmtimeError as exc:
            self._reject(path, f"wasmtime refused it: {exc}")
            return None
        self._count("hits")
        return module

    def put(self, key: str, module: wasmtime.Module) -> None:
        """Serialise ``module`` and store it under ``key``, atomically.

        A failure to write is logged and otherwise ignored: the cache is an
        optimisation.

        Args:
            key: From :meth:`key`.
            module: A module this process compiled from verified wasm.
        """
        if self._secret is None:
            return
        artifact = bytes(module.serialize())
        blob = _MAGIC + self._mac(key, artifact) + artifact
        try:
            _write_private(self.directory / f"{key}{_SUFFIX}", blob)
        except OSError as exc:
            logger.warning(
                "could not write a compiled module to the cache: %s",
                exc,
                extra={"cache_dir": str(self.directory)},
            )
            return
        self._count("stored")

    def _mac(self, key: str, artifact: bytes) -> bytes:
        assert self._secret is not None
        return hmac.new(self._secret, key.encode() + b"\0" + artifact, hashlib.sha256).digest()

    def _reject(self, path: Path, reason: str) -> None:
        logger.warning(
            "ignoring cached module %s: %s; compiling it again",
            path.name,
            reason,
            extra={"cache_dir": str(self.directory)},
        )
        with contextlib.suppress(OSError):
            path.unlink()
        self._count("rejected")

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)


class _Refused(Exception):
    """A cache file exists but is not ours alone (mode, owner, or not a regular file)."""


def _problem(status: os.stat_result, what: str) -> str | None:
    if status.st_uid != os.geteuid():
        return f"{what} belongs to uid {status.st_uid}, not to this user ({os.geteuid()})"
    if status.st_mode & 0o077:
        mode = stat.S_IMODE(status.st_mode)
        return f"{what} has mode {mode:04o}; only its owner may have access"
    return None


def _read_private(path: Path) -> bytes:
    # O_NOFOLLOW: a symlink planted in the directory is refused, not followed.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise _Refused("it is not a regular file")
        problem = _problem(status, "it")
        if problem:
            raise _Refused(problem)
        return file.read()


def _write_private(path: Path, data: bytes) -> None:
    # mkstemp creates the file 0600; os.replace publishes it in one step.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _open_directory(directory: Path) -> bytes | None:
    """Make the directory private and return its secret, or ``None`` to turn the cache off."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        problem = _problem(directory.stat(), f"the cache directory {directory}")
        if problem is None:
            return _secret(directory)
    except OSError as exc:
        problem = f"the cache directory {directory} is unusable: {exc}"
    logger.warning(
        "compile cache disabled: %s; every plugin load will compile (fix the directory "
        "with `chmod 700` or point kernel.plugins.cache_dir elsewhere)",
        problem,
        extra={"cache_dir": str(directory)},
    )
    return None


def _secret(directory: Path) -> bytes:
    path = directory / _SECRET_NAME
    try:
        data = _read_private(path)
    except FileNotFoundError:
        return _new_secret(path, replace=False)
    except (OSError, _Refused) as exc:
        logger.warning("replacing the compile cache secret: %s", exc)
        return _new_secret(path, replace=True)
    if len(data) != _SECRET_SIZE:
        logger.warning("replacing the compile cache secret: it is %d bytes", len(data))
        return _new_secret(path, replace=True)
    return data


def _new_secret(path: Path, *, replace: bool) -> bytes:
    # A new secret invalidates every artifact signed with the old one: they are
    # then refused one by one and recompiled.
    secret = os.urandom(_SECRET_SIZE)
    if replace:
        _write_private(path, secret)
        return secret
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-secret-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secret)
        # link() fails if another process created the secret first; then use theirs.
        os.link(temporary, path)
    except FileExistsError:
        return _secret(path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return secret
