"""Tests for loading config files: every problem reported at once, each at its position."""

from __future__ import annotations

import io
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from dataflare.kernel._config import Config, load_config, validate_file
from dataflare.kernel._convert import make_converter
from dataflare.kernel._settings import (
    KERNEL_SECTIONS,
    BusSettings,
    ExtensionSettings,
    KernelSettings,
    LogFormat,
    LogLevel,
    LogSettings,
)
from dataflare.kernel.errors import ConfigError, InterpolationError

CONFIGS = Path(__file__).parent / "configs"


@attrs.frozen
class StreamingSettings:
    """A stand-in for an extension's section."""

    workers: int = 1


@attrs.frozen
class Numbers:
    """A section with one field of each scalar type."""

    count: int = 0
    retries: int = 0
    workers: int = 0
    ratio: float = 0.0
    name: str = ""
    enabled: bool = False
    tags: tuple[str, ...] = ()


@attrs.frozen
class Operator:
    """One step of a pipeline; ``uses`` is required."""

    uses: str
    options: dict[str, int] = attrs.Factory(dict)


@attrs.frozen
class PipelineSettings:
    """A section that cannot be defaulted: it needs operators."""

    operators: tuple[Operator, ...]


SECTIONS = {**KERNEL_SECTIONS, "streaming": StreamingSettings}


def issues_of(path: Path, sections: dict[str, type] = SECTIONS, **env: str) -> list[tuple]:
    """Load a fixture that must fail and return its issues as (line, column, path)."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, sections=sections, env=env)
    return [(issue.line, issue.column, issue.path) for issue in caught.value.issues]


def test_every_mistake_in_a_file_is_reported_at_its_position():
    """A file with a wrong type, a typo, a validator failure, an unset variable, a bad
    choice and two unknown sections yields one error listing all of them in file order."""
    assert issues_of(CONFIGS / "many_mistakes.yaml") == [
        (4, 19, "kernel.extensions.allow[1]"),
        (5, 13, "kernel.extensions.strict"),
        (7, 5, "kernel.bus.buffer_sise"),
        (8, 23, "kernel.bus.shutdown_timeout"),
        (10, 12, "kernel.log.level"),
        (11, 13, "kernel.log.format"),
        (12, 1, "streming"),
        (14, 1, "metrics"),
    ]


def test_each_mistake_says_what_was_expected_and_how_to_fix_it():
    """The issues of the many-mistakes file carry the expected type and a hint."""
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIGS / "many_mistakes.yaml", sections=SECTIONS, env={})
    by_path = {issue.path: issue for issue in caught.value.issues}
    allow = by_path["kernel.extensions.allow[1]"]
    assert (allow.message, allow.expected) == ("expected a string, got 7", "a string")
    assert by_path["kernel.bus.buffer_sise"].hint == "did you mean 'buffer_size'?"
    assert by_path["kernel.bus.shutdown_timeout"].message == "'shutdown_timeout' must be > 0: -1.0"
    assert by_path["kernel.log.level"].message == "environment variable LOG_LEVEL is not set"
    assert by_path["kernel.log.format"].expected == "one of: auto, json or console"
    assert by_path["streming"].hint == "did you mean 'streaming'?"
    assert by_path["metrics"].message == "no installed extension provides section 'metrics'"
    assert "known sections: kernel, streaming" in (by_path["metrics"].hint or "")


def test_the_error_message_renders_one_line_per_issue():
    """str(ConfigError) is a count line followed by each issue as file:line:col: path: message."""
    source = "pipeline.yaml"
    text = "kernel:\n  bus:\n    buffer_sise: 10\n    shutdown_timeout: fast\n"
    with pytest.raises(ConfigError) as caught:
        load_config(text, sections=KERNEL_SECTIONS, source=source)
    assert str(caught.value).splitlines() == [
        "pipeline.yaml: 2 problems found",
        "  pipeline.yaml:3:5: kernel.bus.buffer_sise: unknown key (did you mean 'buffer_size'?)",
        "  pipeline.yaml:4:23: kernel.bus.shutdown_timeout: expected a number, got 'fast'",
    ]


def test_a_yaml_syntax_error_is_reported_alone_at_its_position():
    """A syntax error stops loading: it is the only issue, even with a typo after it."""
    assert issues_of(CONFIGS / "syntax_error.yaml") == [(4, 6, "")]


def test_duplicate_keys_are_all_reported():
    """Every repeated key is an issue at the repetition, nested or top-level."""
    assert issues_of(CONFIGS / "duplicate_key.yaml") == [
        (4, 5, "kernel.bus.buffer_size"),
        (7, 1, "kernel"),
    ]


def test_a_top_level_list_is_reported_where_it_starts():
    """A file whose top level is a list is refused at the list's first line."""
    assert issues_of(CONFIGS / "top_level_list.yaml") == [(2, 1, "")]


