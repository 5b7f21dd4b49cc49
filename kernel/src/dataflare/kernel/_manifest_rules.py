"""The rules a manifest's fields follow, each a check that says what is wrong and how to fix it.

Used as attrs validators by :mod:`dataflare.kernel._manifest`, and on their own
where the same rule applies (a publisher's name is a namespace; a package member
is a file name a manifest may list)::

    member_name_problem("../evil.py")   # "file name '../evil.py' contains '..', ..."
    namespace_problem("acme")           # None
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from dataflare.kernel._suggest import did_you_mean

__all__ = (
    "ABI_V1",
    "CAPABILITIES",
    "KINDS",
    "MANIFEST_FILE",
    "NAME",
    "SCHEMA",
    "SIGNATURE_FILE",
    "at_most_4_gib",
    "check_abi",
    "check_capabilities",
    "check_files",
    "check_kind",
    "check_license",
    "check_module",
    "check_name",
    "check_params",
    "check_schema",
    "check_specifier",
    "check_version",
    "frozen_mapping",
    "member_name_problem",
    "namespace_problem",
    "not_negative",
    "positive",
    "sha256_hex",
)

MANIFEST_FILE: Final = "dataflare-plugin.json"
"""The manifest's name inside a package."""
SIGNATURE_FILE: Final = "dataflare-plugin.sig"
"""The signature envelope's name inside a package."""
ABI_V1: Final = "dataflare-batch/1"
KINDS: Final = ("filter", "map", "filter_map", "flat_map", "aggregate")
CAPABILITIES: Final = ("log", "wasi-stdio")
SCHEMA: Final = 1

_PART = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"  # DNS-label-like: no leading or trailing hyphen
_NAMESPACE = re.compile(_PART)
NAME: Final = re.compile(f"{_PART}/{_PART}")
_ABI = re.compile(r"[a-z][a-z0-9-]*/[1-9][0-9]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")  # the POSIX portable file name characters
_SPDX_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_SPDX_ID = re.compile(r"(?:DocumentRef-[A-Za-z0-9.-]+:)?[A-Za-z0-9][A-Za-z0-9.-]*\+?")
_MAX_MEMORY_MB = 4096  # all a wasm32 memory can address
_RESERVED = (MANIFEST_FILE, SIGNATURE_FILE)


def namespace_problem(namespace: str) -> str | None:
    """Say what is wrong with a publisher namespace (``acme``), or ``None`` if nothing.

    Args:
        namespace: The namespace or publisher name to check.

    Returns:
        A description of the problem, or ``None``.
    """
    if _NAMESPACE.fullmatch(namespace):
        return None
    return (
        f"{namespace!r} is not a publisher namespace: use 1 to 64 lowercase letters, digits "
        "and hyphens, not starting or ending with a hyphen (e.g. 'acme')"
    )


def member_name_problem(name: str) -> str | None:
    """Say why a file name may not be in a package, or ``None`` if it may.

    Names are relative, use ``/`` between folders, and are made of letters,
    digits, ``.``, ``_`` and ``-`` only, so no archive tool or file system can
    read them as anything else.

    Args:
        name: The file's path inside the package.

    Returns:
        A description of the problem, or ``None``.
    """
    segments = name.split("/")
    problem = None
    if not name:
        problem = "is empty"
    elif name.startswith("/") or re.match(r"[A-Za-z]:", name):
        problem = "is an absolute path; use a path relative to the package"
    elif "\\" in name:
        problem = "contains a backslash; use '/' between folders"
    elif ".." in segments:
        problem = "contains '..', which would reach outside the package"
    elif len(name) > 255 or any(s in ("", ".") for s in segments):
        problem = "has an empty or '.' folder, or is longer than 255 characters"
    elif not all(_SEGMENT.fullmatch(segment) for segment in segments):
        problem = "may only use letters, digits, '.', '_', '-' and '/'"
    return None if problem is None else f"file name {name!r} {problem}"


def positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    """Refuse 0 and negative numbers."""
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")


