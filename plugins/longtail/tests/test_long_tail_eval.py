"""The long-tail protocol of ssl eval: group metrics, the table, the JSON, balanced twins."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from ssl_core import EvalError
from ssl_core.evaluation.protocols import evaluate_run
from ssl_longtail import class_counts, class_groups, group_accuracies

pytestmark = pytest.mark.usefixtures("one_thread")


def test_groups_and_std_against_a_hand_example():
    per_class = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    counts = [4500, 2697, 1617, 969, 581, 348, 208, 125, 75, 45]
    result = group_accuracies(per_class, counts)
    # Many = classes 0-3, Medium = 4-6, Few = 7-9 (4 / 3 / 3)
    assert result["many"] == pytest.approx((0.9 + 0.8 + 0.7 + 0.6) / 4)  # 0.75
    assert result["medium"] == pytest.approx((0.5 + 0.4 + 0.3) / 3)  # 0.4
    assert result["few"] == pytest.approx((0.2 + 0.1 + 0.0) / 3)  # 0.1
    assert result["all"] == pytest.approx(0.45)
    mean = (0.75 + 0.4 + 0.1) / 3
    by_hand = (((0.75 - mean) ** 2 + (0.4 - mean) ** 2 + (0.1 - mean) ** 2) / 3) ** 0.5  # ddof 0
    assert result["std"] == pytest.approx(by_hand) and result["std"] == pytest.approx(0.2656229)


def test_groups_follow_the_counts_not_the_class_index_and_ties_go_by_index():
    counts = [10, 500, 40, 40, 300, 40, 7, 90, 200, 1000]
    assert class_groups(counts) == {"many": [1, 4, 8, 9], "medium": [2, 3, 7], "few": [0, 5, 6]}
    assert class_groups([5] * 10) == {"many": [0, 1, 2, 3], "medium": [4, 5, 6], "few": [7, 8, 9]}
    assert class_groups([3, 9, 1, 4, 4]) == {"many": [1, 3, 4], "medium": [0], "few": [2]}
    two = group_accuracies([1.0, 0.5], [10, 5])
    assert (two["many"], two["medium"], two["few"], two["std"]) == (0.75, None, None, None)



TINY_LT = class_counts(45, 10, 10.0)  # 500 shapes images: pools of 45 per class, 5 validation


@pytest.fixture(scope="module")
def lt_run(tmp_path_factory):
    """One epoch of SimCLR on 500 tiny shapes images reduced to the long-tailed subset R = 10."""
    from ssl_core.cli import cli

    out = tmp_path_factory.mktemp("eval") / "run"
    result = CliRunner().invoke(cli, [
        "run", "--branch", "simclr", "--epochs", "1", "--batch-size", "32", "--output-dir", str(out),
        "--imbalance", "10", "--split-seed", "1", "--no-callback", "knn-monitor",
        "--set", "encoder.widths=[8, 8, 16, 16]", "--set", "dataset.num_train=500", "--set", "dataset.num_test=40",
        "--set", "dataset.image_size=16",
    ])
    assert result.exit_code == 0, result.output
    return out


def test_ssl_eval_long_tail_prints_the_groups_and_writes_json(lt_run):
    protocol, rows, train_images = "long-tail", ["full-shot", "few-shot"], [450, 10]
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["eval", str(lt_run), "--protocol", protocol, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header == ["protocol", "train", "images", "selection", "val", "top-1", "top-1", "All", "Many", "Medium",
                      "Few", "Std"]
    table = result.output.splitlines()[2: 2 + len(rows)]
    assert [line.split()[0] for line in table] == rows
    written = json.loads((lt_run / f"eval-{protocol}.json").read_text())
    counts = json.loads((lt_run / "class_counts.json").read_text())
    assert counts["counts"] == counts["long_tail_counts"] == TINY_LT and counts["split_seed"] == 1
    assert written["group_counts"] == TINY_LT and written["trained_on"] == "long-tail"
    assert written["groups"] == {"many": [0, 1, 2, 3], "medium": [4, 5, 6], "few": [7, 8, 9]}
    assert (written["pool_size"], written["validation_size"], written["test_size"]) == (450, 50, 40)
    assert list(written["rows"]) == rows
    for name, images, line in zip(rows, train_images, table):
        row = written["rows"][name]
        per_class = np.array(row["per_class"])
        assert row["train_images"] == images and len(per_class) == 10
        assert row["all"] == pytest.approx(per_class.mean())
        assert row["many"] == pytest.approx(per_class[:4].mean()) and row["few"] == pytest.approx(per_class[7:].mean())
        assert row["std"] == pytest.approx(np.std([row["many"], row["medium"], row["few"]]))
        assert line.split()[-5:] == [f"{100 * row[k]:.2f}" for k in ("all", "many", "medium", "few", "std")]
        assert row["top1"] == pytest.approx(row["all"])  # 4 test images per class
        if name != "knn":
            assert row["selection"] == f"weight decay {float(row['selection'].split()[-1]):g}"
            assert row["validation_top1"] == max(row["validation_top1_by_weight_decay"].values())


def test_a_balanced_twin_run_is_grouped_by_the_long_tailed_counts(lt_run, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(lt_run, twin)
    config = (twin / "config.yaml").read_text().replace("balanced_twin: false", "balanced_twin: true")
    (twin / "config.yaml").write_text(config)
    with pytest.raises(EvalError, match="class_counts.json differ"):  # the counts file says long-tail
        evaluate_run(twin, "long-tail", "cpu")
    (twin / "class_counts.json").unlink()
    result = evaluate_run(twin, "long-tail", "cpu")
    assert result["trained_on"] == "balanced" and result["group_counts"] == TINY_LT


def test_a_run_folder_written_by_ssl_core_0_1_still_evaluates(lt_run, tmp_path):
    import yaml

    old = tmp_path / "old"
    shutil.copytree(lt_run, old)
    config = yaml.safe_load((old / "config.yaml").read_text())
    long_tail = config["options"]["dataset"].pop("long-tail")
    config.update(dataset=long_tail["source"], imbalance=long_tail["imbalance"], split_seed=long_tail["split_seed"],
                  balanced_twin=long_tail["balanced_twin"], callback=["knn-monitor", "checkpoint"])
    config["options"]["dataset"] = {long_tail["source"]: long_tail["source_options"]}
    config["options"]["callback"] = {"checkpoint": {"every": 1, "keep": 2}}
    del config["no_callback"], config["checkpoint_every"], config["keep_checkpoints"]
    (old / "config.yaml").write_text(yaml.safe_dump(config))  # 0.1's fields: imbalance as a run field
    result = evaluate_run(old, "long-tail", "cpu")
    new = evaluate_run(lt_run, "long-tail", "cpu")
    assert result["group_counts"] == new["group_counts"] == TINY_LT and result["trained_on"] == "long-tail"
    assert result["rows"]["full-shot"]["per_class"] == new["rows"]["full-shot"]["per_class"]