def test_wrongly_typed_scalars_are_refused_not_coerced():
    """3.7, "10" and true are not integers, 1.0 is not a string, 1 is not a boolean
    and a string is not a list; the integer 3 for a float is fine."""
    assert issues_of(CONFIGS / "strict_scalars.yaml", {"numbers": Numbers}) == [
        (2, 10, "numbers.count"),
        (3, 12, "numbers.retries"),
        (4, 12, "numbers.workers"),
        (6, 9, "numbers.name"),
        (7, 12, "numbers.enabled"),
        (8, 9, "numbers.tags"),
    ]


def test_an_integer_is_accepted_for_a_float_field():
    """An integer in a float field becomes a float."""
    config = load_config("numbers:\n  ratio: 3\n", sections={"numbers": Numbers})
    ratio = config.section("numbers", Numbers).ratio
    assert (ratio, type(ratio)) == (3.0, float)


def test_interpolation_fills_values_and_types_whole_references():
    """Variables, defaults and `:?` fill values; escapes, keys and comments stay as written;
    an unquoted whole reference is typed like YAML, a quoted one stays a string."""

    @attrs.frozen
    class Demo:
        url: str
        size: int
        ratio: float
        enabled: bool
        quoted: str
        literal: str
        required: str
        labels: dict[str, str]

    env = {"HOST": "example.org", "RATIO": "0.5", "TOKEN": "s3cret", "IN_A_COMMENT": "x"}
    config = load_config(CONFIGS / "interpolation.yaml", sections={"demo": Demo}, env=env)
    assert config["demo"] == Demo(
        url="http://example.org:8080/api",
        size=64,
        ratio=0.5,
        enabled=True,
        quoted="64",
        literal="${NOT_EXPANDED}",
        required="s3cret",
        labels={"${KEY}": "fallback"},
    )


def test_unresolved_references_are_all_reported_as_an_interpolation_error():
    """Each unset variable, failed `:?`, unclosed or invalid reference is an issue at the
    reference itself, and a value left unresolved gets no extra type error."""

    @attrs.frozen
    class Demo:
        url: str
        size: int
        required: str
        literal: str
        quoted: str

    with pytest.raises(InterpolationError) as caught:
        load_config(CONFIGS / "interpolation_errors.yaml", sections={"demo": Demo}, env={})
    assert [(i.line, i.column, i.path, i.message) for i in caught.value.issues] == [
        (2, 15, "demo.url", "environment variable HOST is not set"),
        (2, 23, "demo.url", "environment variable PORT is not set"),
        (3, 9, "demo.size", "environment variable SIZE is not set"),
        (
            4,
            13,
            "demo.required",
            "environment variable TOKEN is not set: set TOKEN to the API token",
        ),
        (5, 12, "demo.literal", "'${' is not closed with '}'"),
        (6, 14, "demo.quoted", "'${BAD NAME}' is not a valid reference"),
    ]


def test_a_valid_file_loads_into_settings():
    """Every setting spelled out in a valid file reaches its typed field."""
    config = load_config(CONFIGS / "valid.yaml", sections=KERNEL_SECTIONS)
    assert config.source == str(CONFIGS / "valid.yaml")
    assert config.section("kernel", KernelSettings) == KernelSettings(
        extensions=ExtensionSettings(allow=("demo", "events"), disable=("legacy",), strict=True),
        bus=BusSettings(buffer_size=64, shutdown_timeout=2.5),
        log=LogSettings(level=LogLevel.DEBUG, format=LogFormat.JSON),
    )


def test_settings_survive_a_round_trip_through_yaml():
    """Unstructuring loaded settings, writing them as YAML and loading that gives them back."""
    settings = load_config(CONFIGS / "valid.yaml", sections=KERNEL_SECTIONS)["kernel"]
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump({"kernel": make_converter().unstructure(settings)}, stream)
    assert load_config(stream.getvalue(), sections=KERNEL_SECTIONS)["kernel"] == settings


@pytest.mark.parametrize("text", ["", "kernel:\n", "kernel: {}\n"])
def test_an_empty_file_or_section_gives_every_default(text):
    """No file content, an empty `kernel:` and `kernel: {}` all mean the defaults."""
    config = load_config(text, sections=KERNEL_SECTIONS)
    assert config.section("kernel") == KernelSettings()


def test_a_file_of_comments_gives_every_default():
    """A file with only commented-out settings is valid and uses the defaults."""
    config = load_config(CONFIGS / "comments_only.yaml", sections=SECTIONS)
    assert dict(config.sections) == {"kernel": KernelSettings(), "streaming": StreamingSettings()}


def test_a_section_that_cannot_be_defaulted_must_be_present():
    """A registered section with required fields is a 'missing section' issue when absent."""
    sections = {**KERNEL_SECTIONS, "pipeline": PipelineSettings}
    with pytest.raises(ConfigError) as caught:
        load_config("kernel: {}\n", sections=sections, source="app.yaml")
    [issue] = caught.value.issues
    assert (
        issue.render()
        == "app.yaml: pipeline: missing section (add a 'pipeline:' section with: operators)"
    )


