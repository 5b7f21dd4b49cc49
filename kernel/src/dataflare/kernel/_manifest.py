"""A plugin's manifest, ``dataflare-plugin.json``: what it is, what it may do, what it ships.

The manifest is the document a publisher signs. It names the plugin, the DataFlare
versions and ABI it was built for, the capabilities and limits it runs with, and
the size and SHA-256 of every file in its package, so the one signature covers
all of them. The raw bytes are what is signed and verified; :meth:`~PluginManifest.
to_json` is only how a package builder writes them.

Example::

    manifest = PluginManifest.from_json(raw)   # every problem at once, as "malformed"
    manifest.limits.memory_mb                  # 64
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)

from dataflare.kernel._config_issues import format_path
from dataflare.kernel._convert import make_converter
from dataflare.kernel._manifest_rules import (
    ABI_V1,
    MANIFEST_FILE,
    NAME,
    SCHEMA,
    at_most_4_gib,
    check_abi,
    check_capabilities,
    check_files,
    check_kind,
    check_license,
    check_module,
    check_name,
    check_params,
    check_schema,
    check_specifier,
    check_version,
    frozen_mapping,
    not_negative,
    positive,
    sha256_hex,
)
from dataflare.kernel._suggest import did_you_mean
from dataflare.kernel.errors import PluginVerificationError

__all__ = ("FileDigest", "PluginLimits", "PluginManifest", "problems_of")


@attrs.frozen
class PluginLimits:
    """What one instance of the plugin may use; a host's policy may lower these, never raise."""

    memory_mb: int = attrs.field(default=64, validator=[positive, at_most_4_gib])
    """Linear memory, in MiB; growing past it fails (``memory.grow`` returns -1)."""

    fuel_base: int = attrs.field(default=10_000_000, validator=positive)
    """Wasmtime fuel for one batch, before the per-record allowance."""

    fuel_per_record: int = attrs.field(default=100_000, validator=positive)
    """Wasmtime fuel added per input record of a batch."""

    timeout_ms: int = attrs.field(default=1000, validator=positive)
    """Wall-clock time for one call, in milliseconds."""

    max_output_bytes: int = attrs.field(default=64 * 2**20, validator=positive)
    """Largest output batch the host accepts from one call, in bytes."""


@attrs.frozen
class FileDigest:
    """The size and SHA-256 of one file in a package, as the manifest records them."""

    sha256: str = attrs.field(validator=sha256_hex)
    """The file's SHA-256, as 64 lowercase hexadecimal digits."""

    size: int = attrs.field(validator=not_negative)
    """The file's size in bytes."""


