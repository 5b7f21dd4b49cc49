"""Loading signed plugins end to end: build, sign, trust, verify, run, and `plugin test`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dataflare.kernel import (
    Kernel,
    PluginVerificationError,
    RecordBatch,
    TrustStore,
    generate_keypair,
    hookimpl,
    load_plugin,
    save_private,
    sign_package,
)
from dataflare.kernel._authoring import build_project
from dataflare.kernel._cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The redact and high-value examples, built from source once (unsigned)."""
    root = tmp_path_factory.mktemp("built")
    packages = {}
    for name in ("redact", "high-value"):
        project = shutil.copytree(EXAMPLES / name, root / name)
        packages[name] = build_project(project)
    return packages


@pytest.fixture
def publisher(tmp_path):
    """An acme signing key, its private key file, and a trust store that trusts it."""
    identity = generate_keypair("acme")
    key_file = tmp_path / "acme.key"
    save_private(identity, key_file)
    trust = TrustStore.load(tmp_path / "trust.json")
    trust.trust(identity.public)
    return identity, key_file, trust


def signed(built: dict[str, Path], name: str, identity, tmp_path: Path) -> Path:
    copy = shutil.copy(built[name], tmp_path / built[name].name)
    return sign_package(Path(copy), identity)


def test_a_verified_plugin_runs_with_its_default_parameters(built, publisher, tmp_path, engine):
    """load_plugin verifies the package and returns a plugin that transforms batches."""
    identity, _, trust = publisher
    package = signed(built, "redact", identity, tmp_path)
    batch = RecordBatch.from_arrays(values=[b"card 4111-1111", b"no digits"])
    with load_plugin(package, trust=trust, engine=engine) as plugin:
        result = plugin.process(batch)
    assert [r.value for r in result.output] == [b"card ####-####", b"no digits"]
    assert result.dead_letters == ()
    assert result.calls == 1


def test_parameters_override_the_manifest_defaults(built, publisher, tmp_path, engine):
    """A parameter given at load time replaces the manifest's default."""
    identity, _, trust = publisher
    package = signed(built, "redact", identity, tmp_path)
    batch = RecordBatch.from_arrays(values=[b"pin 1234"])
    with load_plugin(package, trust=trust, params={"mask": "*"}, engine=engine) as plugin:
        assert plugin.process(batch).output.value(0) == b"pin ****"


def test_an_unsigned_build_never_runs(built, publisher, engine):
    """The package as built, before signing, is refused as unsigned."""
    _, _, trust = publisher
    with pytest.raises(PluginVerificationError) as refused:
        load_plugin(built["redact"], trust=trust, engine=engine)
    assert refused.value.reason == "unsigned"
    assert "dataflare plugin sign" in str(refused.value)


class LicencePolicy:
    """Refuses plugins under any licence but MIT."""

    name = "licence-policy"

    @hookimpl
    def dataflare_verify_plugin(self, manifest, key_id):
        if manifest["license"] != "MIT":
            return f"licence {manifest['license']} is not on this site's list (signed by {key_id})"
        return None


def test_the_kernel_asks_extensions_before_a_plugin_runs(built, publisher, tmp_path):
    """Kernel.load_plugin uses its trust store and refuses what an extension refuses."""
    identity, _, trust = publisher
    package = signed(built, "redact", identity, tmp_path)
    settings = {"trust_store": str(trust.path), "cache_dir": str(tmp_path / "cache")}
    config = {"kernel": {"plugins": settings}}
    strict = Kernel(config, plugins=[LicencePolicy()], discover=False)
    with pytest.raises(PluginVerificationError) as refused:
        strict.load_plugin(package)
    assert refused.value.reason == "refused"
    assert "licence Apache-2.0 is not on this site's list" in str(refused.value)
    assert identity.key_id in str(refused.value)
    lenient = Kernel(config, discover=False)
    with lenient.load_plugin(package) as plugin:
        assert plugin.name == "acme/redact"


def test_plugin_test_prints_output_and_figures(built, publisher, tmp_path, capsys):
    """`dataflare plugin test` prints output records as JSON lines and figures on stderr."""
    identity, _, trust = publisher
    package = signed(built, "redact", identity, tmp_path)
    records = tmp_path / "records.jsonl"
    lines = [{"key": "u1", "value": "call 555-0100", "timestamp": 7}, {"value": "hello"}]
    records.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code = main(
        ["plugin", "test", str(package), "--input", str(records), "--trust-store", str(trust.path)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["key"], r["value"], r["timestamp"]) for r in out] == [
        ("u1", "call ###-####", 7),
        ("", "hello", 0),
    ]
    assert "batch 0: 2 in, 2 out, 0 dead-lettered, fuel " in captured.err
    assert "acme/redact: 2 records in, 2 out, 0 dead-lettered" in captured.err


def test_plugin_test_shows_dead_letters(built, publisher, tmp_path, capsys):
    """Records a plugin rejects are listed on stderr with their index, code and message."""
    identity, _, trust = publisher
    package = signed(built, "high-value", identity, tmp_path)
    records = tmp_path / "orders.jsonl"
    records.write_text(
        '{"value": "a", "fields": {"amount": 250.0}}\n{"value": "b", "fields": {"amount": 20.0}}\n'
    )
    no_amount = tmp_path / "no-amount.jsonl"
    no_amount.write_text('{"value": "c"}\n')
    args = ["plugin", "test", str(package), "--trust-store", str(trust.path), "--input"]
    assert main([*args, str(records)]) == 0
    kept = capsys.readouterr()
    assert [json.loads(line)["value"] for line in kept.out.splitlines()] == ["a"]
    assert main([*args, str(no_amount)]) == 0
    rejected = capsys.readouterr()
    assert rejected.out == ""
    assert "dead letter: record 0 (record-error, code 1): " in rejected.err


def test_plugin_test_refuses_a_package_signed_by_an_untrusted_key(built, tmp_path, capsys):
    """With an empty trust store the command fails with the reason and exit code 1."""
    stranger = generate_keypair("acme")
    package = signed(built, "redact", stranger, tmp_path)
    records = tmp_path / "r.jsonl"
    records.write_text('{"value": "1"}\n')
    empty = tmp_path / "empty-trust.json"
    code = main(["plugin", "test", str(package), "-i", str(records), "--trust-store", str(empty)])
    assert code == 1
    assert stranger.key_id in capsys.readouterr().err
