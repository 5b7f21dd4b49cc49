"""Helpers for the streaming tests: signed example plugins and small pipelines."""

from __future__ import annotations

import shutil
from pathlib import Path

from dataflare.kernel import SigningIdentity, TrustStore, generate_keypair, sign_package
from dataflare.kernel._authoring import build_project

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "plugins"


def build_examples(root: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """Build example plugin projects from source (unsigned packages)."""
    packages = {}
    for name in names:
        project = shutil.copytree(EXAMPLES / name, root / name)
        packages[name] = build_project(project)
    return packages


def trusted_publisher(directory: Path) -> tuple[SigningIdentity, Path]:
    """A fresh signing key and a trust store file that trusts it."""
    identity = generate_keypair("acme")
    trust = TrustStore.load(directory / "trust.json")
    trust.trust(identity.public)
    return identity, directory / "trust.json"


def signed_copy(package: Path, identity: SigningIdentity, directory: Path) -> Path:
    """A signed copy of a built package in ``directory``."""
    copy = shutil.copy(package, directory / package.name)
    return sign_package(Path(copy), identity)
