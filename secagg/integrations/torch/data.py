"""The demo dataset and how it is dealt to clients.

scikit-learn's handwritten digits (1,797 8x8 images, 10 classes) ship inside the package, so
training runs offline. Clients get an IID share or a non-IID one drawn from a Dirichlet(alpha)
distribution per class (Hsu, Qi, Brown 2019): small alpha gives each client few classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from secagg.errors import ConfigError

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Dataset:
    """Features in [0, 1] (float32) and integer labels, split into train and test."""

    x_train: npt.NDArray[np.float32]
    y_train: IntArray
    x_test: npt.NDArray[np.float32]
    y_test: IntArray

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def digits(seed: int, test_fraction: float = 0.2) -> Dataset:
    """The digits, stratified into train and test by ``seed``."""
    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset(x_train, y_train, x_test, y_test)


def partition_iid(count: int, clients: int, rng: np.random.Generator) -> list[IntArray]:
    """A random permutation of ``count`` examples cut into ``clients`` near-equal parts."""
    if not 1 <= clients <= count:
        raise ConfigError(f"cannot deal {count} examples to {clients} clients")
    return [np.sort(part) for part in np.array_split(rng.permutation(count), clients)]


def partition_dirichlet(
    labels: IntArray, clients: int, alpha: float, rng: np.random.Generator
) -> list[IntArray]:
    """Per class, proportions q ~ Dirichlet(alpha, ..., alpha) over the clients; each class's
    examples are dealt in those proportions. Redrawn (at most 100 times) until every client has
    at least one example."""
    if not 1 <= clients <= labels.shape[0]:
        raise ConfigError(f"cannot deal {labels.shape[0]} examples to {clients} clients")
    if not alpha > 0:
        raise ConfigError(f"alpha must be positive, got {alpha!r}")
    classes = int(labels.max()) + 1
    for _ in range(100):
        parts: list[list[int]] = [[] for _ in range(clients)]
        for k in range(classes):
            members = rng.permutation(np.flatnonzero(labels == k))
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * members.shape[0]).astype(np.int64)
            for u, piece in enumerate(np.split(members, cuts)):
                parts[u].extend(piece.tolist())
        if all(parts):
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise ConfigError(
        f"Dirichlet alpha {alpha} with {clients} clients leaves some client without data in "
        "100 draws; use a larger alpha or fewer clients"
    )