def at_most_4_gib(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    """Refuse more memory than a wasm32 module can address."""
    if value > _MAX_MEMORY_MB:
        raise ValueError(f"must be at most {_MAX_MEMORY_MB} (a wasm32 memory's 4 GiB), got {value}")


def sha256_hex(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require a SHA-256 digest as 64 lowercase hex digits."""
    if not _SHA256.fullmatch(value):
        raise ValueError(f"expected 64 lowercase hexadecimal digits, got {value!r}")


def not_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    """Refuse negative numbers."""
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def check_schema(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    """Require the manifest schema this DataFlare reads."""
    if value != SCHEMA:
        raise ValueError(f"this DataFlare reads manifest schema {SCHEMA}, got {value}")


def check_name(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require ``namespace/name`` in lowercase letters, digits and hyphens."""
    if not NAME.fullmatch(value):
        suggestion = value.lower().replace("_", "-").replace(" ", "-")
        hint = f" (write {suggestion!r})" if NAME.fullmatch(suggestion) else ""
        raise ValueError(
            f"expected namespace/name in lowercase letters, digits and hyphens, "
            f"e.g. 'acme/redact', got {value!r}{hint}"
        )


def check_version(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require a PEP 440 version number."""
    try:
        Version(value)
    except InvalidVersion:
        raise ValueError(f"{value!r} is not a version number, e.g. '1.2.0'") from None


def check_abi(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require an ABI name such as ``dataflare-batch/1``; support is checked at load."""
    if not _ABI.fullmatch(value):
        raise ValueError(f"expected an ABI such as {ABI_V1!r}, got {value!r}")


def check_kind(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require one of :data:`KINDS`."""
    if value not in KINDS:
        hint = did_you_mean(value, KINDS) or f"one of: {', '.join(KINDS)}"
        raise ValueError(f"unknown kind {value!r} ({hint})")


def check_specifier(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require a non-empty version specifier (``>=0.1,<0.2``)."""
    try:
        specifier = SpecifierSet(value)
    except InvalidSpecifier:
        specifier = None
    if specifier is None or not str(specifier):
        raise ValueError(
            f"expected the DataFlare versions the plugin works with, e.g. '>=0.1,<0.2', "
            f"got {value!r}"
        )


def check_license(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require the shape of an SPDX expression (no licence list is consulted)."""
    problem = _spdx_problem(_SPDX_TOKEN.findall(value))
    if problem:
        raise ValueError(
            f"{value!r} is not an SPDX licence expression ({problem}); "
            "write e.g. 'Apache-2.0', 'MIT OR Apache-2.0' or 'LicenseRef-Proprietary'"
        )


def _spdx_problem(tokens: list[str]) -> str | None:
    """Check the shape of an SPDX expression: ids joined by AND/OR, WITH, parentheses."""
    want_id, depth, after_with = True, 0, False
    for token in tokens:
        if token.upper() in ("AND", "OR", "WITH") and token != token.upper():
            return f"write the operator {token!r} in capitals"
        if want_id and token == "(" and not after_with:
            depth += 1
        elif want_id and token not in ("AND", "OR", "WITH", "(", ")"):
            if not _SPDX_ID.fullmatch(token):
                return f"{token!r} is not a licence identifier"
            want_id, after_with = False, False
        elif not want_id and token == ")" and depth > 0:
            depth -= 1
        elif not want_id and token in ("AND", "OR", "WITH"):
            want_id, after_with = True, token == "WITH"
        else:
            return f"unexpected {token!r}"
    if want_id:
        return "it is empty" if not tokens else "it ends too soon"
    return "a '(' is not closed" if depth else None


def check_capabilities(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    """Require known capabilities, each listed once."""
    problems = []
    for name in value:
        if name not in CAPABILITIES:
            hint = did_you_mean(name, CAPABILITIES) or f"allowed: {', '.join(CAPABILITIES)}"
            problems.append(f"unknown capability {name!r} ({hint})")
    if len(set(value)) != len(value):
        problems.append("a capability is listed twice")
    if problems:
        raise ValueError("; ".join(problems))


def check_files(_: object, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    """Require safe, unreserved file names."""
    problems = [problem for name in value if (problem := member_name_problem(name))]
    problems += [
        f"{name!r} is reserved for the package itself" for name in _RESERVED if name in value
    ]
    if problems:
        raise ValueError("; ".join(problems))


def check_module(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Require a safe file name for the module."""
    problem = member_name_problem(value)
    if problem:
        raise ValueError(problem)


def check_params(_: object, attribute: attrs.Attribute[Any], value: Mapping[str, str]) -> None:
    """Refuse an empty parameter name."""
    if "" in value:
        raise ValueError("a parameter name is empty")


def frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """Copy a mapping into a read-only one."""
    return MappingProxyType(dict(value))
