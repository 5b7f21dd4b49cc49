"""Tests for plugin authoring: ``plugin new`` templates, ``plugin build``, the project file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataflare.kernel import Record, RecordBatch
from dataflare.kernel._authoring import SDK_DIR, build_project, new_project
from dataflare.kernel._authoring_cli import build, new
from dataflare.kernel._manifest_rules import KINDS
from dataflare.kernel._package import read_package
from dataflare.kernel._plugin_project import PROJECT_FILE, load_project
from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_plugin import WasmPlugin
from dataflare.kernel.errors import ConfigError, PluginError

# What each kind's template does to this batch (the template sources say so).
BATCH = RecordBatch.from_records(
    [
        Record(b" a,ERROR b ", key=b"k", timestamp=7),
        Record(b"   ", key=b"", timestamp=9),
    ]
)
EXPECTED = {
    "filter": [(b"k", b" a,ERROR b ", 7)],
    "map": [(b"k", b" A,ERROR B ", 7), (b"", b"   ", 9)],
    "filter_map": [(b"k", b"a,ERROR b", 7)],
    "flat_map": [(b"k", b" a", 7), (b"k", b"ERROR b ", 7), (b"", b"   ", 9)],
    "aggregate": [],
}


def _load(package: Path, engine: WasmEngine) -> WasmPlugin:
    contents = read_package(package)
    manifest = contents.manifest
    return WasmPlugin.load(
        contents.module_bytes,
        name=manifest.name,
        params=manifest.params,
        capabilities=manifest.capabilities,
        engine=engine,
    )


def _rows(batch: RecordBatch) -> list[tuple[bytes, bytes, int]]:
    return [(record.key, record.value, record.timestamp) for record in batch]


@pytest.mark.parametrize("language", ["c", "zig"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_builds_a_package_that_runs(tmp_path, engine, language, kind):
    """Each language's template for each kind builds a package whose plugin does what it says."""
    project = new_project(tmp_path / "proj", name="acme/t-1", language=language, kind=kind)
    package = build_project(project)
    assert package == project / "dist" / "acme-t-1-0.1.0.dfp"
    assert read_package(package).manifest.kind == kind
    with _load(package, engine) as plugin:
        assert _rows(plugin.process(BATCH).output) == EXPECTED[kind]
        assert plugin.has_flush == plugin.has_snapshot == (kind == "aggregate")
        if kind == "aggregate":
            flushed = list(plugin.flush().output)
            assert flushed == [Record(b"2", timestamp=9, fields={"count": 2})]


def test_new_fills_in_the_name_kind_and_source(tmp_path):
    """The project file names the plugin, its kind and its source; the source exists."""
    project = new_project(tmp_path / "p", name="acme/shout-loud", language="zig", kind="filter")
    loaded = load_project(project)
    assert loaded.manifest.name == "acme/shout-loud"
    assert loaded.manifest.kind == "filter"
    assert loaded.manifest.params == {"needle": "ERROR"}
    assert loaded.sources == ("src/shout_loud.zig",)
    assert loaded.optimize == "safe"
    assert "acme/shout-loud" in (project / "src" / "shout_loud.zig").read_text()
    assert (project / ".gitignore").is_file()
    assert "{{" not in (project / "README.md").read_text()


def test_new_c_project_points_clangd_at_the_sdk(tmp_path):
    """A C project gets compile_flags.txt with the SDK's include folder."""
    project = new_project(tmp_path / "p", name="acme/x", language="c", kind="map")
    assert f"-I{SDK_DIR}" in (project / "compile_flags.txt").read_text().splitlines()


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"name": "Acme/Shout"}, "namespace/name"),
        ({"name": "acme/x", "language": "rust"}, "language 'rust'"),
        ({"name": "acme/x", "kind": "reduce"}, "kind 'reduce'"),
    ],
)
def test_new_refuses_a_bad_name_language_or_kind(tmp_path, arguments, fragment):
    """new_project names the argument it cannot use."""
    with pytest.raises(PluginError, match=fragment):
        new_project(tmp_path / "p", **arguments)
    assert not (tmp_path / "p").exists()


