"""The DataFlare test matrix.

``nox -l`` lists the sessions; ``nox`` runs the ones CI runs. Sessions install the
kernel and extensions from this checkout (editable), never from an index, so each
session proves exactly what its name says.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = "3.11"
EXTENSIONS = sorted(p.parent.name for p in ROOT.glob("extensions/*/pyproject.toml"))
PYTEST = ("pytest", "-p", "no:cacheprovider")
# What CI runs; ``extension`` exists once the first extension does.
nox.options.sessions = ["versions", "lint", "typecheck", "kernel"]
nox.options.sessions += ["extension"] if EXTENSIONS else []
nox.options.sessions += ["integration"]


def install(
    session: nox.Session, *extensions: str, group: str = "test", extras: bool = False
) -> None:
    """Install the kernel and the named extensions (editable) plus a dependency group.

    With ``extras``, every optional extra of each extension too (what typecheck needs
    to see every import).
    """
    paths = [
        "kernel[nats]",
        *(with_extras(name) if extras else f"extensions/{name}" for name in extensions),
    ]
    editable = itertools.chain.from_iterable(("-e", path) for path in paths)
    session.install(*nox.project.dependency_groups(PYPROJECT, group), *editable)


def with_extras(name: str) -> str:
    """``extensions/<name>[every,extra]``, as pip takes it."""
    project = tomllib.loads((ROOT / "extensions" / name / "pyproject.toml").read_text())["project"]
    extras = sorted(project.get("optional-dependencies", {}))
    return f"extensions/{name}[{','.join(extras)}]" if extras else f"extensions/{name}"


@nox.session(python=PYTHON, tags=["ci"])
def kernel(session: nox.Session) -> None:
    """The kernel alone: it must never need an extension."""
    install(session)
    session.run(*PYTEST, "kernel/tests", *session.posargs)


if EXTENSIONS:

    @nox.session(python=PYTHON, tags=["ci"])
    @nox.parametrize("extension", EXTENSIONS)
    def extension(session: nox.Session, extension: str) -> None:
        """One extension beside the kernel only: proves its declared dependencies suffice."""
        install(session, extension)
        session.run(*PYTEST, f"extensions/{extension}/tests", *session.posargs)


def combinations() -> Iterator[object]:
    """Every pair of extensions, then all of them together."""
    for pair in itertools.combinations(EXTENSIONS, 2):
        yield nox.param(pair, id="+".join(pair))
    yield nox.param(tuple(EXTENSIONS), id="all")


@nox.session(python=PYTHON, tags=["ci"])
@nox.parametrize("combo", list(combinations()))
def integration(session: nox.Session, combo: tuple[str, ...]) -> None:
    """Extensions installed together. A pair runs the cross-extension tests (layout,
    third-party extensions) and ``tests/combos/<a>+<b>`` (where its two meet through
    hooks); ``all`` runs every test there is, each extension's suite included, with
    every extension and extra installed."""
    everything = len(combo) == len(EXTENSIONS)
    install(session, *combo, extras=everything)  # the extension sessions run without extras
    if everything:
        paths = ["tests", *(f"extensions/{name}/tests" for name in combo)]
    else:  # only this pair's folder of tests/combos: the others need what is not installed
        own = "+".join(combo)
        others = [p for p in (ROOT / "tests" / "combos").glob("*") if p.name != own]
        paths = ["tests", *(f"--ignore={p.relative_to(ROOT)}" for p in others)]
    session.run(*PYTEST, *paths, *session.posargs)


@nox.session(python=PYTHON, tags=["ci"])
def lint(session: nox.Session) -> None:
    """Ruff: lint rules and formatting."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, tags=["ci"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the sources of every distribution."""
    install(session, *EXTENSIONS, group="typecheck", extras=True)
    packages = ["kernel", *EXTENSIONS]
    session.run("mypy", *itertools.chain.from_iterable(("-p", f"dataflare.{p}") for p in packages))


@nox.session(python=False, tags=["ci"])
def versions(session: nox.Session) -> None:
    """Every distribution has one version and pins its siblings with ``==``."""
    files = [ROOT / "pyproject.toml", ROOT / "kernel/pyproject.toml"]
    files += sorted(ROOT.glob("extensions/*/pyproject.toml"))
    projects = {f: tomllib.loads(f.read_text())["project"] for f in files}
    found = {p["version"] for p in projects.values()}
    if len(found) != 1:
        session.error(f"versions out of step: {sorted(found)}")
    (version,) = found
    for path, project in projects.items():
        extras = project.get("optional-dependencies", {}).values()
        for requirement in [*project.get("dependencies", []), *itertools.chain(*extras)]:
            match = re.match(r"(dataflare-[a-z]+)(\[[a-z,]+\])?\s*(.*)", requirement)
            if match and match.group(3) != f"=={version}":
                session.error(f"{path.relative_to(ROOT)}: {requirement!r} must pin =={version}")
    session.log(f"{len(projects)} distributions at {version}")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Run every benchmark script; each prints figures beside a baseline from the same run."""
    install(session, *EXTENSIONS)
    for script in sorted(ROOT.glob("benchmarks/*.py")):
        session.run("python", str(script.relative_to(ROOT)), *session.posargs)


@nox.session(python=PYTHON, default=False)
def demo(session: nox.Session) -> None:
    """Install everything and run the demo (what the README's first command does)."""
    install(session, *EXTENSIONS)
    session.run("dataflare", "streaming", "demo", *session.posargs)
