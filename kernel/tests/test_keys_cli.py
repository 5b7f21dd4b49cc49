"""``dataflare keys``: key ids and JSON on stdout, messages on stderr, the store on disk."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dataflare.kernel._keyfiles import load_private, load_public, save_public
from dataflare.kernel._keys_cli import keys
from dataflare.kernel._signing import generate_keypair
from dataflare.kernel._trust import TrustStore
from dataflare.kernel.errors import PluginError


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """The trust store the commands are pointed at."""
    return tmp_path / "trust.json"


def run(*args: str | Path, store: Path, env: dict[str, str] | None = None) -> Result:
    """Run ``keys`` with the test's trust store."""
    argv = [str(arg) for arg in args] + ["--trust-store", str(store)]
    return CliRunner().invoke(keys, argv, env=env)


def public_key_file(tmp_path: Path, publisher: str = "acme") -> tuple[Path, str]:
    """A new public key file for ``publisher`` and its key id."""
    identity = generate_keypair(publisher)
    path = save_public(identity.public, tmp_path / f"{publisher}-{identity.key_id[-4:]}.pub")
    return path, identity.key_id


def listed(store: Path) -> dict[str, dict[str, object]]:
    """``keys list --json``, by key id."""
    result = run("list", "--json", store=store)
    assert result.exit_code == 0, result.output
    return {row["key_id"]: row for row in json.loads(result.stdout)}


def test_generate_writes_a_key_pair_and_prints_its_id(tmp_path, store_path):
    """generate writes PUBLISHER.key (0600) and PUBLISHER.pub; only the key id is on stdout."""
    result = run("generate", "--publisher", "acme", "--out", tmp_path / "keys", store=store_path)
    assert result.exit_code == 0, result.output
    key_id = result.stdout.strip()
    identity = load_private(tmp_path / "keys" / "acme.key")
    assert identity.key_id == key_id
    assert load_public(tmp_path / "keys" / "acme.pub") == identity.public
    assert stat.S_IMODE((tmp_path / "keys" / "acme.key").stat().st_mode) == 0o600
    assert "never share or commit it" in result.stderr
    assert not store_path.exists()  # not trusted unless asked


def test_generate_defaults_to_dataflare_home_and_can_trust(tmp_path, store_path):
    """Without --out keys go to $DATAFLARE_HOME/keys (0700); --trust adds the key to the store."""
    env = {"DATAFLARE_HOME": str(tmp_path / "home")}
    result = run("generate", "--publisher", "acme", "--trust", store=store_path, env=env)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "home" / "keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "acme.key").exists()
    assert listed(store_path)[result.stdout.strip()]["status"] == "trusted"


def test_generate_never_overwrites_a_key(tmp_path, store_path):
    """A second generate into the same folder fails and leaves the first key as it was."""
    out = tmp_path / "keys"
    first = run("generate", "--publisher", "acme", "--out", out, store=store_path)
    second = run("generate", "--publisher", "acme", "--out", out, store=store_path)
    assert second.exit_code == 1
    assert isinstance(second.exception, PluginError)
    assert "already exist: a key file is never overwritten" in str(second.exception)
    assert load_private(out / "acme.key").key_id == first.stdout.strip()


def test_generate_refuses_an_invalid_publisher(tmp_path, store_path):
    """A publisher that is not a namespace gets no key."""
    result = run("generate", "--publisher", "ACME", "--out", tmp_path, store=store_path)
    assert isinstance(result.exception, PluginError)
    assert not list(tmp_path.glob("*.key"))


def test_trust_then_list(tmp_path, store_path):
    """trust prints the key id; list shows it as trusted, in JSON and in the table."""
    path, key_id = public_key_file(tmp_path)
    result = run("trust", path, store=store_path)
    assert (result.exit_code, result.stdout.strip()) == (0, key_id)
    assert "trusted" in result.stderr
    assert "for acme/... plugins with no expiry" in result.stderr
    row = listed(store_path)[key_id]
    assert (row["publisher"], row["status"], row["expires"]) == ("acme", "trusted", None)
    table = run("list", store=store_path)
    assert key_id in table.stdout
    assert "trusted" in table.stdout


