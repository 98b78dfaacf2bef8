"""secagg for Flower (``pip install "secagg[flower]"``, flwr 1.42.0).

Drop-in replacements for Flower's SecAgg+ that run this library's protocol (version 2:
SecAgg+ sparse graphs, optionally the malicious mode):

* ServerApp, legacy path: ``DefaultWorkflow(fit_workflow=SecAggWorkflow(num_shares,
  reconstruction_threshold, ...))`` instead of ``SecAggPlusWorkflow(...)``;
* ServerApp, Message API: :class:`SecAggFedAvg` in place of ``flwr.serverapp.strategy.FedAvg``;
* ClientApp: ``mods=[secagg_mod]`` instead of ``mods=[secaggplus_mod]``
  (:func:`make_secagg_mod` for a node policy given in code rather than in the node config).

Key files for the malicious mode: ``python -m secagg.integrations.flower.keys OUT_DIR N``
(:func:`make_keys`). See ``docs/flower.md``.
"""

from secagg.integrations.flower.driver import NodeDrop, RoundReport, StageReport
from secagg.integrations.flower.keys import load_signing_key, make_keys, write_signing_key
from secagg.integrations.flower.mod import make_secagg_mod, secagg_mod
from secagg.integrations.flower.settings import WeakThresholdError
from secagg.integrations.flower.strategy import SecAggFedAvg
from secagg.integrations.flower.workflow import SecAggWorkflow

__all__ = [
    "NodeDrop",
    "RoundReport",
    "SecAggFedAvg",
    "SecAggWorkflow",
    "StageReport",
    "WeakThresholdError",
    "load_signing_key",
    "make_keys",
    "make_secagg_mod",
    "secagg_mod",
    "write_signing_key",
]
