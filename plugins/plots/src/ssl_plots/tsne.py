"""The 2-D t-SNE map of test-set features, untrained and trained encoder side by side."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from sklearn.manifold import TSNE
from ssl_core import NO_LABEL, EvalRun, ImageDataset

from ssl_plots.figures import new_figure

#: the seed of the sample of images and of t-SNE.
SEED = 0
#: at most this many classes get a legend entry.
LEGEND_CLASSES = 20


class Sample(ImageDataset):
    """The images ``indices`` of ``base``."""

    def __init__(self, base: ImageDataset, indices: np.ndarray) -> None:
        self.base, self.indices = base, indices
        self.image_size = base.image_size
        self.labels = None if base.labels is None else base.labels[torch.from_numpy(indices)]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        image, _, label = self.base[int(self.indices[index])]
        return image, index, label


def sample(dataset: ImageDataset, points: int) -> Sample:
    """At most ``points`` images of ``dataset``, drawn without replacement under ``SEED``, in index order."""
    count = min(points, len(dataset))
    return Sample(dataset, np.sort(np.random.default_rng(SEED).choice(len(dataset), count, replace=False)))


def embed(features: torch.Tensor) -> np.ndarray:
    """2-D t-SNE (scikit-learn, PCA start, fixed seed) of L2-normalised features, the k-NN geometry."""
    x = torch.nn.functional.normalize(features.double(), dim=1).numpy()
    perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=SEED).fit_transform(x)


def encoded_maps(run: EvalRun, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """``(untrained map, trained map, labels or None, images)`` of a sample of the test split (the
    training split when there is none)."""
    data = sample(run.data.test if run.data.test is not None else run.data.train, points)
    untrained, labels = run.encode(data, untrained=True)
    trained, _ = run.encode(data)
    known = labels.numpy() if bool((labels != NO_LABEL).all()) else None
    return embed(untrained), embed(trained), known, len(data)


def tsne_figure(untrained: np.ndarray, trained: np.ndarray, labels: np.ndarray | None,
                class_names: list[str] | None, title: str) -> Figure:
    """Two scatter maps; one collection per class (in class order), or one grey collection without labels."""
    figure = new_figure(13, 6.2)
    panels = figure.subplots(1, 2)
    classes = [] if labels is None else sorted(set(labels.tolist()))
    names = class_names or [str(c) for c in range(max(classes, default=-1) + 1)]
    colors = colormaps["tab10" if len(names) <= 10 else "tab20" if len(names) <= 20 else "turbo"]
    for axes, points, name in ((panels[0], untrained, "untrained encoder"), (panels[1], trained, "trained encoder")):
        if labels is None:
            axes.scatter(points[:, 0], points[:, 1], s=6, color="0.35", alpha=0.7)
        for c in classes:
            chosen = labels == c
            axes.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.8, label=names[c],
                         color=colors(c if len(names) <= 20 else c / max(len(names) - 1, 1)))
        axes.set(title=name, xlabel="t-SNE 1 (no unit)", ylabel="t-SNE 2 (no unit)", xticks=[], yticks=[])
    if classes and len(classes) <= LEGEND_CLASSES:
        figure.legend(*panels[1].get_legend_handles_labels(), loc="outside right center", title="class",
                      markerscale=2.5)
    figure.suptitle(title if labels is not None else f"{title}: no labels, so one colour")
    return figure
