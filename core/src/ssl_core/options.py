"""Helpers for component option classes (attrs): one place for the field conventions."""

from __future__ import annotations

import numbers
from typing import Any

import attrs
from attrs import validators as v

#: the declared types whose values are checked, by annotation (``X`` or ``X | None``), and their names.
_SCALARS: dict[str, tuple[type, str]] = {
    "int": (numbers.Integral, "an integer"), "float": (numbers.Real, "a number"),
    "str": (str, "a string"), "bool": (bool, "true or false"),
}


def _declared_type(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Refuse a value that is not of the field's declared scalar type, naming the field and the value."""
    declared = attribute.type if isinstance(attribute.type, str) else getattr(attribute.type, "__name__",
                                                                               str(attribute.type))
    names = [name.strip() for name in str(declared).split("|")]
    optional = "None" in names
    names = [name for name in names if name != "None"]
    if len(names) != 1 or names[0] not in _SCALARS or (optional and value is None):
        return
    kind, wanted = _SCALARS[names[0]]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise TypeError(f"{attribute.name} must be {wanted}{' or null' if optional else ''}, got {value!r}")


def _named(converter: Any) -> attrs.Converter:
    """``converter``, its errors prefixed with the field's name."""

    def convert(value: Any, field: attrs.Attribute) -> Any:
        try:
            return converter(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{field.name}: {exc}") from exc

    return attrs.Converter(convert, takes_field=True)


def option(default: Any, doc: str, *, validator: Any = None, converter: Any = None) -> Any:
    """An attrs field with a default, a one-line ``doc`` for ``ssl describe`` and checks: the
    value must fit the field's annotation when that is ``int``, ``float``, ``str`` or ``bool``
    (or one of them ``| None``), then ``validator``; ``converter``'s errors name the field."""
    given = [] if validator is None else validator if isinstance(validator, list) else [validator]
    validator = [_declared_type, *given]
    converter = None if converter is None else _named(converter)
    if isinstance(default, (list, dict, set)):
        return attrs.field(factory=lambda: type(default)(default), validator=validator,
                           converter=converter, metadata={"doc": doc})
    return attrs.field(default=default, validator=validator, converter=converter, metadata={"doc": doc})


positive = v.gt(0)
non_negative = v.ge(0)
probability = v.and_(v.ge(0.0), v.le(1.0))


def in_range(low: float, high: float | None = None, why: str = "") -> Any:
    """A validator accepting ``low <= value <= high`` (no upper bound when ``high`` is None); its
    error names the field, the value, ``why`` and the valid range."""
    valid = f"{low} or more" if high is None else f"{low} to {high}"

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value < low or (high is not None and value > high):
            raise ValueError(f"{attribute.name} {value!r} is out of range{why}; valid: {valid}")

    return check


def one_of(*choices: Any) -> Any:
    """A validator accepting only ``choices`` (its error lists them)."""
    return v.in_(choices)


def pair(converter: Any = float) -> Any:
    """A converter to a 2-tuple (lists from YAML or ``--set`` become tuples)."""

    def convert(value: Any) -> tuple:
        items = tuple(converter(x) for x in value)
        if len(items) != 2:
            raise ValueError(f"expected two values, got {value!r}")
        return items

    return convert
