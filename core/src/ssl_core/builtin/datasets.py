"""Built-in dataset sources: the offline ``shapes`` dataset and ``hf`` (HF ``datasets``)."""

from ssl_core.components import BuildContext
from ssl_core.data.shapes import CLASS_NAMES, ShapesConfig, generate
from ssl_core.data.sources import DatasetSplits, HFDatasetConfig, TensorImageDataset, load_hf
from ssl_core.hookspecs import hookimpl


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


def hf(config: HFDatasetConfig, context: BuildContext) -> DatasetSplits:
    """Any dataset HF datasets reads: a parquet or image folder, a parquet file, a Hub name."""
    return load_hf(config)


@hookimpl
def register_datasets(register):
    register("shapes", shapes, config=ShapesConfig)
    register("hf", hf, config=HFDatasetConfig)
