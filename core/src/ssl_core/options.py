"""Helpers for component option classes (attrs): one place for the field conventions."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v


def option(default: Any, doc: str, *, validator: Any = None, converter: Any = None) -> Any:
    """An attrs field with a default, a one-line ``doc`` for ``ssl describe`` and checks."""
    if isinstance(default, (list, dict, set)):
        return attrs.field(factory=lambda: type(default)(default), validator=validator,
                           converter=converter, metadata={"doc": doc})
    return attrs.field(default=default, validator=validator, converter=converter, metadata={"doc": doc})


positive = v.gt(0)
non_negative = v.ge(0)
probability = v.and_(v.ge(0.0), v.le(1.0))


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
