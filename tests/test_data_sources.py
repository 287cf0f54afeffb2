"""HF datasets sources on small generated fixtures (the suite never reads shared data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_core.config import dataset_source
from ssl_core.data.sources import HFDatasetConfig, load_hf


def _parquet_folder(root, sizes=(("train", 12), ("test", 6))):
    import datasets

    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    rng = np.random.default_rng(0)
    for split, n in sizes:
        images = [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(n)]
        datasets.Dataset.from_dict({"img": images, "label": [i % 3 for i in range(n)]}, features=features
                                   ).to_parquet(str(root / f"{split}.parquet"))
    return root


def test_parquet_folder_in_the_cifar_form_loads_with_splits_and_labels(tmp_path):
    folder = _parquet_folder(tmp_path)
    data = load_hf(HFDatasetConfig(path=str(folder), cache_dir=str(tmp_path / "cache")))
    assert (len(data.train), len(data.test), data.num_classes, data.image_size) == (12, 6, 3, 8)
    assert data.class_names == ["a", "b", "c"]
    image, index, label = data.train[4]
    assert image.dtype == torch.uint8 and image.shape == (3, 8, 8) and (index, label) == (4, 1)


@pytest.mark.parametrize("image_size", [None, 12])
def test_a_split_decoded_once_holds_the_pixels_decoding_on_access_gives(tmp_path, monkeypatch, image_size):
    from ssl_core.data import sources

    folder = _parquet_folder(tmp_path, sizes=(("train", 1100), ("test", 6)))  # more rows than one chunk
    options = {"path": str(folder), "cache_dir": str(tmp_path / "cache"), "image_size": image_size}
    lazy = load_hf(HFDatasetConfig(**options, in_memory="no"))
    eager = load_hf(HFDatasetConfig(**options))
    assert isinstance(lazy.train, sources.HFImageDataset) and isinstance(eager.train, sources.TensorImageDataset)
    assert torch.equal(eager.train.images, torch.stack([lazy.train[i][0] for i in range(len(lazy.train))]))
    assert torch.equal(eager.train.labels, lazy.train.labels) and eager.train[7][1:] == lazy.train[7][1:]
    monkeypatch.setattr(sources, "IN_MEMORY_LIMIT", 1100 * 3 * 8 * 8 - 1)  # auto: the train split no longer fits
    assert isinstance(load_hf(HFDatasetConfig(path=str(folder), cache_dir=str(tmp_path / "cache"))).train,
                      sources.HFImageDataset)


def test_images_are_resized_to_the_asked_size(tmp_path):
    folder = _parquet_folder(tmp_path)
    data = load_hf(HFDatasetConfig(path=str(folder), image_size=16, cache_dir=str(tmp_path / "cache")))
    assert data.train[0][0].shape == (3, 16, 16)


def test_image_folder_and_missing_test_split(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (10, 10), (i * 40, 0, 0)).save(tmp_path / "imgs" / cls / f"{i}.png")
    data = load_hf(HFDatasetConfig(path=str(tmp_path / "imgs"), cache_dir=str(tmp_path / "cache")))
    assert len(data.train) == 6 and data.test is None and data.num_classes == 2


def test_unknown_dataset_names_go_to_hf_and_bad_splits_are_named(tmp_path):
    assert dataset_source("shapes") == ("shapes", {})
    assert dataset_source("some/hub-name") == ("hf", {"path": "some/hub-name"})
    folder = _parquet_folder(tmp_path)
    with pytest.raises(ValueError, match="no split 'training'.*splits: test, train|no split 'training'.*train, test"):
        load_hf(HFDatasetConfig(path=str(folder), train_split="training", cache_dir=str(tmp_path / "cache")))


def test_paths_and_hub_names_are_told_apart(tmp_path, monkeypatch):
    from ssl_core.config import ConfigError
    from ssl_core.data.sources import local_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cifar").mkdir()
    assert local_path("cifar") == tmp_path / "cifar"  # it exists
    assert [local_path(name) for name in ("./missing", "a/b/c", "x.parquet")] == [
        tmp_path / "missing", tmp_path / "a/b/c", tmp_path / "x.parquet"]
    assert local_path("owner/name") is local_path("name") is local_path("") is None
    with pytest.raises(ConfigError, match="no file or folder at .*missing"):
        dataset_source("./missing")


def test_unreadable_data_is_a_dataset_error_naming_the_file(tmp_path):
    from ssl_core.errors import USER_ERRORS, DatasetError

    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    (tmp_path / "imgs" / "b" / "1.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="b/1.png .*cannot be decoded"):  # decoded once, at load
        load_hf(HFDatasetConfig(path=str(tmp_path / "imgs"), cache_dir=str(tmp_path / "cache")))
    data = load_hf(HFDatasetConfig(path=str(tmp_path / "imgs"), cache_dir=str(tmp_path / "cache"), in_memory="no"))
    with pytest.raises(DatasetError, match="b/1.png .*cannot be decoded"):  # decoded on access
        [data.train[i] for i in range(len(data.train))]
    with pytest.raises(DatasetError, match="'no-such-name' is no local file or folder.*Hub") as raised:
        load_hf(HFDatasetConfig(path="no-such-name", cache_dir=str(tmp_path / "cache")))
    assert isinstance(raised.value, USER_ERRORS)
