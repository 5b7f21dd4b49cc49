"""Third-party extensions, installed for real from tests/packages, found through entry points.

``dataflare-hello`` is a working extension with its own import name; ``dataflare-broken``
holds one entry point per way an extension can fail. They are installed with uv into
directories of their own and the ``dataflare`` command runs in a subprocess with those
directories on its path, so discovery reads real distribution metadata.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from uv import find_uv_bin

PACKAGES = Path(__file__).parent / "packages"


def install(package: str, target: Path) -> Path:
    subprocess.run(
        [
            find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            str(PACKAGES / package),
        ],
        check=True,
        timeout=300,
    )
    return target


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> list[Path]:
    """The hello extension first, then the broken ones, so hello wins the name clash."""
    root = tmp_path_factory.mktemp("sites")
    return [
        install("dataflare-hello", root / "hello"),
        install("dataflare-broken", root / "broken"),
    ]


def run(sites: list[Path], *args: str, env: dict[str, str] | None = None, code: str | None = None):
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(map(str, sites)),
        "XDG_CACHE_HOME": str(sites[0].parent / "cache"),  # stevedore's entry-point cache
        **(env or {}),
    }
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "dataflare.kernel"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=environ, timeout=120, check=False
    )


def test_extensions_lists_what_loaded_and_why_the_rest_did_not(sites):
    """`dataflare extensions --json` reports each entry point with version, hooks and cause."""
    result = run(sites, "extensions", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_target = {row["target"]: row for row in rows}

    hello = by_target["dataflare_hello:HelloExtension"]
    assert (hello["status"], hello["distribution"], hello["version"]) == (
        "loaded",
        "dataflare-hello",
        "1.2.3",
    )
    assert "dataflare_cli_commands" in hello["hooks"]
    assert "dataflare_event_handlers" in hello["hooks"]

    missing = by_target["dataflare_broken.missing_dependency"]
    assert (missing["status"], missing["stage"], missing["version"]) == (
        "failed",
        "import",
        "6.6.6",
    )
    assert "dataflare_no_such_dependency" in missing["error"]

    typo = by_target["dataflare_broken.typo"]
    assert (typo["status"], typo["stage"]) == ("failed", "hooks")
    assert "did you mean 'dataflare_startup'?" in typo["error"]

    clash = by_target["dataflare_broken.clash"]
    assert clash["status"] == "conflict"
    assert "already taken" in clash["error"]

    assert by_target["dataflare.kernel._demo:DemoExtension"]["status"] == "loaded"
    # Failures are also logged on stderr, as structured lines naming the extension.
    assert "broken-import" in result.stderr


def test_a_third_party_command_runs_beside_broken_extensions(sites):
    """The hello command shows in --help and runs, although other extensions are broken."""
    listing = run(sites, "--help")
    assert listing.returncode == 0, listing.stderr
    assert "hello" in listing.stdout
    assert "Greet NAME from a third-party extension." in listing.stdout
    greeting = run(sites, "hello", "Ada")
    assert greeting.returncode == 0, greeting.stderr
    assert greeting.stdout == "hello, Ada, from dataflare-hello\n"


def test_disabling_a_broken_extension_keeps_it_from_being_imported(sites):
    """DATAFLARE_DISABLE_EXTENSIONS reports the extension as disabled; no import error occurs."""
    result = run(
        sites, "extensions", "--json", env={"DATAFLARE_DISABLE_EXTENSIONS": "broken-import"}
    )
    rows = {row["target"]: row for row in json.loads(result.stdout)}
    assert rows["dataflare_broken.missing_dependency"]["status"] == "disabled"
    assert rows["dataflare_broken.missing_dependency"]["error"] is None


STARTUP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import anyio
    from dataflare.kernel import Kernel

    async def main():
        async with Kernel({"hello": {"greeting": "salut"}}) as kernel:
            reply = await kernel.bus.request("hello.ping", "Ada", timeout=5)
            report = {i.target: [i.status.value, i.stage] for i in kernel.extensions}
        print(json.dumps({"reply": reply.payload, "extensions": report}))

    anyio.run(main)
    """
)


def test_hooks_of_a_third_party_extension_run_in_a_started_kernel(sites):
    """Its config section, event handler and startup run; a failing startup is skipped."""
    result = run(sites, code=STARTUP_SCRIPT)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["reply"] == "salut, Ada"
    report = outcome["extensions"]
    assert report["dataflare_broken.startup:ExplodesOnStartup"] == ["failed", "startup"]
    assert report["dataflare_hello:HelloExtension"] == ["loaded", None]
    assert "cannot reach the license server" in result.stderr


def test_strict_mode_refuses_to_run_with_a_broken_extension(sites):
    """DATAFLARE_STRICT_EXTENSIONS=1 turns the first failure into an error exit."""
    result = run(sites, "extensions", env={"DATAFLARE_STRICT_EXTENSIONS": "1"})
    assert result.returncode == 1
    assert "strict mode is on" in result.stderr


def test_a_third_party_config_section_is_validated_with_positions(sites, tmp_path):
    """validate knows the hello section: a typo in it exits 78 with line, column and a hint."""
    good = tmp_path / "good.yaml"
    good.write_text("hello:\n  greeting: hi\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("hello:\n  greting: hi\n")
    assert run(sites, "validate", str(good)).returncode == 0
    result = run(sites, "validate", "--format", "json", str(bad))
    assert result.returncode == 78
    (report,) = json.loads(result.stdout)
    (issue,) = report["issues"]
    assert (issue["path"], issue["line"], issue["column"]) == ("hello.greting", 2, 3)
    assert "greeting" in issue["hint"]
