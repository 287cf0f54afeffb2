"""Long-tailed training subsets (ssl_core.data.long_tail), the run fields and class_counts.json."""

from __future__ import annotations

import json

import attrs
import numpy as np
import pytest
import torch

from ssl_core import ComponentOptionError, ConfigError
from ssl_core.config import resolve
from ssl_longtail import (
    SubsetImageDataset,
    class_counts,
    long_tail_split,
    training_subset,
)
from ssl_core import DatasetSplits, ImageDataset, TensorImageDataset
from ssl_core.run_folder import STATE_META, RunFolder
from ssl_core.training.trainer import Trainer

CIFAR10_LT_COUNTS = [4500, 2697, 1617, 969, 581, 348, 208, 125, 75, 45]


@pytest.fixture(scope="module")
def cifar_labels() -> np.ndarray:
    """Labels shaped like CIFAR-10's training split: 50,000 images, 5,000 per class, shuffled."""
    labels = np.repeat(np.arange(10), 5000)
    np.random.default_rng(7).shuffle(labels)
    return labels


def _per_class(labels: np.ndarray, index: np.ndarray) -> list[int]:
    return np.bincount(labels[index], minlength=10).tolist()


def test_cifar10_lt_counts_are_exact(cifar_labels):
    split = long_tail_split(cifar_labels, 10, 100.0, seed=0)
    assert split.long_tail_counts == CIFAR10_LT_COUNTS
    assert _per_class(cifar_labels, split.long_tail) == CIFAR10_LT_COUNTS
    assert len(split.long_tail) == 11165
    assert _per_class(cifar_labels, split.pool) == [4500] * 10 and len(split.pool) == 45000
    assert _per_class(cifar_labels, split.validation) == [500] * 10 and len(split.validation) == 5000
    assert _per_class(cifar_labels, split.balanced) == [1116] * 10 and len(split.balanced) == 11160
    assert _per_class(cifar_labels, split.few_shot) == [45] * 10 and len(split.few_shot) == 450


def test_subsets_nest_inside_the_pool_and_few_shot_inside_both(cifar_labels):
    split = long_tail_split(cifar_labels, 10, 100.0, seed=3)
    pool, lt, twin, few = (set(a.tolist()) for a in (split.pool, split.long_tail, split.balanced, split.few_shot))
    assert few <= lt and few <= twin
    assert lt <= pool and twin <= pool
    assert not pool & set(split.validation.tolist())
    assert len(pool) + len(split.validation) == len(cifar_labels)
    for index in (split.pool, split.long_tail, split.balanced, split.few_shot):
        assert len(set(index.tolist())) == len(index)  # no image drawn twice


def test_split_seeds_draw_other_images_with_the_same_counts_and_validation(cifar_labels):
    a, b = long_tail_split(cifar_labels, 10, 100.0, seed=0), long_tail_split(cifar_labels, 10, 100.0, seed=1)
    again = long_tail_split(cifar_labels, 10, 100.0, seed=0)
    for name in ("long_tail", "balanced", "few_shot"):
        assert not np.array_equal(getattr(a, name), getattr(b, name)), name
        assert np.array_equal(getattr(a, name), getattr(again, name)), name
        assert _per_class(cifar_labels, getattr(a, name)) == _per_class(cifar_labels, getattr(b, name))
    # the pool / validation division is one draw for every seed (as the paper's fixed 45k / 5k lists)
    assert np.array_equal(a.validation, b.validation) and np.array_equal(a.pool, b.pool)


def test_the_general_rule_on_unequal_classes():
    labels = np.repeat(np.arange(3), [100, 50, 30])
    split = long_tail_split(labels, 3, 4.0, seed=0)
    assert np.bincount(labels[split.pool]).tolist() == [90, 45, 27]  # floor(9 n_c / 10)
    assert np.bincount(labels[split.validation]).tolist() == [10, 5, 3]
    # n_max = the smallest pool (27): floor(27 * 4^(-k/2)) = 27, 13, 6 (class index order)
    assert split.long_tail_counts == [27, 13, 6]
    assert np.bincount(labels[split.balanced]).tolist() == [15] * 3  # floor(46 / 3)
    assert np.bincount(labels[split.few_shot]).tolist() == [1] * 3  # max(1, floor(27 / 100))


