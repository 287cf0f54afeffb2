"""Dataset sources: fixed-size uint8 image tensors with indices and optional labels.

Local folders and Hub datasets are read with HF ``datasets``. The forms ``--dataset`` takes:

- a folder holding ``*.parquet`` files, one or more per split, named by the split
  (``train.parquet``, ``test.parquet``, ``train-00000-of-00002.parquet``, ...), as the
  CIFAR-10 copy at ``shared/data/cifar10`` is;
- a single ``.parquet`` file (a training split only);
- a folder of images in class sub-folders (``imagefolder``);
- a Hub dataset name (``uoft-cs/cifar10``), which needs the network unless it is cached.

A split whose decoded images fit in ``IN_MEMORY_LIMIT`` bytes is decoded once, when the run
starts, into one uint8 tensor (option ``in_memory``), so no training step waits on decoding.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ssl_core.errors import DatasetError
from ssl_core.options import one_of, option

NO_LABEL = -1
#: ``in_memory: auto`` decodes a split once when its uint8 images take at most this many bytes.
IN_MEMORY_LIMIT = 4 * 2**30
#: rows read from the HF dataset at a time while decoding a split into memory.
_DECODE_CHUNK = 512


class ImageDataset(Dataset):
    """Items are ``(image uint8 (C, H, W), index, label or -1)``; all images share one size."""

    image_size: int
    labels: torch.Tensor | None


class TensorImageDataset(ImageDataset):
    """Images held in memory as one uint8 tensor ``(N, C, H, W)``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 images of shape (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.labels = labels
        self.image_size = images.shape[-1]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int):
        label = NO_LABEL if self.labels is None else int(self.labels[index])
        return self.images[index], index, label


def _image(data, column: str, index: int, source: str) -> Image.Image:
    """Row ``index``'s image in RGB; one that cannot be decoded is a DatasetError naming its file."""
    try:
        return data[index][column].convert("RGB")
    except (OSError, ValueError) as exc:  # PIL's UnidentifiedImageError and truncated files are OSErrors
        import datasets

        file = data.cast_column(column, datasets.Image(decode=False))[index][column].get("path")
        where = f"{file} (row {index} of {source})" if file else f"row {index} of {source}"
        raise DatasetError(f"the image {where} cannot be decoded ({type(exc).__name__}); "
                           "remove or replace it") from None


class HFImageDataset(ImageDataset):
    """A split of an HF ``datasets.Dataset`` read from ``source``, decoded to RGB and resized on access."""

    def __init__(self, data, image_column: str, label_column: str | None, image_size: int, source: str) -> None:
        self.data = data
        self.image_column = image_column
        self.label_column = label_column
        self.image_size = image_size
        self.source = source
        self.labels = torch.tensor(data[label_column], dtype=torch.long) if label_column else None

    def __len__(self) -> int:
        return len(self.data)

    def _tensor(self, image: Image.Image) -> torch.Tensor:
        if image.size != (self.image_size, self.image_size):
            image = image.resize((self.image_size, self.image_size), resample=3)  # bicubic
        return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)

    def __getitem__(self, index: int):
        tensor = self._tensor(_image(self.data, self.image_column, index, self.source))
        label = NO_LABEL if self.labels is None else int(self.labels[index])
        return tensor, index, label

    def decoded(self, split: str) -> TensorImageDataset:
        """Every image decoded once into one uint8 tensor, with a progress bar (the same pixels as
        ``__getitem__``); an image that cannot be decoded is a DatasetError naming its file."""
        images = torch.empty((len(self), 3, self.image_size, self.image_size), dtype=torch.uint8)
        with tqdm(total=len(self), desc=f"decoding {split}", unit="img", leave=False) as bar:
            for start in range(0, len(self), _DECODE_CHUNK):
                stop = min(start + _DECODE_CHUNK, len(self))
                try:
                    chunk = [image.convert("RGB") for image in self.data[start:stop][self.image_column]]
                except (OSError, ValueError):  # find the row, for the message
                    chunk = [_image(self.data, self.image_column, i, self.source) for i in range(start, stop)]
                for i, image in enumerate(chunk, start):
                    images[i] = self._tensor(image)
                bar.update(stop - start)
        return TensorImageDataset(images, self.labels)


def _in_memory(dataset: HFImageDataset, split: str, mode: str) -> ImageDataset:
    """``dataset`` decoded into memory (``yes``, or ``auto`` when it fits ``IN_MEMORY_LIMIT``), else as is."""
    size = len(dataset) * 3 * dataset.image_size**2
    return dataset.decoded(split) if mode == "yes" or (mode == "auto" and size <= IN_MEMORY_LIMIT) else dataset


@attrs.define
class DatasetSplits:
    """A training split, an optional test split (for evaluation) and what the data is.

    Attributes:
        source: for a dataset that trains on a subset of another, the other (``ssl eval``
            encodes its whole training split).
        run_files: JSON files (name -> data) the trainer writes into the run folder.
    """

    train: ImageDataset
    test: ImageDataset | None
    num_classes: int | None
    image_size: int
    channels: int = 3
    class_names: list[str] | None = None
    source: DatasetSplits | None = None
    run_files: dict[str, Any] = attrs.Factory(dict)