def test_a_section_that_is_not_a_mapping_is_reported_at_its_value():
    """A section given a list instead of a mapping is one issue at the list."""
    with pytest.raises(ConfigError) as caught:
        load_config("kernel: [bus]\n", sections=KERNEL_SECTIONS)
    assert [(i.line, i.column, i.path, i.message) for i in caught.value.issues] == [
        (1, 9, "kernel", "expected a mapping, got a list")
    ]


def test_a_missing_required_key_points_at_its_parent_mapping():
    """A list item without its required key is reported where that item starts."""
    text = "pipeline:\n  operators:\n    - uses: read\n    - options: {batch: 10}\n"
    with pytest.raises(ConfigError) as caught:
        load_config(text, sections={"pipeline": PipelineSettings})
    [issue] = caught.value.issues
    assert (issue.line, issue.column, issue.path) == (4, 7, "pipeline.operators[1].uses")
    assert (issue.message, issue.expected) == ("required key is missing", "a string")


def test_a_misspelt_required_key_is_unknown_and_missing_at_once():
    """A typo in a required key reports the unknown key at itself and the missing key at the
    key of the mapping that lacks it."""
    text = "pipeline:\n  operator: []\n"
    with pytest.raises(ConfigError) as caught:
        load_config(text, sections={"pipeline": PipelineSettings})
    assert [(i.line, i.column, i.path, i.message, i.hint) for i in caught.value.issues] == [
        (1, 1, "pipeline.operators", "required key is missing", "add 'operators:' to pipeline"),
        (2, 3, "pipeline.operator", "unknown key", "did you mean 'operators'?"),
    ]


def test_errors_inside_lists_and_mappings_carry_their_index_or_key():
    """A bad value deep in a list of mappings is reported with its full path."""
    text = "pipeline:\n  operators:\n    - uses: read\n      options: {batch: ten}\n"
    with pytest.raises(ConfigError) as caught:
        load_config(text, sections={"pipeline": PipelineSettings})
    [issue] = caught.value.issues
    assert (issue.line, issue.column, issue.path) == (4, 24, "pipeline.operators[0].options.batch")


def test_an_unknown_key_without_a_close_match_lists_the_valid_keys():
    """When no field name is close, the hint lists every valid key instead."""
    with pytest.raises(ConfigError) as caught:
        load_config("kernel:\n  bus:\n    colour: red\n", sections=KERNEL_SECTIONS)
    [issue] = caught.value.issues
    assert issue.hint == "valid keys: buffer_size, shutdown_timeout"


def test_unknown_sections_can_be_ignored():
    """With ignore_unknown_sections, other sections are neither reported nor interpolated."""
    text = "kernel:\n  bus: {buffer_size: 8}\npipeline:\n  source: ${UNSET}\n"
    config = load_config(text, sections=KERNEL_SECTIONS, env={}, ignore_unknown_sections=True)
    assert config.section("kernel", KernelSettings).bus.buffer_size == 8


def test_validate_file_lists_issues_or_nothing():
    """validate_file returns the issues of an invalid file and an empty list for a valid one."""
    assert validate_file(CONFIGS / "valid.yaml", KERNEL_SECTIONS) == []
    issues = validate_file(str(CONFIGS / "top_level_list.yaml"), KERNEL_SECTIONS)
    assert [issue.path for issue in issues] == [""]


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    """Bytes that are not UTF-8 give an issue naming the line, not a UnicodeDecodeError."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kernel:\n  log:\n    level: d\xe9bug\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, sections=KERNEL_SECTIONS)
    assert [(issue.line, issue.path) for issue in caught.value.issues] == [(3, "")]


YAMLISH = st.text(alphabet=st.sampled_from(list("kernel:bus_size -[]{},'\"\n\t#&*!|$0123.\x07")))


@settings(max_examples=300)
@given(st.one_of(st.text(), YAMLISH, YAMLISH.map(lambda text: f"kernel:\n  bus: {text}\n")))
def test_any_text_loads_or_raises_a_config_error(text):
    """Whatever the text, loading gives a Config or a ConfigError whose issues all render."""
    try:
        load_config(text, sections=KERNEL_SECTIONS, env={})
    except ConfigError as exc:
        issues = exc.issues
    else:
        issues = ()
    assert all(issue.render().startswith("<string>") for issue in issues)


def test_config_sections_are_read_only_and_named_lookups_suggest():
    """Config.sections cannot be changed, and asking for a misspelt section suggests one."""
    config = load_config("", sections=KERNEL_SECTIONS)
    with pytest.raises(TypeError):
        config.sections["kernel"] = None  # type: ignore[index]
    with pytest.raises(KeyError, match="did you mean 'kernel'"):
        config.section("kernal")
    with pytest.raises(TypeError, match="not BusSettings"):
        config.section("kernel", BusSettings)
    assert isinstance(config, Config)
