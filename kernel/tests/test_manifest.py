"""Plugin manifests: their fields' rules, every problem reported at once, canonical JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel._manifest import FileDigest, PluginLimits, PluginManifest
from dataflare.kernel._manifest_rules import member_name_problem, namespace_problem
from dataflare.kernel.errors import PluginVerificationError

REQUIRED = {
    "name": "acme/redact",
    "version": "1.2.0",
    "kind": "map",
    "dataflare": ">=0.1,<0.2",
    "license": "Apache-2.0",
}


def manifest_json(**changes: object) -> bytes:
    """A manifest document with the required fields, changed or extended by ``changes``."""
    return json.dumps({**REQUIRED, **changes}).encode()


def problems(data: bytes) -> str:
    """Parse a manifest that must be refused as malformed; return the error message."""
    with pytest.raises(PluginVerificationError) as caught:
        PluginManifest.from_json(data, origin="redact.dfp")
    assert caught.value.reason == "malformed"
    return str(caught.value)


def test_defaults_are_the_documented_ones():
    """Omitted fields take the ABI page's defaults: 64 MiB, 10M + 100k fuel, 1 s, 64 MiB out."""
    manifest = PluginManifest.from_json(manifest_json())
    assert manifest.limits == PluginLimits(64, 10_000_000, 100_000, 1000, 64 * 2**20)
    assert (manifest.schema, manifest.abi, manifest.module) == (
        1,
        "dataflare-batch/1",
        "plugin.wasm",
    )
    assert (manifest.capabilities, dict(manifest.params), dict(manifest.files)) == ((), {}, {})


def test_to_json_is_canonical_and_round_trips():
    """to_json writes every field with sorted keys and no spaces, and reads back equal."""
    manifest = PluginManifest.from_json(
        manifest_json(
            capabilities=["log"],
            params={"mask": "#"},
            files={"plugin.wasm": {"sha256": "a" * 64, "size": 8}},
        )
    )
    data = manifest.to_json()
    document = json.loads(data)
    assert list(document) == sorted(document)
    assert b" " not in data.replace(b"Apache-2.0", b"")
    assert document["limits"]["memory_mb"] == 64  # defaults are written, not implied
    assert PluginManifest.from_json(data) == manifest
    assert PluginManifest.from_json(data).to_json() == data


@given(
    description=st.text(max_size=40),
    params=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4),
    memory_mb=st.integers(1, 4096),
)
def test_any_valid_manifest_round_trips(description, params, memory_mb):
    """Any description (Unicode included), parameters and memory limit survive JSON unchanged."""
    manifest = PluginManifest(
        **REQUIRED,
        description=description,
        params=params,
        limits=PluginLimits(memory_mb=memory_mb),
    )
    assert PluginManifest.from_json(manifest.to_json()) == manifest


def test_every_problem_is_reported_at_once_with_its_path():
    """One bad document yields one error that lists each bad field by its path."""
    message = problems(
        json.dumps(
            {
                "name": "Acme/Redact",
                "version": "one",
                "kind": "mapp",
                "dataflare": "",
                "license": "MIT or Apache-2.0",
                "capabilities": ["wasi"],
                "limits": {"memory_mb": 0, "fuel_base": 1.5, "timeout_ms": -1},
                "files": {"plugin.wasm": {"sha256": "zz", "size": -1}},
                "capabilites": [],
            }
        ).encode()
    )
    assert "has 12 problems" in message
    for expected in (
        "name: expected namespace/name",
        "(write 'acme/redact')",
        "version: 'one' is not a version number",
        "kind: unknown kind 'mapp' (did you mean 'map'?)",
        "dataflare: expected the DataFlare versions",
        "license: 'MIT or Apache-2.0' is not an SPDX licence expression",
        "capabilities: unknown capability 'wasi'",
        "limits.memory_mb: must be greater than 0, got 0",
        "limits.fuel_base: expected an integer, got 1.5",
        "limits.timeout_ms: must be greater than 0, got -1",
        'files["plugin.wasm"].sha256: expected 64 lowercase hexadecimal digits',
        'files["plugin.wasm"].size: must be 0 or more, got -1',
        "capabilites: unknown key (did you mean 'capabilities'?)",
    ):
        assert expected in message
    assert message.endswith("fix the manifest, then rebuild and sign the package again")


def test_missing_required_keys_are_each_named():
    """An empty object names every required key that is missing."""
    message = problems(b"{}")
    for key in ("name", "version", "kind", "dataflare", "license"):
        assert f"{key}: required key is missing" in message


def test_the_error_names_the_plugin_or_else_the_package():
    """A valid name identifies the plugin in the error; without one, the package file does."""
    with pytest.raises(PluginVerificationError) as named:
        PluginManifest.from_json(manifest_json(kind="x"), origin="redact.dfp")
    with pytest.raises(PluginVerificationError) as unnamed:
        PluginManifest.from_json(manifest_json(name="Bad", kind="x"), origin="redact.dfp")
    assert named.value.plugin == "acme/redact"
    assert unnamed.value.plugin == "redact.dfp"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b'{"name": ', "is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (b'{"name": "a/b", "name": "acme/redact"}', "the key 'name' appears twice"),
        (b'{"limits": {"memory_mb": NaN}}', "NaN is not a JSON value"),
    ],
)
def test_documents_that_are_not_manifests_are_refused(data, expected):
    """Bytes that are not one unambiguous JSON object are refused before any field is read."""
    assert expected in problems(data)


