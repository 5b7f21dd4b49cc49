"""WASM operators: signed packages, verified by the kernel, run per batch in a pipeline."""

from __future__ import annotations

import textwrap

import pytest
from streaming_helpers import signed_copy, trusted_publisher

from dataflare.kernel import Kernel, PluginVerificationError, generate_keypair
from dataflare.streaming import (
    ERROR_HEADER,
    STAGE_HEADER,
    GeneratorConnector,
    GeneratorOptions,
    Pipeline,
    load_pipeline,
)
from dataflare.streaming.testing import run_pipeline


def kernel_trusting(trust_path, tmp_path) -> Kernel:
    plugins = {"trust_store": str(trust_path), "cache_dir": str(tmp_path / "wasm-cache")}
    return Kernel({"kernel": {"plugins": plugins}}, discover=False)


def test_a_signed_filter_and_map_run_in_a_pipeline(built_plugins, tmp_path):
    """high-value keeps amount >= min (a param), redact masks digits; columns survive both."""
    identity, trust = trusted_publisher(tmp_path)
    kernel = kernel_trusting(trust, tmp_path)
    high = signed_copy(built_plugins["high-value"], identity, tmp_path)
    redact = signed_copy(built_plugins["redact"], identity, tmp_path)
    pipeline = Pipeline("orders", GeneratorConnector(GeneratorOptions()))
    pipeline.wasm(high, params={"min": "250"}, kernel=kernel).wasm(redact, kernel=kernel)
    inputs = [
        {"key": "c1", "value": "card 4111", "fields": {"amount": 300.0}},
        {"key": "c2", "value": "card 5500", "fields": {"amount": 20.0}},
        {"key": "c3", "value": "card 3400", "fields": {"amount": 250.0}},
    ]
    output = run_pipeline(pipeline, inputs)
    assert [(r.key, r.value, r.fields["amount"]) for r in output.records] == [
        (b"c1", b"card ####", 300.0),
        (b"c3", b"card ####", 250.0),
    ]


def test_records_a_plugin_rejects_are_dead_lettered_with_its_reason(built_plugins, tmp_path):
    """A batch without the amount column: high-value rejects each record, the run goes on."""
    identity, trust = trusted_publisher(tmp_path)
    high = signed_copy(built_plugins["high-value"], identity, tmp_path)
    pipeline = Pipeline("p", GeneratorConnector(GeneratorOptions()))
    pipeline.wasm(high, kernel=kernel_trusting(trust, tmp_path), name="high-value")
    output = run_pipeline(pipeline, [{"value": "no amount here"}])
    assert output.records == []
    (letter,) = output.dead_letters
    assert letter.value == b"no amount here"
    assert letter.headers[STAGE_HEADER] == "high-value"
    assert "record-error" in letter.headers[ERROR_HEADER]
    assert "amount" in letter.headers[ERROR_HEADER]


def test_a_package_signed_by_an_untrusted_key_never_runs(built_plugins, tmp_path):
    """Verification is not bypassable: an unknown publisher stops the pipeline before any batch."""
    _, trust = trusted_publisher(tmp_path)
    stranger = generate_keypair("acme")
    package = signed_copy(built_plugins["redact"], stranger, tmp_path)
    pipeline = Pipeline("p", GeneratorConnector(GeneratorOptions()))
    pipeline.wasm(package, kernel=kernel_trusting(trust, tmp_path))
    with pytest.raises(PluginVerificationError) as refused:
        run_pipeline(pipeline, [{"value": "1"}])
    assert stranger.key_id in str(refused.value)


def test_a_pipeline_file_uses_a_package_relative_to_itself(built_plugins, tmp_path):
    """`uses:` is resolved beside the file, and the file's kernel section names the trust store."""
    identity, trust = trusted_publisher(tmp_path)
    (tmp_path / "plugins").mkdir()
    package = signed_copy(built_plugins["redact"], identity, tmp_path / "plugins")
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            kernel:
              plugins: {{trust_store: {trust}, cache_dir: {tmp_path / "cache"}}}
            pipeline:
              name: masked
              source: {{type: generator}}
              operators:
                - wasm: {{uses: plugins/{package.name}, params: {{mask: "*"}}}}
              sinks: [{{type: discard}}]
            """
        )
    )
    loaded = load_pipeline(path)
    output = run_pipeline(loaded.pipeline, [{"value": "pin 1234"}])
    assert [r.value for r in output.records] == [b"pin ****"]


def test_a_missing_package_is_a_definition_error_with_the_fix(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "pipeline:\n  source: {type: generator}\n  operators:\n"
        "    - wasm: {uses: nowhere.dfp}\n  sinks: [{type: discard}]\n"
    )
    with pytest.raises(Exception, match=r"operators\[0\].wasm: no plugin package at .*nowhere.dfp"):
        load_pipeline(path)
