"""How secagg's wire messages ride inside Flower messages.

Every protocol message travels in a Flower ``Message`` of type TRAIN whose ``RecordDict`` has

* ``ConfigRecord "secagg"``: ``version``, ``nonce`` (the session nonce), ``step`` (0 for the
  first message of a session, then one more per prompt) and, server to client at step 0, the
  session parameters and the float encoding; client to server, ``status`` ("ok" or
  "refused") and, when refused, the ``reason`` code's name;
* ``ArrayRecord "secagg.payload"`` with one ``Array "bytes"`` whose ``data`` is the secagg
  message, byte for byte (``protocol/SPEC.md``). An ``Array`` rather than a ``bytes`` config
  value because Flower streams arrays in chunks (5 MiB), so a masked input of any model size
  stays under gRPC's per-message limit.

Everything read from a received message is untrusted: the readers check every type and return
``None`` (or raise :class:`RecordError`) instead of trusting a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

FORMAT_VERSION = 1
CONFIG_KEY = "secagg"
PAYLOAD_KEY = "secagg.payload"
PAYLOAD_ARRAY = "bytes"
PAYLOAD_STYPE = "secagg.bytes"
STATUS_OK = "ok"
STATUS_REFUSED = "refused"


class RecordError(ValueError):
    """A Flower message that does not carry a well-formed secagg record."""


@dataclass(frozen=True, slots=True)
class Header:
    """The fields common to every secagg Flower message."""

    nonce: bytes
    step: int


def payload_record(payload: bytes) -> ArrayRecord:
    """An ``ArrayRecord`` carrying ``payload`` as raw bytes (no numpy parsing on receipt)."""
    record = ArrayRecord()
    record[PAYLOAD_ARRAY] = Array(
        dtype="uint8", shape=(len(payload),), stype=PAYLOAD_STYPE, data=payload
    )
    return record


def read_payload(content: RecordDict) -> bytes:
    """The secagg message bytes of ``content``; raises :class:`RecordError` if absent."""
    record = content.array_records.get(PAYLOAD_KEY)
    if record is None:
        raise RecordError("no secagg payload")
    array = record.get(PAYLOAD_ARRAY)
    if not isinstance(array, Array) or array.stype != PAYLOAD_STYPE:
        raise RecordError("secagg payload is not a raw byte array")
    if not isinstance(array.data, bytes):
        raise RecordError("secagg payload data is not bytes")
    return array.data


def is_secagg(content: RecordDict) -> bool:
    """Whether ``content`` belongs to the secagg protocol (the mod passes others through)."""
    return CONFIG_KEY in content.config_records


def read_header(config: Mapping[str, object]) -> Header:
    """Version, nonce and step of a received secagg config record."""
    if config.get("version") != FORMAT_VERSION:
        raise RecordError("unsupported secagg record version")
    nonce, step = config.get("nonce"), config.get("step")
    if not isinstance(nonce, bytes) or not isinstance(step, int) or isinstance(step, bool):
        raise RecordError("secagg header fields have the wrong types")
    if step < 0:
        raise RecordError("negative step")
    return Header(nonce, step)


def header_values(header: Header) -> dict[str, int | bytes]:
    return {"version": FORMAT_VERSION, "nonce": header.nonce, "step": header.step}


def prompt_content(header: Header, payload: bytes) -> RecordDict:
    """Server to client: one protocol prompt after the first message."""
    content = RecordDict()
    content.config_records[CONFIG_KEY] = ConfigRecord(header_values(header))  # type: ignore[arg-type]
    content.array_records[PAYLOAD_KEY] = payload_record(payload)
    return content


def reply_content(header: Header, payload: bytes | None, refusal: str | None) -> RecordDict:
    """Client to server: the reply to a prompt, or a refusal (no payload) with its reason."""
    values: dict[str, int | bytes | str] = dict(header_values(header))
    values["status"] = STATUS_OK if refusal is None else STATUS_REFUSED
    if refusal is not None:
        values["reason"] = refusal
    content = RecordDict()
    content.config_records[CONFIG_KEY] = ConfigRecord(values)  # type: ignore[arg-type]
    if payload is not None:
        content.array_records[PAYLOAD_KEY] = payload_record(payload)
    return content


def read_status(config: Mapping[str, object]) -> tuple[str, str]:
    """(status, reason) of a client reply; unknown values read as a refusal."""
    status = config.get("status")
    reason = config.get("reason")
    reason_text = reason[:64] if isinstance(reason, str) else ""
    if status == STATUS_OK:
        return STATUS_OK, ""
    return STATUS_REFUSED, reason_text or "UNKNOWN"


API_LEGACY = "legacy"
"""The ClientApp answers TRAIN with a legacy ``FitRes`` (``NumPyClient.fit``)."""
API_MESSAGE = "message"
"""The ClientApp answers TRAIN with one ``ArrayRecord`` and a ``MetricRecord`` (Message API)."""


@dataclass(frozen=True, slots=True)
class Setup:
    """The first message's extra fields: who the client is and how to encode its update.

    The session parameters (n, t, m, b, nonce) and the model layout travel beside these, each
    parsed by its own class (:class:`~secagg.integrations.flower.adapter.SessionParams`,
    :class:`~secagg.integrations.flower.vectors.Layout`).
    """

    client_id: int
    clipping_range: float
    quantization_range: int
    max_weight: float
    api: str
    weight_key: str

    def to_values(self) -> dict[str, int | float | str]:
        return {
            "client_id": self.client_id,
            "clipping_range": self.clipping_range,
            "quantization_range": self.quantization_range,
            "max_weight": self.max_weight,
            "api": self.api,
            "weight_key": self.weight_key,
        }

    @classmethod
    def from_values(cls, config: Mapping[str, object]) -> Setup:
        client_id, clip = config.get("client_id"), config.get("clipping_range")
        q_range, max_weight = config.get("quantization_range"), config.get("max_weight")
        api, weight_key = config.get("api"), config.get("weight_key")
        if not (
            isinstance(client_id, int)
            and not isinstance(client_id, bool)
            and isinstance(clip, float)
            and isinstance(q_range, int)
            and not isinstance(q_range, bool)
            and isinstance(max_weight, float)
            and max_weight > 0
            and api in (API_LEGACY, API_MESSAGE)
            and isinstance(weight_key, str)
        ):
            raise RecordError("malformed secagg setup fields")
        assert isinstance(api, str)
        return cls(client_id, clip, q_range, max_weight, api, weight_key)
