"""The ZIP container of a plugin package, read strictly and written reproducibly.

A package archive holds only stored (uncompressed) plain files with safe
relative names. Reading refuses anything an archive could use to escape or
confuse: absolute or ``..`` paths, backslashes, NUL bytes, directories,
symlinks, duplicate or case-colliding names, compression, encryption, and more
than :data:`MAX_MEMBERS` members or :data:`MAX_PACKAGE_BYTES` bytes. What the
files mean is :mod:`dataflare.kernel._package`'s business.

Example::

    origin, data = load_archive(Path("redact.dfp"))
    members = archive_members(data, origin)       # {"dataflare-plugin.json": b"{...}", ...}
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from dataflare.kernel._manifest_rules import member_name_problem
from dataflare.kernel.errors import PluginError, PluginVerificationError

__all__ = (
    "MAX_MEMBERS",
    "MAX_PACKAGE_BYTES",
    "REBUILD",
    "archive_members",
    "load_archive",
    "malformed",
    "write_archive",
)

MAX_MEMBERS: Final = 64
"""Most files a package may hold, manifest and signature included."""
MAX_PACKAGE_BYTES: Final = 64 * 2**20
"""Most bytes the files of a package may add up to."""
REBUILD: Final = "rebuild it with `dataflare plugin build`"

_ARCHIVE_OVERHEAD = 2**20  # the headers and names of 64 members take far less
_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a ZIP can hold: the same input, the same bytes


def malformed(origin: str, problem: str) -> PluginVerificationError:
    """Build the error for an archive that breaks a rule.

    Args:
        origin: The package file, as the user named it.
        problem: What is wrong, phrased to follow "the package".

    Returns:
        A ``malformed`` error naming the file and the fix.
    """
    return PluginVerificationError(
        "malformed",
        f"the package {problem}. Do not use it; get it again from its publisher, or {REBUILD}",
        plugin=origin,
    )


def load_archive(source: Path | bytes) -> tuple[str, bytes]:
    """Read a package file, refusing one too large to be a package before reading it.

    Args:
        source: The file, or the package's bytes.

    Returns:
        What to call the package in messages, and its bytes.

    Raises:
        PluginVerificationError: ``malformed``, for a file over the size limit.
        PluginError: The file cannot be read.
    """
    if isinstance(source, bytes):
        return "<bytes>", source
    try:
        with source.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_PACKAGE_BYTES + _ARCHIVE_OVERHEAD:
                raise malformed(str(source), f"is {size} bytes; a package holds at most 64 MiB")
            return str(source), file.read()
    except OSError as exc:
        raise PluginError(f"cannot read plugin package {source}: {exc.strerror}") from None


def archive_members(data: bytes, origin: str) -> dict[str, bytes]:
    """Check every rule of a package archive and return its files.

    Args:
        data: The archive's bytes.
        origin: What to call the package in messages.

    Returns:
        Each member's bytes, by name (ZIP's CRC checked).

    Raises:
        PluginVerificationError: ``malformed``, naming the rule broken.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise malformed(origin, "is not a ZIP archive, so not a plugin package") from None
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise malformed(origin, f"holds {len(infos)} files; a package holds at most {MAX_MEMBERS}")
    folded: dict[str, str] = {}
    for info in infos:
        problem = _member_problem(info)
        key = info.filename.lower()
        if problem is None and key in folded:
            other = folded[key]
            problem = (
                f"holds {other!r} twice"
                if other == info.filename
                else f"holds {other!r} and {info.filename!r}, which differ only in case"
            )
        if problem:
            raise malformed(origin, problem)
        folded[key] = info.filename
    if sum(info.file_size for info in infos) > MAX_PACKAGE_BYTES:
        raise malformed(origin, "unpacks to more than 64 MiB, the most a package may hold")
    try:
        return {info.filename: archive.read(info) for info in infos}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise malformed(origin, f"is damaged ({exc})") from None


def write_archive(destination: Path, members: Sequence[tuple[str, bytes]]) -> None:
    """Write members, in order, as a stored ZIP; atomically, and the same bytes every time.

    Args:
        destination: The file to write or replace.
        members: ``(name, bytes)`` pairs; names are checked by the caller.
    """
    descriptor, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
                for name, data in members:
                    info = zipfile.ZipInfo(name, date_time=_TIMESTAMP)
                    info.create_system = 3  # Unix, whatever system wrote it
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    archive.writestr(info, data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; a package is not secret
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if info.orig_filename != name:  # zipfile cut the name at a NUL (or turned \ into /)
        return f"has a member named {info.orig_filename!r}, with a NUL character or a backslash"
    if info.is_dir() or info.external_attr & 0x10 or stat.S_ISDIR(mode):
        return f"holds the directory entry {name!r}; a package holds plain files only"
    if stat.S_ISLNK(mode):
        return f"holds the symbolic link {name!r}; a package holds plain files only"
    if problem := member_name_problem(name):
        return f"holds a member whose {problem}"
    if info.flag_bits & 0x1:
        return f"holds the encrypted member {name!r}"
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        return f"holds the compressed member {name!r}; a package stores its files uncompressed"
    return None
