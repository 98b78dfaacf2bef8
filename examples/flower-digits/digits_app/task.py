"""Model, data and training for the digits app (PyTorch on CPU, data shipped with scikit-learn)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

TEST_FRACTION = 0.2


class Net(nn.Module):
    """64 -> 32 -> 10 MLP (2,410 parameters), plus optional padding for large-model runs."""

    def __init__(self, padding: int = 0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)
        # Never touches the output (zero gradient), so it only makes messages bigger:
        # padding=10_000_000 gives a 10 M-parameter model.
        self.pad = nn.Parameter(torch.zeros(padding)) if padding else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def new_model(seed: int, padding: int = 0) -> Net:
    torch.manual_seed(seed)
    return Net(padding)


def get_weights(model: Net) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in model.parameters()]


def set_weights(model: Net, weights: list[np.ndarray]) -> None:
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights, strict=True):
            p.copy_(torch.from_numpy(np.asarray(w, dtype=np.float32)))


def _split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * (1 - TEST_FRACTION))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def load_partition(
    partition_id: int, num_partitions: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """This node's share of the training split (the same seed gives every node the same split)."""
    x, y, _, _ = _split(seed)
    return x[partition_id::num_partitions], y[partition_id::num_partitions]


def load_test(seed: int) -> tuple[np.ndarray, np.ndarray]:
    _, _, x, y = _split(seed)
    return x, y


def train(
    model: Net, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int, seed: int
) -> float:
    """Plain SGD; deterministic for a given seed. Returns the mean training loss."""
    torch.manual_seed(seed)
    data, target = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    total, batches = 0.0, 0
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(target))
        for start in range(0, len(target), batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(data[idx]), target[idx])
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
    return total / max(batches, 1)


def evaluate(model: Net, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy)."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
        loss = float(nn.CrossEntropyLoss()(logits, torch.from_numpy(y)))
        accuracy = float((logits.argmax(1).numpy() == y).mean())
    return loss, accuracy
