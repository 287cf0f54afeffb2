"""The ``shapes`` dataset as registered by ssl-shapes: its package, options and splits."""

from __future__ import annotations

import pytest
import torch

from ssl_core import ComponentOptionError, DatasetSplits, create, spec
from ssl_shapes import CLASS_NAMES, ShapesConfig, generate


def test_shapes_is_registered_by_ssl_shapes_with_its_config() -> None:
    registered = spec("dataset", "shapes")
    assert registered.package == "ssl-shapes"
    assert registered.config is ShapesConfig


def test_the_registered_dataset_holds_the_rendered_splits() -> None:
    options = {"num_train": 50, "num_test": 20, "image_size": 16, "background_bias": 0.5, "seed": 4}
    splits = create("dataset", "shapes", **options)
    assert isinstance(splits, DatasetSplits)
    assert (splits.num_classes, splits.image_size, splits.class_names) == (10, 16, list(CLASS_NAMES))
    config = ShapesConfig(**options)
    for split, dataset in (("train", splits.train), ("test", splits.test)):
        expected = generate(config, split)
        assert len(dataset) == len(expected.labels)
        assert torch.equal(dataset.images, expected.images) and torch.equal(dataset.labels, expected.labels)


def test_fewer_training_images_than_classes_are_refused() -> None:
    with pytest.raises(ComponentOptionError, match="num_train 9 is out of range.*valid: 10 or more"):
        create("dataset", "shapes", num_train=9)
