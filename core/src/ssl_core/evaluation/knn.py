"""Weighted k-nearest-neighbour classification on features (the monitor of SSL runs)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_predict(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> torch.Tensor:
    """Predicted classes of ``queries`` by weighted votes of their ``k`` nearest bank features.

    Similarity s is cosine; each of the ``k`` neighbours votes for its label with weight
    exp(s / T), and the class with the largest total wins (Wu et al., 2018).
    """
    bank = F.normalize(bank.float(), dim=1)
    k = min(k, bank.shape[0])
    predictions = []
    for start in range(0, queries.shape[0], chunk):
        q = F.normalize(queries[start : start + chunk].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], num_classes, dtype=sim.dtype, device=sim.device)
        votes.scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


def knn_accuracy(bank, bank_labels, queries, query_labels, num_classes, k=200, temperature=0.1) -> float:
    """Top-1 accuracy of ``knn_predict`` on labelled queries."""
    predicted = knn_predict(bank, bank_labels, queries, num_classes, k, temperature)
    return (predicted == query_labels).float().mean().item()
