"""Mistakes a user can make end in one line, ``Error: ...``, exit status 2 and no traceback.

Each row of CASES is one mistake: an id, the ``ssl`` arguments and a text the message must
contain. ``{tmp}`` in an argument is the folder the files of ``data_dir`` are written to (also
the working directory). To cover another mistake (resume with other options, ``--output-dir``
naming a file, ...), add a row, and the file it needs to ``data_dir``.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")  # before the HF libraries are imported

from ssl_core import Trainer  # noqa: E402
from ssl_core.cli import main  # noqa: E402

#: a tiny run writing into a folder of its own (``{out}``); most cases stop before it trains.
RUN = ["run", "--output-dir", "{out}", "--epochs", "1", "--no-callback", "knn-monitor",
       "--set", "encoder.widths=[8,8,16,16]"]
#: tiny data, for the cases that train.
TINY = ["--batch-size", "8", "--set", "dataset.num_train=40", "--set", "dataset.image_size=16"]
#: resuming the finished 2-epoch run ``{tmp}/done`` for a third epoch.
RESUME = ["run", "--resume", "{tmp}/done", "--epochs", "3"]
#: the HF datasets cache inside the test's folder.
HF = ["--set", "dataset.cache_dir={tmp}/cache"]

CASES = [
    ("set-bad-yaml", [*RUN, "--set", "loss.temperature=[0.1"], "'[0.1' is not valid YAML"),
    ("config-bad-yaml", [*RUN, "--config", "{tmp}/bad.yaml"], "bad.yaml is not valid YAML"),
    ("config-bad-toml", [*RUN, "--config", "{tmp}/bad.toml"], "bad.toml is not valid TOML"),
    ("config-not-a-mapping", [*RUN, "--config", "{tmp}/list.yaml"], "holds a list at the top level"),
    ("dataset-missing-path", [*RUN, "--dataset", "./missing"], "no file or folder at {tmp}/missing"),
    ("dataset-missing-name", [*RUN, "--dataset", "missing", *HF], "'missing' is no local file or folder"),
    ("dataset-empty", [*RUN, "--dataset", ""], "--dataset is empty; valid: registered datasets: hf"),
    ("parquet-without-image-column", [*RUN, "--dataset", "noimage.parquet", *HF], "no image column in {tmp}"),
    ("corrupt-image", [*RUN, "--dataset", "images", *HF], "{tmp}/images/a/0.png (row 0 of"),
    ("corrupt-image-in-a-worker", [*RUN, "--dataset", "images2", *HF, "--batch-size", "2", "--set", "run.num_workers=1",
                                   "--set", "dataset.in_memory=no"],
     "{tmp}/images2/b/1.png (row 3 of"),
    ("seed-negative", [*RUN, "--seed", "-1"], "seed -1 is out of range; valid: 0 to"),
    ("shapes-num-train-below-classes", [*RUN, "--set", "dataset.num_train=9"], "num_train 9 is out of range"),
    ("num-train-not-a-number", [*RUN, "--set", "dataset.num_train=abc"], "num_train must be an integer, got 'abc'"),
    ("epochs-not-a-number", ["run", "--config", "{tmp}/epochs.toml"], "epochs must be an integer, got 'one'"),
    ("batch-size-one", [*RUN, "--batch-size", "1"], "batch_size 1 is out of range (a batch of one has no negatives"),
    ("output-dir-a-file", [*RUN, "--output-dir", "{tmp}/bad.yaml"], "output folder {tmp}/bad.yaml is a file"),
    ("fresh-run-into-a-run-folder", [*RUN, "--output-dir", "{tmp}/done"], "holds a run (config.yaml or checkpoints)"),
    ("resume-other-widths", [*RESUME, "--set", "encoder.widths=[8,8,16,32]"],
     "cannot change on resume: options.encoder.small-resnet.widths: [8, 8, 16, 16] -> [8, 8, 16, 32]"),
    ("resume-added-regularizer", [*RESUME, "--regularizer", "uniformity"],
     "cannot change on resume: regularizer: [] -> ['uniformity']"),
    ("resume-other-optimizer", [*RESUME, "--set", "run.optimizer=adamw"], "optimizer: 'sgd' -> 'adamw'"),
    ("resume-no-epochs-left", ["run", "--resume", "{tmp}/done", "--epochs", "1"],
     "already trained 2 epochs, so epochs 1 leaves nothing to do"),
    ("unknown-tracker", [*RUN, "--log-with", "tensorbord"], "--log-with 'tensorbord': unknown tracker; valid: aim,"),
    ("log-every-steps-zero", [*RUN, "--set", "run.log_every_steps=0"], "'log_every_steps' must be > 0: 0"),
    ("resume-and-overwrite", [*RESUME, "--overwrite"], "--resume continues a run and --overwrite starts it over"),
    ("non-finite-loss", [*RUN, *TINY, "--set", "loss.temperature=1e-30"], "non-finite gradient at step 0 (epoch 1, lr"),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Broken configuration files and datasets, each read by one case."""
    import datasets

    root = tmp_path_factory.mktemp("cli-errors")
    (root / "bad.yaml").write_text("epochs: [1\n")
    (root / "bad.toml").write_text("epochs = \n")
    (root / "list.yaml").write_text("- epochs\n- 1\n")
    (root / "epochs.toml").write_text('epochs = "one"\n')
    datasets.Dataset.from_dict({"x": [1, 2, 3], "label": [0, 1, 0]}).to_parquet(str(root / "noimage.parquet"))
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / "images" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / "images" / cls / f"{i}.png")
    (root / "images" / "a" / "0.png").write_bytes(b"not an image")
    shutil.copytree(root / "images" / "b", root / "images2" / "a")
    shutil.copytree(root / "images" / "b", root / "images2" / "b")
    (root / "images2" / "b" / "1.png").write_bytes(b"not an image")  # decoded in a DataLoader worker
    Trainer({"epochs": 2, "batch_size": 8, "no_callback": ["knn-monitor"], "output_dir": str(root / "done"),
             "options": {"encoder": {"small-resnet": {"widths": [8, 8, 16, 16]}},
                         "dataset": {"shapes": {"num_train": 40, "num_test": 20, "image_size": 16}}}}).fit()
    return root


@pytest.mark.parametrize(("argv", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_user_error_is_one_line_naming_the_bad_value(argv, expected, data_dir, monkeypatch, capsys, request):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.chdir(data_dir)
    out_dir = str(data_dir / "runs" / request.node.callspec.id)  # each case its own run folder
    monkeypatch.setattr(sys, "argv", ["ssl", *(a.replace("{out}", out_dir).replace("{tmp}", str(data_dir)) for a in argv)])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert exited.value.code == 2, err
    assert err.strip().splitlines()[-1].startswith("Error: ")
    assert expected.replace("{tmp}", str(data_dir)) in err.strip().splitlines()[-1]
    assert "Traceback" not in out + err