@attrs.frozen(kw_only=True)
class PluginManifest:
    """A plugin's signed description: identity, compatibility, permissions and contents."""

    schema: int = attrs.field(default=SCHEMA, validator=check_schema)
    """The manifest format's version; this DataFlare reads version 1."""

    name: str = attrs.field(validator=check_name)
    """``namespace/name``; the namespace is the publisher whose key must sign it."""

    version: str = attrs.field(validator=check_version)
    """The plugin's own version, a PEP 440 version number (``1.2.0``)."""

    abi: str = attrs.field(default=ABI_V1, validator=check_abi)
    """The ABI the module is built for; it must match the module's ``df_abi_v*`` export."""

    kind: str = attrs.field(validator=check_kind)
    """What the plugin does to each record: one of :data:`KINDS`."""

    dataflare: str = attrs.field(validator=check_specifier)
    """The DataFlare versions it works with, a version specifier (``>=0.1,<0.2``)."""

    license: str = attrs.field(validator=check_license)
    """The licence, as an SPDX expression (``Apache-2.0``, ``MIT OR Apache-2.0``)."""

    description: str = ""
    """One line saying what the plugin does."""

    module: str = attrs.field(default="plugin.wasm", validator=check_module)
    """The package file holding the WebAssembly module."""

    capabilities: tuple[str, ...] = attrs.field(default=(), validator=check_capabilities)
    """What the module may import (``log``, ``wasi-stdio``); nothing when empty."""

    limits: PluginLimits = attrs.field(factory=PluginLimits)
    """What one instance may use."""

    params: Mapping[str, str] = attrs.field(
        factory=dict, converter=frozen_mapping, validator=check_params
    )
    """Default parameter values, which a pipeline's parameters override."""

    files: Mapping[str, FileDigest] = attrs.field(
        factory=dict, converter=frozen_mapping, validator=check_files
    )
    """Every file in the package but the manifest and the signature, module included."""

    @classmethod
    def from_json(cls, data: bytes, *, origin: str | None = None) -> PluginManifest:
        """Read a manifest, reporting every problem in it at once.

        Args:
            data: The manifest's bytes (UTF-8 JSON).
            origin: What to call the plugin in errors when the manifest has no
                usable name (the package's file name).

        Returns:
            The manifest.

        Raises:
            PluginVerificationError: ``malformed``, listing each problem with the
                path of the key it is about.
        """
        document = _parse(data, origin)
        name = document.get("name")
        plugin = name if isinstance(name, str) and NAME.fullmatch(name) else origin
        schema = document.get("schema", SCHEMA)
        if isinstance(schema, int) and schema != SCHEMA:
            raise PluginVerificationError(
                "malformed",
                f"{MANIFEST_FILE} uses manifest schema {schema}; this DataFlare reads schema "
                f"{SCHEMA}: upgrade dataflare-kernel, or use a release built for it",
                plugin=plugin,
            )
        try:
            return _CONVERTER.structure(document, cls)
        except (BaseValidationError, TypeError, ValueError) as exc:
            problems = problems_of(exc)
            count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
            listed = "".join(f"\n  {problem}" for problem in problems)
            raise PluginVerificationError(
                "malformed",
                f"{MANIFEST_FILE} has {count}:{listed}\n"
                "fix the manifest, then rebuild and sign the package again",
                plugin=plugin,
            ) from None

    def to_json(self) -> bytes:
        """Write the manifest canonically: every field, sorted keys, compact, UTF-8.

        Defaults are written out, so what a publisher signs does not change meaning
        if a later DataFlare changes a default.

        Returns:
            The manifest's bytes.
        """
        document = _CONVERTER.unstructure(self)
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()


_CONVERTER: Final[cattrs.Converter] = make_converter(forbid_extra_keys=True, strict=True)


def _parse(data: bytes, origin: str | None) -> dict[str, Any]:
    def refuse(problem: str) -> PluginVerificationError:
        return PluginVerificationError(
            "malformed",
            f"{MANIFEST_FILE} {problem}: rebuild the package with `dataflare plugin build`",
            plugin=origin,
        )

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Two readers of one manifest must never see different values for a key.
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise ValueError(f"the key {key!r} appears twice")
            document[key] = value
        return document

    def no_constant(word: str) -> Any:
        raise ValueError(f"{word} is not a JSON value")

    try:
        document = json.loads(
            data.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=no_constant
        )
    except UnicodeDecodeError:
        raise refuse("is not UTF-8 text") from None
    except ValueError as exc:
        raise refuse(f"is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise refuse("must hold a JSON object")
    return document


_NOTES = (AttributeValidationNote, IterableValidationNote)


def problems_of(exc: BaseException) -> list[str]:
    """List what a strict converter refused, one ``path: message`` line per problem.

    Args:
        exc: What ``structure`` raised.

    Returns:
        The problems, e.g. ``limits.memory_mb: must be greater than 0, got 0``.
    """
    return [f"{path or '(top level)'}: {text}" for path, text in _problems(exc, ())]


def _problems(exc: BaseException, path: tuple[Any, ...]) -> Iterator[tuple[str, str]]:
    """Flatten a cattrs error tree into ``(path, message)`` pairs."""
    if isinstance(exc, BaseValidationError):
        for child in exc.exceptions:
            note = next((n for n in getattr(child, "__notes__", ()) if isinstance(n, _NOTES)), None)
            if isinstance(note, AttributeValidationNote):
                yield from _problems(child, (*path, note.name))
            elif isinstance(note, IterableValidationNote):
                yield from _problems(child, (*path, note.index))
            else:
                yield from _problems(child, path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        names = [field.name for field in attrs.fields(exc.cl)]
        for key in sorted(exc.extra_fields):
            hint = did_you_mean(key, names) or f"valid keys: {', '.join(names)}"
            yield format_path((*path, key)), f"unknown key ({hint})"
    elif isinstance(exc, KeyError) and path and exc.args == (path[-1],):
        yield format_path(path), "required key is missing"
    else:
        yield format_path(path), str(exc)