def test_exponential_profile_and_its_edges():
    assert class_counts(4500, 10, 100.0) == CIFAR10_LT_COUNTS
    assert class_counts(450, 100, 100.0)[-1] == 4 and class_counts(450, 100, 100.0)[0] == 450
    assert class_counts(7, 1, 50.0) == [7]


def test_split_errors_name_the_problem():
    labels = np.repeat(np.arange(10), 50)  # pool of 45 per class
    with pytest.raises(ValueError, match=r"imbalance 100 leaves class\(es\) \[8, 9\] with no image.*at most 45"):
        long_tail_split(labels, 10, 100.0)
    with pytest.raises(ValueError, match="class 2 has 1 labelled images"):
        long_tail_split(np.array([0, 0, 1, 1, 2]), 3, 2.0)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        long_tail_split(np.array([0, 1, 5]), 3, 2.0)


def _tensor_splits(labels: np.ndarray) -> DatasetSplits:
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).contiguous()
    train = TensorImageDataset(images, torch.from_numpy(labels))
    return DatasetSplits(train=train, test=None, num_classes=10, image_size=2)


def test_training_subset_renumbers_samples_and_records_the_counts():
    labels = np.repeat(np.arange(10), 20)  # pools of 18
    data = _tensor_splits(labels)
    lt, record = training_subset(data, 10.0, split_seed=2)
    expected = class_counts(18, 10, 10.0)
    assert record["counts"] == record["long_tail_counts"] == expected
    assert (record["subset"], record["total"], record["imbalance"], record["split_seed"]) == (
        "long-tail", sum(expected), 10.0, 2)
    assert (record["pool_size"], record["validation_size"], record["few_shot_per_class"]) == (180, 20, 1)
    assert isinstance(lt.train, TensorImageDataset) and len(lt.train) == sum(expected)  # still indexable on device
    originals = [int(lt.train[i][0][0, 0, 0]) for i in range(len(lt.train))]  # a pixel holds the original index
    assert len(set(originals)) == len(originals)
    for i, original in enumerate(originals):
        _, index, label = lt.train[i]
        assert index == i and label == labels[original]
    assert lt.train.labels.tolist() == labels[originals].tolist()
    _, twin_record = training_subset(data, 10.0, split_seed=2, balanced_twin=True)
    assert twin_record["counts"] == [sum(expected) // 10] * 10 and twin_record["subset"] == "balanced"
    assert twin_record["long_tail_counts"] == expected


def test_the_subset_of_a_split_read_on_access_reads_through_it():
    labels = np.repeat(np.arange(10), 20)
    data = _tensor_splits(labels)

    class OnAccess(ImageDataset):
        def __init__(self, base):
            self.base, self.labels, self.image_size = base, base.labels, base.image_size

        def __len__(self):
            return len(self.base)

        def __getitem__(self, index):
            return self.base[index]

    lt, record = training_subset(attrs.evolve(data, train=OnAccess(data.train)), 10.0, split_seed=2)
    assert isinstance(lt.train, SubsetImageDataset) and len(lt.train) == record["total"]
    for i in range(len(lt.train)):
        image, index, label = lt.train[i]
        original = int(lt.train.indices[i])
        assert index == i and label == labels[original] and int(image[0, 0, 0]) == original % 256


def test_imbalance_on_unlabelled_data_is_an_error():
    data = _tensor_splits(np.zeros(4, dtype=np.int64))
    data.train.labels = None
    with pytest.raises(ValueError, match="needs a labelled training split"):
        training_subset(data, 10.0)


def test_the_imbalance_flags_are_shortcuts_for_the_long_tail_dataset():
    config = resolve({"imbalance": 100, "split_seed": 3, "balanced_twin": True}, ["dataset.num_train=500"])
    assert config.dataset == "long-tail"
    options = config.options["dataset"]["long-tail"]
    assert (options.source, options.imbalance, options.split_seed, options.balanced_twin) == ("shapes", 100.0, 3, True)
    assert options.source_options == {"num_train": 500}  # the source's own options move under it
    assert resolve({"imbalance": 1}).dataset == "shapes" and resolve({}).dataset == "shapes"
    spelled_out = resolve({"dataset": "long-tail", "options": {"dataset": {"long-tail": {
        "source": "shapes", "source_options": {"num_train": 500}, "imbalance": 100, "split_seed": 3,
        "balanced_twin": True}}}})
    assert spelled_out.options["dataset"] == config.options["dataset"]


def test_long_tail_options_are_validated_with_clear_errors():
    with pytest.raises(ComponentOptionError, match="imbalance.*must be > 1.0.*0.5"):
        resolve({"imbalance": 0.5})
    with pytest.raises(ComponentOptionError, match="could not convert.*'many'"):
        resolve({"imbalance": "many"})
    with pytest.raises(ConfigError, match="balanced_twin needs an imbalance R > 1"):
        resolve({"balanced_twin": True})
    with pytest.raises(ComponentOptionError, match="split_seed"):
        resolve({"imbalance": 10, "split_seed": -1})
    with pytest.raises(ConfigError, match=r"imbalance is given twice \(100 and dataset.imbalance=10\)"):
        resolve({"imbalance": 100}, ["dataset.imbalance=10"])


def test_a_dataset_without_an_imbalance_option_takes_it_as_the_same_shortcut():
    """One way to an imbalanced shapes run: ``--set dataset.imbalance=R`` is ``--imbalance R``."""
    flags = resolve({"imbalance": 100, "split_seed": 2}, ["dataset.num_train=500"])
    options = resolve({}, ["dataset.num_train=500", "dataset.imbalance=100", "dataset.split_seed=2"])
    assert (options.dataset, options.options["dataset"]) == (flags.dataset, flags.options["dataset"])
    assert resolve({}, ["dataset.imbalance=1"]).options["dataset"]["shapes"].num_train == 5000
    long_tail = resolve({"dataset": "long-tail"}, ["dataset.imbalance=7"])  # its own option stays its own
    assert long_tail.options["dataset"]["long-tail"].imbalance == 7.0


def test_a_run_trains_on_the_subset_and_writes_class_counts(tiny_run):
    tiny_run["options"]["dataset"]["shapes"]["num_train"] = 200  # 20 per class: pools of 18
    tiny_run["no_callback"] = ["knn-monitor"]
    result = Trainer({**tiny_run, "imbalance": 10.0, "split_seed": 1, "balanced_twin": True, "batch_size": 16}).fit()
    record = json.loads((result.output_dir / "class_counts.json").read_text())
    lt = class_counts(18, 10, 10.0)
    twin = sum(lt) // 10 * 10
    assert record["long_tail_counts"] == lt and record["counts"] == [twin // 10] * 10 and record["total"] == twin
    assert record["validation_size"] == 20 and record["class_names"][0] == "circle"
    state = json.loads((RunFolder(result.output_dir).latest_checkpoint() / STATE_META).read_text())
    assert state["global_step"] == twin // 16  # one epoch over the balanced twin, not the 200 images


def test_a_local_source_is_stored_absolute(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    config = resolve({"dataset": "long-tail"}, ["dataset.source=./data", "dataset.imbalance=10"])
    assert config.options["dataset"]["long-tail"].source == str(tmp_path / "data")
    assert resolve({"dataset": "long-tail"}).options["dataset"]["long-tail"].source == "shapes"
