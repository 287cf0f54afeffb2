"""The offline ``shapes`` dataset for ssl: procedural silhouettes on textured backgrounds, 10 classes."""

from ssl_shapes.shapes import (
    BACKGROUND_NAMES,
    BACKGROUND_TESTS,
    CLASS_NAMES,
    PALETTE,
    PLAIN,
    SPLITS,
    ShapesConfig,
    ShapesSet,
    background_tests,
    generate,
    render,
)

__all__ = [
    "BACKGROUND_NAMES",
    "BACKGROUND_TESTS",
    "CLASS_NAMES",
    "PALETTE",
    "PLAIN",
    "SPLITS",
    "ShapesConfig",
    "ShapesSet",
    "background_tests",
    "generate",
    "render",
]
