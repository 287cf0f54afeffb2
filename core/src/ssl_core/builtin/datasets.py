"""Built-in dataset source ``hf``: anything HF ``datasets`` reads (the offline ``shapes`` is the ssl-shapes plugin)."""

from ssl_core.context import BuildContext
from ssl_core.data.sources import DatasetSplits, HFDatasetConfig, load_hf
from ssl_core.hookspecs import hookimpl


def hf(config: HFDatasetConfig, context: BuildContext) -> DatasetSplits:
    """Any dataset HF datasets reads: a parquet or image folder, a parquet file, a Hub name."""
    return load_hf(config)


@hookimpl
def register_datasets(register):
    register("hf", hf, config=HFDatasetConfig)