def test_new_refuses_a_folder_that_is_not_empty(tmp_path):
    """An existing project is never overwritten."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("mine")
    with pytest.raises(PluginError, match="not an empty folder"):
        new_project(tmp_path / "p", name="acme/x")
    assert (tmp_path / "p" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("language", "broken", "fragment"),
    [
        (
            "c",
            "df_status df_on_init(const df_params *params) { return undeclared; }\n",
            "undeclared",
        ),
        ("zig", "pub fn init(params: df.Params) !void { return undeclared; }\n", "undeclared"),
    ],
)
def test_a_compile_error_is_reported_with_the_compiler_message(
    tmp_path, language, broken, fragment
):
    """A compiler error raises PluginError carrying the compiler's file:line message and a hint."""
    project = new_project(tmp_path / "p", name="acme/x", language=language, kind="map")
    source = project / f"src/x.{language}"
    text = source.read_text()
    start = text.index("df_status df_on_init" if language == "c" else "pub fn init")
    end = text.index("\n}\n", start) + 3
    source.write_text(text[:start] + broken + text[end:])
    with pytest.raises(PluginError) as caught:
        build_project(project)
    message = str(caught.value)
    assert f"src/x.{language}:" in message
    assert fragment in message
    assert "error" in message
    assert "fix the errors above" in message
    assert caught.value.plugin == "acme/x"
    assert not (project / "dist").exists()


def test_a_log_import_needs_the_log_capability(tmp_path):
    """A module importing df.log without capability 'log' is refused with the fix to make."""
    project = new_project(tmp_path / "p", name="acme/x", language="c", kind="map")
    source = project / "src/x.c"
    text = source.read_text().replace(
        '#include "dataflare.h"', '#define DF_ENABLE_LOG\n#include "dataflare.h"'
    )
    source.write_text(
        text.replace("return DF_OK;", 'df_log(DF_LOG_INFO, "batch done");\n    return DF_OK;')
    )
    with pytest.raises(PluginError, match=r"imports df\.log: add 'log' to capabilities"):
        build_project(project)


def test_a_plugin_with_the_log_capability_logs_through_the_host(tmp_path, engine, caplog):
    """With capability 'log' granted, df_log lines reach the host's plugin log."""
    project = new_project(tmp_path / "p", name="acme/x", language="zig", kind="map")
    source = project / "src/x.zig"
    text = source.read_text().replace(
        "pub const panic = df.panic;",
        "pub const panic = df.panic;\npub const dataflare_options: df.Options = .{ .log = true };",
    )
    source.write_text(
        text.replace("    var records", '    df.log(.warn, "hello from zig");\n    var records')
    )
    toml = project / PROJECT_FILE
    toml.write_text(toml.read_text().replace("capabilities = []", 'capabilities = ["log"]'))
    with (
        caplog.at_level(logging.INFO, logger="dataflare.plugins"),
        _load(build_project(project), engine) as plugin,
    ):
        plugin.process(BATCH)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "hello from zig")
    ]


def test_a_bad_project_file_lists_every_problem_with_its_line(tmp_path):
    """load_project reports all problems at once, each with its table.key and line."""
    project = new_project(tmp_path / "p", name="acme/x", language="c", kind="map")
    toml = project / PROJECT_FILE
    text = toml.read_text().replace('kind = "map"', 'kind = "mapp"')
    text = text.replace("memory_mb = 64", "memory_mb = 0").replace(
        'language = "c"', 'language = "go"'
    )
    toml.write_text(text + "\n[extra]\n")
    with pytest.raises(ConfigError) as caught:
        build_project(project)
    lines = [line.partition("  #")[0] for line in text.splitlines()]
    found = {(issue.path, issue.line) for issue in caught.value.issues}
    assert found == {
        ("plugin.kind", lines.index('kind = "mapp"') + 1),
        ("limits.memory_mb", lines.index("memory_mb = 0") + 1),
        ("build.language", lines.index('language = "go"') + 1),
        ("extra", len(lines) + 2),
    }
    assert "did you mean 'map'" in str(caught.value)


def test_building_a_folder_without_a_project_file_says_how_to_make_one(tmp_path):
    """A missing dataflare-plugin.toml is a ConfigError that points at `plugin new`."""
    with pytest.raises(ConfigError, match="dataflare plugin new"):
        build_project(tmp_path)


def test_cli_new_and_build_print_paths_on_stdout(tmp_path, monkeypatch):
    """`plugin new` and `plugin build` print only the path they made on stdout."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    created = runner.invoke(new, ["acme/shout", "--lang", "c"])
    assert created.exit_code == 0, created.output
    assert created.stdout == "shout\n"
    assert "dataflare plugin build" in created.stderr
    built = runner.invoke(build, ["shout", "--out", "out"])
    assert built.exit_code == 0, built.output
    assert built.stdout == f"{Path('out') / 'acme-shout-0.1.0.dfp'}\n"
    assert "unsigned" in built.stderr
    assert read_package(tmp_path / "out" / "acme-shout-0.1.0.dfp").manifest.kind == "map"