def local_path(name: str) -> Path | None:
    """``name`` as an absolute local path when it is one (it exists, or it is written as a path:
    absolute, starting with ``.`` or ``~``, with more than one ``/``, or a ``.parquet`` file),
    else None: a Hub name (``name`` or ``owner/name``)."""
    if not name:
        return None
    path = Path(name).expanduser()
    written = path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or "\\" in name
    if path.exists() or written or path.suffix == ".parquet":
        return Path(os.path.abspath(path))
    return None


def _absolute_if_local(name: str) -> str:
    """``name``, made absolute when it is a local path."""
    path = local_path(name)
    return name if path is None else str(path)


def _yes_no(value: Any) -> Any:
    """YAML reads ``yes`` / ``no`` (``--set dataset.in_memory=no``) as booleans: back to the words."""
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


@attrs.define
class HFDatasetConfig:
    """Options of ``hf`` (any dataset HF ``datasets`` reads; see the module doc for the forms)."""

    path: str = option("", "a folder of parquet files or images, a parquet file, or a Hub name",
                       converter=_absolute_if_local)
    image_size: int | None = option(None, "resize images to this side; None: the first training image's side")
    image_column: str | None = option(None, "column with the images; None: the first Image feature")
    label_column: str | None = option(None, "column with the labels; None: the first ClassLabel, else 'label'/'labels' if present")
    train_split: str = option("train", "split used for training")
    test_split: str | None = option("test", "split used for evaluation (None: no evaluation)")
    cache_dir: str | None = option(None, "datasets cache folder (None: the HF default)")
    in_memory: str = option("auto", "decode every image once into one uint8 tensor at the start: yes, no, or auto "
                                    "(when a split's decoded images take at most 4 GiB)",
                            validator=one_of("auto", "yes", "no"), converter=_yes_no)


def _split_files(folder: Path) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    for file in sorted(folder.glob("*.parquet")):
        split = re.split(r"[-_.]", file.stem)[0]
        files.setdefault(split, []).append(str(file))
    return files


def _load(config: HFDatasetConfig):
    import datasets

    path = Path(config.path).expanduser()
    if not config.path:
        raise DatasetError("dataset 'hf' needs a path: --dataset PATH_OR_HUB_NAME")
    if path.is_dir() and _split_files(path):
        return datasets.load_dataset("parquet", data_files=_split_files(path), cache_dir=config.cache_dir)
    if path.is_dir():
        return datasets.load_dataset("imagefolder", data_dir=str(path), cache_dir=config.cache_dir)
    if path.suffix == ".parquet":
        if not path.exists():
            raise FileNotFoundError(f"no parquet file at {path}")
        return datasets.load_dataset("parquet", data_files={"train": str(path)}, cache_dir=config.cache_dir)
    try:
        return datasets.load_dataset(config.path, cache_dir=config.cache_dir)
    except (ConnectionError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise DatasetError(
            f"dataset {config.path!r} is no local file or folder (nothing at {path.absolute()}) and no Hub dataset "
            f"that could be loaded ({' '.join(str(exc).split())}); give a parquet or image folder, a .parquet file "
            "or a Hub name (owner/name)") from None


def _columns(features, config: HFDatasetConfig) -> tuple[str, str | None]:
    import datasets

    image = config.image_column or next(
        (name for name, f in features.items() if isinstance(f, datasets.Image)), None)
    if image is None or image not in features:
        found = f"column {image!r}" if image else "image column"
        raise DatasetError(f"no {found} in {config.path} (columns: {', '.join(features)}); "
                           "set dataset.image_column to the one holding the images")
    label = config.label_column or next(
        (name for name, f in features.items() if isinstance(f, datasets.ClassLabel)),
        next((n for n in ("label", "labels") if n in features), None))
    if label is not None and label not in features:
        raise DatasetError(f"no column {label!r} in {config.path} (columns: {', '.join(features)})")
    return image, label


def load_hf(config: HFDatasetConfig) -> DatasetSplits:
    """Read a dataset with HF ``datasets`` into fixed-size image splits."""
    splits = _load(config)
    if config.train_split not in splits:
        raise DatasetError(f"no split {config.train_split!r} in {config.path} (splits: {', '.join(splits)})")
    train = splits[config.train_split]
    if len(train) == 0:
        raise DatasetError(f"split {config.train_split!r} of {config.path} has no rows")
    image_column, label_column = _columns(train.features, config)
    size = config.image_size or max(_image(train, image_column, 0, config.path).size)
    test = splits[config.test_split] if config.test_split in splits else None
    label_feature = train.features.get(label_column) if label_column else None
    names = list(label_feature.names) if hasattr(label_feature, "names") else None
    num_classes = len(names) if names else (int(max(train[label_column])) + 1 if label_column else None)
    def split(data, name: str) -> ImageDataset:
        return _in_memory(HFImageDataset(data, image_column, label_column, size, config.path), name, config.in_memory)

    return DatasetSplits(
        train=split(train, config.train_split),
        test=split(test, config.test_split) if test is not None else None,
        num_classes=num_classes,
        image_size=size,
        class_names=names,
    )
