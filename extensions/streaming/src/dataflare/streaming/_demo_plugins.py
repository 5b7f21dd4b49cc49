"""The demo's WASM plugins: built from ``examples/plugins`` on first run, signed, trusted.

The demo publisher key is generated once in the demo's work directory and
trusted only by the demo's own trust store, never the user's
``$DATAFLARE_HOME/trust.json``. Packages are built with the public
``dataflare plugin build`` command (with the ``ziglang`` compiler that
``dataflare-streaming`` depends on) and cached: later runs reuse
the signed packages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import attrs

from dataflare.kernel import (
    PluginError,
    SigningIdentity,
    TrustStore,
    generate_keypair,
    load_private,
    save_private,
    sign_package,
)

__all__ = ("DemoPlugins", "prepare_plugins")

PROJECTS = ("high-value", "redact")


@attrs.frozen
class DemoPlugins:
    """Signed packages and the trust store that trusts their key."""

    packages: dict[str, Path]
    trust_store: Path
    built: bool
    """Whether this run built them (False: they came from the cache)."""


def prepare_plugins(workdir: Path) -> DemoPlugins:
    """Return signed demo plugins, building and signing them if they are not cached.

    Raises:
        PluginError: The example projects cannot be found, or the build failed
            (for example because ziglang is not installed); the message says how
            to fix it.
    """
    plugins = workdir / "plugins"
    trust_path = workdir / "trust.json"
    cached = {name: next(iter(plugins.glob(f"acme-{name}-*.dfp")), None) for name in PROJECTS}
    if all(cached.values()) and trust_path.exists():
        return DemoPlugins({k: v for k, v in cached.items() if v}, trust_path, built=False)
    plugins.mkdir(parents=True, exist_ok=True)
    identity = _publisher(workdir)
    trust = TrustStore.load(trust_path)
    trust.trust(identity.public)
    examples = _examples()
    packages = {}
    for name in PROJECTS:
        project = shutil.copytree(examples / name, workdir / "build" / name, dirs_exist_ok=True)
        package = _build(project, plugins)
        packages[name] = sign_package(package, identity)
    return DemoPlugins(packages, trust_path, built=True)


def _publisher(workdir: Path) -> SigningIdentity:
    key_file = workdir / "keys" / "demo-publisher.key"
    if key_file.exists():
        return load_private(key_file)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    identity = generate_keypair("acme")
    save_private(identity, key_file)
    return identity


def _examples() -> Path:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "examples" / "plugins"
        if (candidate / "high-value" / "dataflare-plugin.toml").is_file():
            return candidate
    raise PluginError(
        "the demo builds its plugins from the repository's examples/plugins, which is not "
        "beside this installation; install from a checkout: pip install -e ./kernel "
        "-e ./extensions/streaming"
    )


def _build(project: Path, out_dir: Path) -> Path:
    command = [sys.executable, "-m", "dataflare.kernel", "plugin", "build", str(project)]
    result = subprocess.run(
        [*command, "--out", str(out_dir)], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise PluginError(
            f"building the demo plugin {project.name} failed: {result.stderr.strip()} "
            "(the ziglang compiler comes with dataflare-streaming: reinstall it if it is missing)"
        )
    return Path(result.stdout.splitlines()[0])