def test_trust_with_a_publisher_and_an_expiry(tmp_path, store_path):
    """--publisher overrides the key file's, with a note; --expires is taken as UTC."""
    path, key_id = public_key_file(tmp_path)
    expires = (datetime.now(UTC) + timedelta(days=10)).date()
    result = run("trust", path, "--publisher", "acme-labs", "--expires", expires, store=store_path)
    assert result.exit_code == 0, result.output
    assert "the key file says publisher 'acme'; trusted as 'acme-labs'" in result.stderr
    row = listed(store_path)[key_id]
    assert row["publisher"] == "acme-labs"
    assert row["expires"] == f"{expires}T00:00:00+00:00"


def test_trust_refuses_an_expiry_in_the_past(tmp_path, store_path):
    """An expiry that has passed is an error, and nothing is trusted."""
    path, _ = public_key_file(tmp_path)
    result = run("trust", path, "--expires", "2000-01-01", store=store_path)
    assert isinstance(result.exception, PluginError)
    assert listed(store_path) == {}


def test_revoke_shows_in_list(tmp_path, store_path):
    """A revoked key is listed as revoked, with its reason."""
    path, key_id = public_key_file(tmp_path)
    run("trust", path, store=store_path)
    result = run("revoke", key_id, "--reason", "leaked", store=store_path)
    assert result.exit_code == 0, result.output
    assert f"revoked {key_id} of publisher 'acme' (leaked)" in result.stderr
    row = listed(store_path)[key_id]
    assert (row["status"], row["revoked_reason"]) == ("revoked", "leaked")
    assert "revoked: leaked" in run("list", store=store_path).stdout


def test_revoke_needs_a_reason_and_a_known_key(tmp_path, store_path):
    """--reason is required; an unknown key id is an error that points at keys list."""
    assert run("revoke", "ed25519:0000000000000000", store=store_path).exit_code == 2
    result = run("revoke", "ed25519:0000000000000000", "--reason", "x", store=store_path)
    assert isinstance(result.exception, PluginError)
    assert "`dataflare keys list` shows its keys" in str(result.exception)


def test_rotate(tmp_path, store_path):
    """rotate prints the new key id; the old key is listed as replaced and expiring."""
    old, old_id = public_key_file(tmp_path)
    new, new_id = public_key_file(tmp_path)
    run("trust", old, store=store_path)
    result = run("rotate", old_id, new, "--grace-days", "7", store=store_path)
    assert (result.exit_code, result.stdout.strip()) == (0, new_id)
    rows = listed(store_path)
    assert rows[old_id]["replaced_by"] == new_id
    assert rows[old_id]["status"] == "trusted"
    expires = datetime.fromisoformat(str(rows[old_id]["expires"]))
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert rows[new_id]["status"] == "trusted"


def test_rotate_with_no_grace_expires_the_old_key(tmp_path, store_path):
    """--grace-days 0 retires the old key at once."""
    old, old_id = public_key_file(tmp_path)
    new, _ = public_key_file(tmp_path)
    run("trust", old, store=store_path)
    assert run("rotate", old_id, new, "--grace-days", "0", store=store_path).exit_code == 0
    assert listed(store_path)[old_id]["status"] == "expired"


def test_the_trust_store_can_come_from_the_environment(tmp_path):
    """DATAFLARE_TRUST_STORE names the store when --trust-store is not given."""
    path, key_id = public_key_file(tmp_path)
    env = {"DATAFLARE_TRUST_STORE": str(tmp_path / "env-store.json")}
    result = CliRunner().invoke(keys, ["trust", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert TrustStore.load(tmp_path / "env-store.json").get(key_id) is not None


def test_list_of_an_empty_store_says_how_to_add_one(store_path):
    """An empty store prints nothing on stdout and a hint on stderr."""
    result = run("list", store=store_path)
    assert (result.exit_code, result.stdout) == (0, "")
    assert "dataflare keys trust PUBLIC_KEY_FILE" in result.stderr
