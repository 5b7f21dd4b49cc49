"""The kernel's lifecycle: in-process extensions, isolation of failures, the bus, config."""

from __future__ import annotations

import anyio
import attrs
import pytest

from dataflare.kernel import (
    ConfigError,
    ExtensionLoadError,
    ExtensionStatus,
    Kernel,
    KernelStateError,
    Message,
    MetricSample,
    hookimpl,
)

pytestmark = pytest.mark.anyio


@attrs.frozen
class GreeterSettings:
    """A section an in-process extension registers."""

    greeting: str = "hello"
    """What to say."""


class Recorder:
    """An extension that records every hook call it receives."""

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.calls: list[str] = []
        self.received: list[Message] = []
        self.settings: GreeterSettings | None = None

    @hookimpl
    def dataflare_config_sections(self, register):
        self.calls.append("config_sections")
        register("greeter", GreeterSettings)

    @hookimpl
    def dataflare_configure(self, kernel, config):
        self.calls.append("configure")
        self.settings = config["greeter"]

    @hookimpl
    def dataflare_sources(self, register):
        register("numbers", list, description="counts up")

    @hookimpl
    def dataflare_event_handlers(self, register):
        register("orders.>", self.on_order)

    async def on_order(self, message: Message) -> None:
        if message.payload == "poison":
            raise ValueError("cannot handle poison")
        self.received.append(message)

    @hookimpl
    def dataflare_metrics(self, register):
        register(lambda: [MetricSample("dataflare_orders_total", len(self.received), "counter")])

    @hookimpl
    async def dataflare_startup(self, kernel):
        await anyio.lowlevel.checkpoint()
        self.calls.append("startup")

    @hookimpl
    def dataflare_shutdown(self, kernel):
        self.calls.append("shutdown")


class FailsOnStartup:
    """An extension whose startup raises."""

    name = "fails"

    def __init__(self) -> None:
        self.shut_down = False

    @hookimpl
    def dataflare_startup(self, kernel):
        raise RuntimeError("cannot reach the license server")

    @hookimpl
    def dataflare_shutdown(self, kernel):
        self.shut_down = True


async def test_hooks_are_called_in_lifecycle_order_and_config_reaches_the_extension():
    """An in-process extension gets its section, then configure, startup and shutdown."""
    recorder = Recorder()
    config = {"greeter": {"greeting": "bonjour"}}
    async with Kernel(config, plugins=[recorder], discover=False) as kernel:
        assert recorder.calls == ["config_sections", "configure", "startup"]
        assert kernel.sources.get("numbers").extension == "recorder"
    assert recorder.calls[-1] == "shutdown"
    assert recorder.settings == GreeterSettings("bonjour")


async def test_event_handler_survives_a_failing_message_and_drains_at_shutdown():
    """A handler that raises on one message still receives every later one."""
    recorder = Recorder()
    async with Kernel(plugins=[recorder], discover=False) as kernel:
        for payload in ["a", "poison", "b", "c"]:
            await kernel.bus.publish("orders.created", payload)
    # Published before stop, handled during the drain: nothing is lost.
    assert [m.payload for m in recorder.received] == ["a", "b", "c"]
    assert kernel.shutdown_report is not None
    assert kernel.shutdown_report.undelivered == 0


async def test_a_failing_startup_unloads_only_that_extension():
    """The failing extension is reported and skipped; the others start and stop normally."""
    recorder, fails = Recorder(), FailsOnStartup()
    async with Kernel(plugins=[recorder, fails], discover=False) as kernel:
        status = {info.name: info for info in kernel.extensions}
        assert status["fails"].status is ExtensionStatus.FAILED
        assert status["fails"].stage == "startup"
        assert "license server" in (status["fails"].error or "")
        assert status["recorder"].status is ExtensionStatus.LOADED
        assert "startup" in recorder.calls
    assert not fails.shut_down, "an extension that never started must not be shut down"
    assert recorder.calls[-1] == "shutdown"


async def test_strict_mode_makes_a_failing_extension_fatal():
    """With DATAFLARE_STRICT_EXTENSIONS=1 the failure raises, naming the extension."""
    kernel = Kernel(
        plugins=[FailsOnStartup()], discover=False, environ={"DATAFLARE_STRICT_EXTENSIONS": "1"}
    )
    with pytest.raises(ExtensionLoadError, match="'fails'") as caught:
        async with kernel:
            pass
    assert caught.value.extension == "fails"


