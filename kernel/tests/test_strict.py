"""Tests for the strict converter config files are structured with."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Literal

import attrs
import pytest
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

from dataflare.kernel._convert import make_converter
from dataflare.kernel._strict import ValidatorError


class Colour(enum.Enum):
    """A plain enum."""

    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    """An enum whose values are integers."""

    SMALL = 1
    LARGE = 2


@attrs.frozen
class Ranges:
    """Two fields with validators, the second reading the first."""

    low: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    high: int = attrs.field(default=10)

    @high.validator
    def _above_low(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value <= self.low:
            raise ValueError(f"must be above low ({self.low}), got {value}")


@attrs.frozen
class Required:
    """A class with a required field and a converter."""

    name: str
    label: str = attrs.field(default="x", converter=str.upper)


STRICT = make_converter(forbid_extra_keys=True, strict=True)


def leaves(exc: BaseException) -> list[tuple[type[BaseException], str]]:
    """Flatten an exception group into (type, message) leaves."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for child in exc.exceptions for leaf in leaves(child)]
    return [(type(exc), str(exc))]


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (3.7, int, "expected an integer, got 3.7"),
        ("10", int, "expected an integer, got '10'"),
        (True, int, "expected an integer, got true"),
        (True, float, "expected a number, got true"),
        ("1.5", float, "expected a number, got '1.5'"),
        (1, bool, "expected true or false, got 1"),
        ("true", bool, "expected true or false, got 'true'"),
        (8080, str, "expected a string, got 8080"),
        (None, str, "expected a string, got null"),
    ],
)
def test_scalars_of_the_wrong_type_are_refused(value, kind, message):
    """No value is coerced into a scalar type it does not already have."""
    with pytest.raises(TypeError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        STRICT.structure(value, kind)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [(3, float, 3.0), (3, int, 3), (False, bool, False), ("x", str, "x")],
)
def test_scalars_of_the_right_type_pass(value, kind, expected):
    """Values of the right type pass, and an integer widens to a float."""
    result = STRICT.structure(value, kind)
    assert (result, type(result)) == (expected, type(expected))


def test_enums_and_literals_accept_only_their_values():
    """Enum values and literal options pass; anything else names the choices."""
    assert STRICT.structure("red", Colour) is Colour.RED
    assert STRICT.structure(2, Size) is Size.LARGE
    assert STRICT.structure("a", Literal["a", "b"]) == "a"
    with pytest.raises(ValueError, match="expected one of: red or blue, got 'green'"):
        STRICT.structure("green", Colour)
    with pytest.raises(ValueError, match="expected one of: 1 or 2, got true"):
        STRICT.structure(True, Size)
    with pytest.raises(ValueError, match="expected one of: a or b, got 'c'"):
        STRICT.structure("c", Literal["a", "b"])


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (tuple[int, ...], (1, 2)),
        (list[int], [1, 2]),
        (Sequence[int], (1, 2)),
        (frozenset[int], frozenset({1, 2})),
        (set[int], {1, 2}),
    ],
)
def test_collections_are_built_as_their_type(kind, expected):
    """A YAML list becomes the collection the field asks for (immutable unless it is mutable)."""
    result = STRICT.structure([1, 2], kind)
    assert (result, type(result)) == (expected, type(expected))


def test_a_string_or_mapping_is_not_a_list():
    """A string is not split into characters, and a mapping is not a list of its keys."""
    with pytest.raises(TypeError, match="expected a list of strings, got 'abc'"):
        STRICT.structure("abc", tuple[str, ...])
    with pytest.raises(TypeError, match="expected a list of strings, got a mapping"):
        STRICT.structure({"a": 1}, list[str])


def test_bad_items_are_all_reported_with_their_index_or_key():
    """Every bad item of a list or mapping is reported, each noted with where it is."""
    with pytest.raises(ClassValidationError) as caught:
        STRICT.structure({"name": "n", "label": 5}, Required)
    assert leaves(caught.value) == [(TypeError, "expected a string, got 5")]
    with pytest.raises(BaseExceptionGroup) as many:
        STRICT.structure([1, "2", 3.5], list[int])
    notes = [child.__notes__[0].index for child in many.value.exceptions]
    assert notes == [1, 2]
    with pytest.raises(BaseExceptionGroup) as mapped:
        STRICT.structure({"a": 1, "b": "x"}, dict[str, int])
    assert [child.__notes__[0].index for child in mapped.value.exceptions] == ["b"]


def test_every_failing_validator_is_reported_not_only_the_first():
    """Both validators fail and both are reported, each as a ValidatorError on its field."""
    with pytest.raises(ClassValidationError) as caught:
        STRICT.structure({"low": -1, "high": -5}, Ranges)
    children = caught.value.exceptions
    assert [type(child) for child in children] == [ValidatorError, ValidatorError]
    assert [child.__notes__[0].name for child in children] == ["low", "high"]
    assert str(children[1]) == "must be above low (-1), got -5"


def test_validators_run_even_when_another_field_is_wrong():
    """A validator failure is reported beside a type error and an unknown key in the same class."""
    with pytest.raises(ClassValidationError) as caught:
        STRICT.structure({"low": -1, "high": "x", "hihg": 1}, Ranges)
    assert sorted(type(child).__name__ for child in caught.value.exceptions) == [
        "ForbiddenExtraKeysError",
        "TypeError",
        "ValidatorError",
    ]


def test_a_missing_required_field_is_a_key_error_and_converters_still_apply():
    """A missing required field is reported as KeyError; attrs converters run as usual."""
    with pytest.raises(ClassValidationError) as caught:
        STRICT.structure({"label": "y"}, Required)
    [missing] = caught.value.exceptions
    assert (type(missing), missing.args) == (KeyError, ("name",))
    assert STRICT.structure({"name": "n", "label": "y"}, Required) == Required("n", "Y")


def test_unknown_keys_are_reported_by_name():
    """Keys that are not fields are one ForbiddenExtraKeysError naming them."""
    with pytest.raises(ClassValidationError) as caught:
        STRICT.structure({"name": "n", "nmae": "m"}, Required)
    [error] = caught.value.exceptions
    assert isinstance(error, ForbiddenExtraKeysError)
    assert error.extra_fields == {"nmae"}


def test_the_default_converter_is_unchanged():
    """Without strict=True the converter still coerces, as other modules expect."""
    assert make_converter().structure("10", int) == 10
