"""Guards for the layout every distribution shares."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = [
    ROOT / "kernel",
    *sorted(p.parent for p in ROOT.glob("extensions/*/pyproject.toml")),
]


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda p: p.name)
def test_the_dataflare_namespace_has_no_init(dist):
    """No distribution ships dataflare/__init__.py, which would hide every other one (PEP 420)."""
    assert (dist / "src" / "dataflare").is_dir()
    assert not (dist / "src" / "dataflare" / "__init__.py").exists()


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda p: p.name)
def test_each_package_is_typed_and_documented(dist):
    """Each distribution ships py.typed and has a README."""
    (package,) = (dist / "src" / "dataflare").iterdir()
    assert (package / "py.typed").exists()
    assert (dist / "README.md").read_text().strip()


def public_packages() -> list[str]:
    """The packages of the distributions installed here (a nox pair installs two)."""
    installed = []
    for dist in DISTRIBUTIONS:
        name = tomllib.loads((dist / "pyproject.toml").read_text())["project"]["name"]
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        installed.append(f"dataflare.{next((dist / 'src' / 'dataflare').iterdir()).name}")
    return installed


@pytest.mark.parametrize("name", public_packages())
def test_all_is_honest(name):
    """__all__ is a tuple naming exactly the public names the package defines (ruff sorts it)."""
    package = importlib.import_module(name)
    exported = package.__all__
    assert isinstance(exported, tuple)
    for attribute in exported:
        assert hasattr(package, attribute), f"{name}.__all__ names missing {attribute}"
    public = {
        key
        for key, value in vars(package).items()
        if not key.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("dataflare.")
    }
    assert public <= set(exported), f"public but not in __all__: {sorted(public - set(exported))}"


def test_every_distribution_shares_one_version():
    """The meta-distribution, the kernel and every extension carry the same version."""
    files = [ROOT / "pyproject.toml", *(d / "pyproject.toml" for d in DISTRIBUTIONS)]
    versions = {tomllib.loads(f.read_text())["project"]["version"] for f in files}
    assert len(versions) == 1, versions
