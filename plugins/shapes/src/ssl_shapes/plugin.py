"""Registers the ``shapes`` dataset and the ``background`` evaluation protocol."""

from ssl_core import BuildContext, DatasetSplits, Register, TensorImageDataset, hookimpl

from ssl_shapes.background import BackgroundProtocol
from ssl_shapes.shapes import CLASS_NAMES, ShapesConfig, generate


def shapes(config: ShapesConfig, context: BuildContext) -> DatasetSplits:
    """Procedural silhouettes on textured backgrounds, 10 classes (offline, built in)."""
    train, test = generate(config, "train"), generate(config, "test")
    return DatasetSplits(
        train=TensorImageDataset(train.images, train.labels),
        test=TensorImageDataset(test.images, test.labels),
        num_classes=len(CLASS_NAMES),
        image_size=config.image_size,
        class_names=list(CLASS_NAMES),
    )


@hookimpl
def register_datasets(register: Register) -> None:
    register("shapes", shapes, config=ShapesConfig)


@hookimpl
def register_eval_protocols(register: Register) -> None:
    register("background", BackgroundProtocol)
