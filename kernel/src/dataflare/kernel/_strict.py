"""Strict structuring for config files: no silent coercion, every problem at once.

cattrs' default hooks suit trusted data: they call the target type, so 3.7
becomes the integer 3, ``"10"`` becomes 10, 1 becomes ``True``, and a string is
taken as a list of its characters. A config file must refuse each of those, and
say so in the author's words. The hooks here do, and they keep cattrs' error
shape (exception groups whose members carry the attribute or index as a note)
so the config loader can point at every bad value.

They also check every attrs validator of a class, not only the first that
fails, and attach each failure to its field.

Example::

    converter = make_converter(forbid_extra_keys=True, strict=True)
    converter.structure({"buffer_size": 3.7}, BusSettings)
    # ClassValidationError, holding TypeError('expected an integer, got 3.7')
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Iterable, Mapping, MutableSequence, MutableSet
from typing import Any, Literal

import attrs
import cattrs
from cattrs.cols import is_any_set, is_mapping, is_sequence
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from dataflare.kernel._describe import describe_type, describe_value

__all__ = ("ValidatorError", "configure_strict")

Hook = Callable[[Any, Any], Any]

_FACTORY: type[Any] = type(attrs.Factory(list))  # attrs' stubs present Factory as a function

# bool before int: bool is a subclass of int, and True must not pass as 1.
_SCALARS: tuple[tuple[type, tuple[type, ...]], ...] = (
    (bool, (bool,)),
    (int, (int,)),
    (float, (int, float)),
    (str, (str,)),
)


class ValidatorError(ValueError):
    """An attrs validator refused a field's value; the original error is the cause.

    Kept apart from type errors so a report can show the validator's own words
    instead of "expected <type>".
    """


def configure_strict(converter: cattrs.Converter, *, forbid_extra_keys: bool) -> None:
    """Make a converter refuse values of the wrong type instead of coercing them.

    Args:
        converter: The converter to configure in place.
        forbid_extra_keys: Report mapping keys that are not fields of the target
            attrs class.
    """
    for scalar in (bool, int, float, str, enum.Enum):
        converter.register_structure_hook(scalar, _structure_scalar)
    converter.register_structure_hook_factory(_is_literal, _literal_hook)
    converter.register_structure_hook_factory(
        lambda kind: is_sequence(kind) or is_any_set(kind),
        lambda kind: _collection_hook(converter, kind),
    )
    converter.register_structure_hook_factory(
        is_mapping, lambda kind: _mapping_hook(converter, kind)
    )
    converter.register_structure_hook_factory(
        attrs.has, lambda cl: _attrs_hook(converter, cl, forbid_extra_keys=forbid_extra_keys)
    )


def _expected(kind: Any, value: object) -> str:
    return f"expected {describe_type(kind)}, got {describe_value(value)}"


def _structure_scalar(value: object, kind: type[Any]) -> Any:
    # One hook for enums too: an enum mixing in str or int would otherwise be
    # dispatched to the str or int hook, which knows nothing of its members.
    if issubclass(kind, enum.Enum):
        return _structure_enum(value, kind)
    accepted = next(types for base, types in _SCALARS if issubclass(kind, base))
    if isinstance(value, accepted) and (kind is bool or not isinstance(value, bool)):
        return kind(value)
    raise TypeError(_expected(kind, value))


def _structure_enum(value: object, kind: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, kind):
        return value
    for member in kind:
        if type(member.value) is type(value) and member.value == value:
            return member
    raise ValueError(_expected(kind, value))


def _is_literal(kind: Any) -> bool:
    return typing.get_origin(kind) is Literal


def _literal_hook(kind: Any) -> Hook:
    allowed = typing.get_args(kind)

    def structure_literal(value: object, _: Any) -> Any:
        for option in allowed:
            if type(option) is type(value) and option == value:
                return option
        raise ValueError(_expected(kind, value))

    return structure_literal


def _collection_hook(converter: cattrs.Converter, kind: Any) -> Hook:
    args = typing.get_args(kind)
    item = args[0] if args else Any
    build = _collection_builder(kind)

    def structure_collection(value: object, _: Any) -> Any:
        # A string is iterable, but "abc" for a list of names is a mistake, not ['a', 'b', 'c'].
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise TypeError(_expected(kind, value))
        items: list[Any] = []
        errors: list[Exception] = []
        for index, element in enumerate(value):
            try:
                items.append(converter.structure(element, item))
            except Exception as exc:  # noqa: BLE001 -- collected with its index, like cattrs does
                exc.add_note(IterableValidationNote(f"Structuring @ index {index}", index, item))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {kind!r}", errors, kind)
        return build(items)

    return structure_collection


def _collection_builder(kind: Any) -> Callable[[list[Any]], Any]:
    origin = typing.get_origin(kind) or kind
    if is_any_set(kind):
        return set if isinstance(origin, type) and issubclass(origin, MutableSet) else frozenset
    # Immutable unless a mutable list was asked for: config values live in frozen classes.
    return list if isinstance(origin, type) and issubclass(origin, MutableSequence) else tuple


def _mapping_hook(converter: cattrs.Converter, kind: Any) -> Hook:
    args = typing.get_args(kind)
    key_type, value_type = args if len(args) == 2 else (Any, Any)

    def structure_mapping(value: object, _: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise TypeError(_expected(kind, value))
        result: dict[Any, Any] = {}
        errors: list[Exception] = []
        for key, element in value.items():
            try:
                result[converter.structure(key, key_type)] = converter.structure(
                    element, value_type
                )
            except Exception as exc:  # noqa: BLE001 -- collected with its key, like cattrs does
                exc.add_note(IterableValidationNote(f"Structuring @ key {key!r}", key, value_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {kind!r}", errors, kind)
        return result

    return structure_mapping


def _attrs_hook(converter: cattrs.Converter, cl: type, *, forbid_extra_keys: bool) -> Hook:
    attrs.resolve_types(cl)
    fields = tuple(field for field in attrs.fields(cl) if field.init)
    names = {field.name for field in fields}

    def structure_attrs(value: object, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(_expected(cl, value))
        errors: list[Exception] = []
        if forbid_extra_keys and (extra := {key for key in value if key not in names}):
            errors.append(ForbiddenExtraKeysError(None, cl, extra))
        structured: dict[str, Any] = {}
        for field in fields:
            if field.name in value:
                try:
                    structured[field.name] = converter.structure(value[field.name], field.type)
                except Exception as exc:  # noqa: BLE001 -- collected per field, like cattrs does
                    errors.append(_noted(exc, cl, field))
            elif field.default is attrs.NOTHING:
                errors.append(_noted(KeyError(field.name), cl, field))
        errors += _validator_errors(cl, structured)
        if errors:
            raise ClassValidationError(f"While structuring {cl.__name__}", errors, cl)
        return cl(
            **{field.alias: structured[field.name] for field in fields if field.name in structured}
        )

    return structure_attrs


def _validator_errors(cl: type, structured: Mapping[str, Any]) -> list[Exception]:
    """Run every field's validator, not just up to the first failure as ``__init__`` does.

    Validators get an instance, so one is assembled without ``__init__`` from the
    values that structured cleanly and the defaults; a field that is missing has
    its own error already, so a validator tripping over it is not reported again.
    """
    instance: Any = object.__new__(cl)
    errors: list[Exception] = []
    complete = True
    for field in attrs.fields(cl):
        if field.name not in structured and field.default is attrs.NOTHING:
            complete = False
            continue
        try:
            value = (
                structured[field.name] if field.name in structured else _default(field, instance)
            )
            object.__setattr__(instance, field.name, _apply_converter(field, value, instance))
        except Exception as exc:  # noqa: BLE001 -- a converter's failure is this field's error
            errors.append(_noted(exc, cl, field))
            complete = False
    for field in attrs.fields(cl):
        if field.validator is None or not hasattr(instance, field.name):
            continue
        try:
            field.validator(instance, field, getattr(instance, field.name))
        except Exception as exc:  # noqa: BLE001 -- any validator failure is reported, not raised
            if isinstance(exc, AttributeError) and not complete:
                continue
            error = ValidatorError(str(exc))
            error.__cause__ = exc
            errors.append(_noted(error, cl, field))
    return errors


def _default(field: attrs.Attribute[Any], instance: object) -> Any:
    default: Any = field.default
    if isinstance(default, _FACTORY):
        return default.factory(instance) if default.takes_self else default.factory()
    return default


def _apply_converter(field: attrs.Attribute[Any], value: Any, instance: object) -> Any:
    converter: Any = field.converter
    if converter is None:
        return value
    if isinstance(converter, attrs.Converter):
        wrapped: Any = converter  # attrs' stubs leave out the attributes read here
        extra = [instance] if wrapped.takes_self else []
        extra += [field] if wrapped.takes_field else []
        return wrapped.converter(value, *extra)
    return converter(value)


def _noted(exc: Exception, cl: type, field: attrs.Attribute[Any]) -> Exception:
    note = f"Structuring class {cl.__qualname__} @ attribute {field.name}"
    exc.add_note(AttributeValidationNote(note, field.name, field.type))
    return exc