def test_a_hook_name_typo_is_reported_with_a_suggestion():
    """An extension implementing a hook that does not exist is unloaded with did-you-mean."""

    class Typo:
        name = "typo"

        @hookimpl
        def dataflare_statup(self, kernel):
            raise AssertionError("never called")

    kernel = Kernel(plugins=[Typo(), Recorder()], discover=False)
    kernel.load()
    info = {i.name: i for i in kernel.extensions}
    assert info["typo"].status is ExtensionStatus.FAILED
    assert "dataflare_statup" in (info["typo"].error or "")
    assert "dataflare_startup" in (info["typo"].error or "")
    assert info["recorder"].status is ExtensionStatus.LOADED
    assert kernel.pm.get_plugin("typo") is None


def test_an_optional_hook_of_an_absent_extension_is_not_a_typo():
    """@hookimpl(optionalhook=True) targets a hook another extension may publish; it loads."""

    class Reporter:
        name = "reporter"

        @hookimpl(optionalhook=True)
        def dataflare_telemetry(self, telemetry):
            raise AssertionError("nobody publishes this hook here")

        @hookimpl
        def dataflare_statup(self, kernel):
            raise AssertionError("a typo next to an optional hook is still a typo")

    kernel = Kernel(plugins=[Reporter()], discover=False)
    kernel.load()
    (info,) = kernel.extensions
    assert info.status is ExtensionStatus.FAILED
    assert "dataflare_statup" in (info.error or "")
    assert "dataflare_telemetry" not in (info.error or "")

    class Optional:
        name = "optional"

        @hookimpl(optionalhook=True)
        def dataflare_telemetry(self, telemetry):
            raise AssertionError("nobody publishes this hook here")

    kernel = Kernel(plugins=[Optional()], discover=False)
    kernel.load()
    (info,) = kernel.extensions
    assert info.status is ExtensionStatus.LOADED


def test_two_extensions_with_one_name_conflict():
    """The second extension under a taken name is reported as a conflict, not loaded."""
    first, second = Recorder("same"), Recorder("same")
    kernel = Kernel(plugins=[first, second], discover=False)
    kernel.load()
    statuses = [i.status for i in kernel.extensions]
    assert statuses == [ExtensionStatus.LOADED, ExtensionStatus.CONFLICT]
    assert "already taken" in (kernel.extensions[1].error or "")


def test_the_environment_disables_an_extension():
    """DATAFLARE_DISABLE_EXTENSIONS keeps an extension from registering at all."""
    recorder = Recorder()
    kernel = Kernel(
        plugins=[recorder],
        discover=False,
        environ={"DATAFLARE_DISABLE_EXTENSIONS": "recorder"},
    )
    kernel.load()
    assert kernel.extensions[0].status is ExtensionStatus.DISABLED
    assert recorder.calls == []


def test_an_allow_list_in_config_limits_what_loads():
    """kernel.extensions.allow lets only the named extensions register."""
    a, b = Recorder("a"), Recorder("b")
    config = {"kernel": {"extensions": {"allow": ["b"]}}}
    kernel = Kernel(config, plugins=[a, b], discover=False)
    kernel.load()
    assert [(i.name, i.status) for i in kernel.extensions] == [
        ("a", ExtensionStatus.DISABLED),
        ("b", ExtensionStatus.LOADED),
    ]


def test_a_bad_config_is_refused_with_every_problem():
    """Wrong values in a mapping config raise one ConfigError listing each of them."""
    config = {"kernel": {"bus": {"buffer_size": "many", "shutdown_timout": 1}}}
    with pytest.raises(ConfigError) as caught:
        Kernel(config, discover=False).load()
    paths = sorted(issue.path for issue in caught.value.issues)
    assert paths == ["kernel.bus.buffer_size", "kernel.bus.shutdown_timout"]


async def test_the_bus_exists_only_while_the_kernel_runs():
    """Touching kernel.bus before start raises KernelStateError with the fix."""
    kernel = Kernel(discover=False)
    with pytest.raises(KernelStateError, match="async with Kernel"):
        _ = kernel.bus
    async with kernel:
        assert await kernel.bus.publish("nobody.listens", 1) == 0
    with pytest.raises(KernelStateError):
        _ = kernel.bus


async def test_bus_settings_come_from_config():
    """kernel.bus.buffer_size sizes the subscribers' buffers."""
    async with Kernel({"kernel": {"bus": {"buffer_size": 3}}}, discover=False) as kernel:
        subscription = kernel.bus.subscribe("x")
        assert subscription.statistics().buffer_size == 3
        await subscription.aclose()


