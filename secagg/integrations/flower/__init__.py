"""secagg for Flower (``pip install "secagg[flower]"``, flwr 1.42.0).

Drop-in replacements for Flower's SecAgg+ that run this library's protocol:

* ServerApp, legacy path: ``DefaultWorkflow(fit_workflow=SecAggWorkflow(num_shares,
  reconstruction_threshold, ...))`` instead of ``SecAggPlusWorkflow(...)``;
* ServerApp, Message API: :class:`SecAggFedAvg` in place of ``flwr.serverapp.strategy.FedAvg``;
* ClientApp: ``mods=[secagg_mod]`` instead of ``mods=[secaggplus_mod]``.

See ``docs/flower.md``.
"""

from secagg.integrations.flower.driver import NodeDrop, RoundReport, StageReport
from secagg.integrations.flower.mod import secagg_mod
from secagg.integrations.flower.workflow import SecAggWorkflow

__all__ = [
    "NodeDrop",
    "RoundReport",
    "SecAggWorkflow",
    "StageReport",
    "secagg_mod",
]
