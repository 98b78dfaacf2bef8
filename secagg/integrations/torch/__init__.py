"""PyTorch bridge (extra ``secagg[torch]``): flatten model updates, weighted FedAvg and
distributed DP through the secure sum, and a small federated-training loop.

:mod:`.fedavg` is numpy-only; :mod:`.flatten` and :mod:`.training` import torch.
"""

from secagg.integrations.torch.fedavg import (
    DistributedDp,
    FedAvgResult,
    WeightedFixedPoint,
    plaintext_fedavg,
    secure_fedavg,
)
from secagg.integrations.torch.flatten import (
    IntegerPolicy,
    Layout,
    apply_delta,
    flatten,
    state_delta,
    unflatten,
    unflatten_parameters,
)

__all__ = [
    "DistributedDp",
    "FedAvgResult",
    "IntegerPolicy",
    "Layout",
    "WeightedFixedPoint",
    "apply_delta",
    "flatten",
    "plaintext_fedavg",
    "secure_fedavg",
    "state_delta",
    "unflatten",
    "unflatten_parameters",
]
