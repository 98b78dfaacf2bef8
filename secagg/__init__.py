"""secagg: secure aggregation for federated learning.

The server learns sum(x_u) over the clients that finished, and nothing else about any one of
them (Bonawitz et al., CCS 2017). Start with :func:`simulate_round` (integer vectors in Z_{2^b})
or :func:`aggregate_updates` (float model updates); :class:`Client` and :class:`Server` are the
sans-I/O state machines a transport drives.
"""

from secagg.config import PROTOCOL_VERSION, RoundConfig
from secagg.core.client import Client, ClientPhase
from secagg.core.server import Aggregate, Drop, Server, ServerPhase
from secagg.encoding.quantize import QuantizationConfig, dequantize_sum, quantize
from secagg.errors import (
    AbortReason,
    ClientAbort,
    ConfigError,
    DecodeError,
    DropReason,
    ProtocolAbort,
    SecAggError,
    StateError,
)
from secagg.runtime.simulate import ROUNDS, Costs, RoundCost, RoundResult, simulate_round
from secagg.runtime.updates import UpdateRoundResult, aggregate_updates

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_VERSION",
    "ROUNDS",
    "AbortReason",
    "Aggregate",
    "Client",
    "ClientAbort",
    "ClientPhase",
    "ConfigError",
    "Costs",
    "DecodeError",
    "Drop",
    "DropReason",
    "ProtocolAbort",
    "QuantizationConfig",
    "RoundConfig",
    "RoundCost",
    "RoundResult",
    "SecAggError",
    "Server",
    "ServerPhase",
    "StateError",
    "UpdateRoundResult",
    "aggregate_updates",
    "dequantize_sum",
    "quantize",
    "simulate_round",
]