def test_a_newer_schema_asks_for_an_upgrade():
    """A manifest written for a later schema says to upgrade rather than listing unknown keys."""
    message = problems(manifest_json(schema=2, sandbox={"gpu": True}))
    assert "uses manifest schema 2; this DataFlare reads schema 1: upgrade dataflare-kernel" in (
        message
    )
    assert "sandbox" not in message


@pytest.mark.parametrize("name", ["acme/redact", "a/b", "acme-corp/pii-mask-2", "0/9"])
def test_valid_names_are_accepted(name):
    """Lowercase letters, digits and inner hyphens, one slash, are a valid name."""
    assert PluginManifest.from_json(manifest_json(name=name)).name == name


@pytest.mark.parametrize(
    "name", ["redact", "acme/", "/redact", "acme/re/dact", "-acme/x", "acme/x-", "ac_me/x", "É/x"]
)
def test_invalid_names_are_refused(name):
    """Anything but ``namespace/name`` in lowercase letters, digits and hyphens is refused."""
    assert "name: expected namespace/name" in problems(manifest_json(name=name))


@pytest.mark.parametrize(
    "expression",
    [
        "MIT",
        "Apache-2.0",
        "MIT OR Apache-2.0",
        "GPL-2.0+",
        "LicenseRef-Proprietary",
        "(MIT AND BSD-3-Clause) OR GPL-2.0-or-later WITH Classpath-exception-2.0",
        "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
    ],
)
def test_spdx_expressions_are_accepted(expression):
    """Identifiers joined by AND, OR and WITH, with parentheses, are a licence expression."""
    assert PluginManifest.from_json(manifest_json(license=expression)).license == expression


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "it is empty"),
        ("MIT OR", "it ends too soon"),
        ("MIT or Apache-2.0", "write the operator 'or' in capitals"),
        ("(MIT OR Apache-2.0", "a '(' is not closed"),
        ("MIT)", "unexpected ')'"),
        ("MIT AND AND BSD-2-Clause", "unexpected 'AND'"),
        ("Apache 2.0", "unexpected '2.0'"),
        ("MIT WITH (X)", "unexpected '('"),
        ("MIT/X11", "'MIT/X11' is not a licence identifier"),
    ],
)
def test_malformed_spdx_expressions_are_refused(expression, problem):
    """A licence that is not an SPDX expression is refused, saying where it goes wrong."""
    assert f"not an SPDX licence expression ({problem})" in problems(
        manifest_json(license=expression)
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("version", "1.2.0-rc.1!", "is not a version number"),
        ("dataflare", "~0.1", "expected the DataFlare versions"),
        ("abi", "dataflare-batch/v1", "expected an ABI such as 'dataflare-batch/1'"),
        ("capabilities", ["log", "log"], "a capability is listed twice"),
        ("module", "../plugin.wasm", "contains '..'"),
        ("params", {"": "x"}, "a parameter name is empty"),
        ("limits", {"memory_mb": 4097}, "must be at most 4096"),
        ("files", {"dataflare-plugin.sig": {"sha256": "a" * 64, "size": 1}}, "is reserved"),
        ("files", {"a\\b": {"sha256": "a" * 64, "size": 1}}, "contains a backslash"),
    ],
)
def test_field_rules(field, value, expected):
    """Each field's rule refuses a bad value with its own explanation."""
    assert f"{field}" in problems(manifest_json(**{field: value}))
    assert expected in problems(manifest_json(**{field: value}))


def test_mappings_are_read_only():
    """A manifest's params and files cannot be changed after it is made."""
    manifest = PluginManifest(**REQUIRED, params={"a": "b"}, files={})
    with pytest.raises(TypeError):
        manifest.params["a"] = "c"  # type: ignore[index]
    with pytest.raises(TypeError):
        manifest.files["x"] = FileDigest("a" * 64, 1)  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\b", "a//b", "./a", "a b", "", "é.md"],
)
def test_unsafe_member_names_are_refused(name):
    """Absolute, climbing, backslashed, empty-segment and non-portable names are not files."""
    assert member_name_problem(name) is not None


@pytest.mark.parametrize("name", ["plugin.wasm", "docs/README.md", "sbom.spdx.json", "LICENSE"])
def test_safe_member_names_are_accepted(name):
    """Relative names of portable characters are files a package may hold."""
    assert member_name_problem(name) is None


def test_namespaces_follow_the_name_rule():
    """A publisher namespace is one lowercase part of a plugin name."""
    assert namespace_problem("acme") is None
    assert "not a publisher namespace" in (namespace_problem("Acme Corp") or "")
