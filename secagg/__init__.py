"""secagg: secure aggregation for federated learning.

The server learns sum(x_u) over the clients that finished, and nothing else about any one of
them (Bonawitz et al., CCS 2017; SecAgg+ sparse graphs, Bell et al., CCS 2020). Start with
:func:`simulate_round` (integer vectors in Z_{2^b}) or :func:`aggregate_updates` (float model
updates); :class:`Client` and :class:`Server` are the sans-I/O state machines a transport
drives, configured by a :class:`RoundConfig`.
"""

from secagg.config import PROTOCOL_VERSION, RoundConfig, Security
from secagg.core.client import Client, ClientPhase
from secagg.core.server import Aggregate, Drop, Server, ServerPhase
from secagg.crypto.sign import Roster, RosterError, SigningKey
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
from secagg.params import secaggplus_parameters
from secagg.runtime.inputs import LazyInputs
from secagg.runtime.simulate import (
    ROUNDS,
    Costs,
    RoundCost,
    RoundResult,
    rounds,
    simulate_round,
)
from secagg.runtime.updates import UpdateRoundResult, aggregate_updates

__version__ = "0.2.0"

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
    "LazyInputs",
    "ProtocolAbort",
    "QuantizationConfig",
    "Roster",
    "RosterError",
    "RoundConfig",
    "RoundCost",
    "RoundResult",
    "SecAggError",
    "Security",
    "Server",
    "ServerPhase",
    "SigningKey",
    "StateError",
    "UpdateRoundResult",
    "aggregate_updates",
    "dequantize_sum",
    "quantize",
    "rounds",
    "secaggplus_parameters",
    "simulate_round",
]