def test_authorization_deny_wins_and_no_opinion_allows():
    """Any False denies; when every extension abstains the kernel allows."""

    class DenyDeletes:
        name = "deny-deletes"

        @hookimpl
        def dataflare_authorize(self, principal, action, resource, context):
            return False if action == "delete" else None

    class AllowAll:
        name = "allow-all"

        @hookimpl
        def dataflare_authorize(self, principal):
            return True

    kernel = Kernel(plugins=[DenyDeletes(), AllowAll()], discover=False)
    kernel.load()
    assert kernel.authorize("ada", "read", "pipeline:clicks")
    assert not kernel.authorize("ada", "delete", "pipeline:clicks")
    alone = Kernel(discover=False)
    alone.load()
    assert alone.authorize("ada", "delete", "pipeline:clicks")


async def test_metric_collectors_report_current_figures():
    """Collectors registered through dataflare_metrics are called at collection time."""
    recorder = Recorder()
    async with Kernel(plugins=[recorder], discover=False) as kernel:
        await kernel.bus.publish("orders.paid", "x")
        with anyio.fail_after(5):
            while not recorder.received:
                await anyio.sleep(0.001)
        samples = kernel.collect_metrics()
    assert [(s.name, s.value) for s in samples] == [("dataflare_orders_total", 1)]


def test_contributions_isolate_a_failing_hook():
    """kernel.contributions collects registered items; a raising extension is unloaded."""

    class Commands:
        name = "commands"

        @hookimpl
        def dataflare_cli_commands(self, register):
            register("a-command")

    class Broken:
        name = "broken"

        @hookimpl
        def dataflare_cli_commands(self, register):
            raise ImportError("click is too old")

    kernel = Kernel(plugins=[Commands(), Broken()], discover=False)
    assert kernel.contributions("dataflare_cli_commands") == [("commands", "a-command")]
    assert {i.name: i.status for i in kernel.extensions}["broken"] is ExtensionStatus.FAILED


def test_add_hookspecs_lets_an_extension_define_hooks_for_others():
    """A hook added through dataflare_add_hookspecs can be implemented by another extension."""
    import types

    import pluggy

    spec_module = types.ModuleType("geo_hookspecs")
    marker = pluggy.HookspecMarker("dataflare")

    def dataflare_geo_lookups(register):
        """Contribute geo lookups."""

    spec_module.dataflare_geo_lookups = marker(dataflare_geo_lookups)

    class Geo:
        name = "geo"

        @hookimpl
        def dataflare_add_hookspecs(self, pluginmanager):
            pluginmanager.add_hookspecs(spec_module)

    class UsesGeo:
        name = "uses-geo"

        @hookimpl
        def dataflare_geo_lookups(self, register):
            register("ip-to-country")

    kernel = Kernel(plugins=[Geo(), UsesGeo()], discover=False)
    assert kernel.contributions("dataflare_geo_lookups") == [("uses-geo", "ip-to-country")]
    assert all(i.status is ExtensionStatus.LOADED for i in kernel.extensions)


def test_every_component_kind_is_collected_and_a_clash_is_reported():
    """Sinks, operators and connectors are registered per extension; a duplicate name fails."""

    class Parts:
        name = "parts"

        @hookimpl
        def dataflare_sinks(self, register):
            register("stdout", print, description="prints")

        @hookimpl
        def dataflare_operators(self, register):
            register("upper", str.upper)

        @hookimpl
        def dataflare_connectors(self, register):
            register("loopback", dict)

    class Clashing:
        name = "clashing"

        @hookimpl
        def dataflare_sinks(self, register):
            register("stdout", print)

    kernel = Kernel(plugins=[Parts(), Clashing()], discover=False)
    kernel.load()
    assert [c.name for c in kernel.sinks] == ["stdout"]
    assert kernel.operators.get("upper").factory is str.upper
    assert "loopback" in kernel.connectors
    status = {i.name: i for i in kernel.extensions}
    assert status["clashing"].status is ExtensionStatus.FAILED
    assert "registered by both" in (status["clashing"].error or "")


def test_plugin_verification_collects_every_refusal():
    """Each extension may refuse a WASM plugin; every reason is returned."""

    class LicencePolicy:
        name = "licences"

        @hookimpl
        def dataflare_verify_plugin(self, manifest, key_id):
            if manifest.get("license") == "AGPL-3.0":
                return "licence AGPL-3.0 is not allowed here"
            return None

    kernel = Kernel(plugins=[LicencePolicy()], discover=False)
    kernel.load()
    assert kernel.plugin_refusals({"license": "MIT"}, "k1") == []
    assert kernel.plugin_refusals({"license": "AGPL-3.0"}, "k1") == [
        "licence AGPL-3.0 is not allowed here"
    ]
