"""The message log's values check themselves when built, so a bad setting fails where written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataflare.kernel._log_values import (
    MSG_ID_HEADER,
    ConsumerConfig,
    OutgoingMessage,
    StoredMessage,
    StreamConfig,
    check_bucket,
    check_key,
    stamp_msg_id,
)
from dataflare.kernel.errors import InvalidSubjectError, MessagingValueError


def test_a_single_subject_string_is_one_subject():
    assert StreamConfig("ORDERS", "orders.>").subjects == ("orders.>",)


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"name": "ORD ERS"}, "StreamConfig.name"),
        ({"name": "orders.eu"}, "StreamConfig.name"),
        ({"subjects": []}, "StreamConfig.subjects"),
        ({"replicas": 0}, "StreamConfig.replicas"),
        ({"max_age": -1}, "StreamConfig.max_age"),
        ({"duplicate_window": 0}, "StreamConfig.duplicate_window"),
        ({"storage": "disk"}, "StreamConfig.storage"),
    ],
)
def test_a_bad_stream_setting_is_named(settings, setting):
    values = {"name": "ORDERS", "subjects": ["orders.>"], **settings}
    with pytest.raises(MessagingValueError) as caught:
        StreamConfig(**values)
    assert caught.value.setting == setting


def test_a_malformed_subject_pattern_is_refused():
    with pytest.raises(InvalidSubjectError):
        StreamConfig("ORDERS", ["orders.>.eu"])


def test_the_duplicate_window_is_capped_at_max_age():
    assert StreamConfig("S", ["s.>"], max_age=30).effective_duplicate_window == 30
    assert StreamConfig("S", ["s.>"]).effective_duplicate_window == 120


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"durable": "a.b"}, "ConsumerConfig.durable"),
        ({"ack_wait": 0}, "ConsumerConfig.ack_wait"),
        ({"max_deliver": 0}, "ConsumerConfig.max_deliver"),
        ({"backoff": (1, 2)}, "ConsumerConfig.max_deliver"),
        ({"backoff": (1, 2), "max_deliver": 2}, "ConsumerConfig.max_deliver"),
        ({"backoff": (1, -2), "max_deliver": 5}, "ConsumerConfig.backoff"),
        ({"max_ack_pending": 0}, "ConsumerConfig.max_ack_pending"),
        ({"deliver_policy": "last"}, "ConsumerConfig.deliver_policy"),
        ({"deliver_policy": "by_start_sequence"}, "ConsumerConfig.start_seq"),
        ({"start_seq": 3}, "ConsumerConfig.start_seq"),
        ({"deliver_policy": "by_start_time"}, "ConsumerConfig.start_time"),
        (
            {"deliver_policy": "by_start_time", "start_time": datetime(2026, 1, 1)},  # naive
            "ConsumerConfig.start_time",
        ),
    ],
)
def test_a_bad_consumer_setting_is_named(settings, setting):
    with pytest.raises(MessagingValueError) as caught:
        ConsumerConfig(**settings)
    assert caught.value.setting == setting


def test_good_consumer_settings_are_kept():
    config = ConsumerConfig(
        "workers",
        max_deliver=5,
        backoff=[1, 5, 30],
        deliver_policy="by_start_time",
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert config.backoff == (1.0, 5.0, 30.0)


def test_an_outgoing_message_needs_a_concrete_subject_and_freezes_headers():
    with pytest.raises(InvalidSubjectError):
        OutgoingMessage("orders.*", b"x")
    message = OutgoingMessage("orders.new", b"x", headers={"a": "1"})
    with pytest.raises(TypeError):
        message.headers["a"] = "2"  # type: ignore[index]


def test_a_msg_id_is_chosen_then_found_then_made():
    headers, msg_id, chosen = stamp_msg_id({"a": "1", MSG_ID_HEADER: "in-header"}, "explicit")
    assert (msg_id, chosen, headers[MSG_ID_HEADER], headers["a"]) == (
        "explicit",
        True,
        "explicit",
        "1",
    )
    assert stamp_msg_id({MSG_ID_HEADER: "in-header"}, None)[1:] == ("in-header", True)
    headers, made, chosen = stamp_msg_id(None, None)
    assert (headers, chosen) == ({MSG_ID_HEADER: made}, False)
    assert made != stamp_msg_id(None, None)[1]


def test_a_stored_message_exposes_its_msg_id():
    stored = StoredMessage("s.x", b"", {MSG_ID_HEADER: "m-1"}, 1, datetime.now(UTC))
    assert stored.msg_id == "m-1"


@pytest.mark.parametrize("key", ["nodes.a", "a/b=c_d-e", "X"])
def test_valid_keys_pass(key):
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "a b", ".a", "a.", "a*", "a>"])
def test_invalid_keys_are_refused(key):
    with pytest.raises(MessagingValueError, match="key"):
        check_key(key)


@pytest.mark.parametrize("bucket", ["", "a.b", "a b", "a/b"])
def test_invalid_buckets_are_refused(bucket):
    with pytest.raises(MessagingValueError, match="bucket"):
        check_bucket(bucket)
