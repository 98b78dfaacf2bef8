"""How secagg's wire messages ride inside Flower messages.

Every protocol message travels in a Flower ``Message`` of type TRAIN whose ``RecordDict`` has

* ``ConfigRecord "secagg"``: ``version``, ``nonce`` (the session nonce), ``step`` (0 for the
  first message of a session, then one more per prompt) and, server to client at step 0,
  ``config`` (the 83-byte ``RoundConfig.encode()``, protocol/SPEC.md section 2), the node's
  ``client_id``, in the malicious mode ``roster_entries`` (the roster entry of each client id),
  the float encoding and the model layout; client to server, ``status`` ("ok" or "refused")
  and, when refused, the ``reason`` code's name;
* ``ArrayRecord "secagg.payload"`` with one ``Array "bytes"`` whose ``data`` is the secagg
  message, byte for byte (``protocol/SPEC.md``). An ``Array`` rather than a ``bytes`` config
  value because Flower streams arrays in chunks (5 MiB), so a masked input of any model size
  stays under gRPC's per-message limit.

In the malicious mode a node the server has not seen before first gets a *hello*: a
``ConfigRecord "secagg"`` with ``version`` and ``hello`` (32 random bytes); it answers with its
roster ``public`` key and an Ed25519 ``signature`` over the challenge and its node id
(:func:`~secagg.integrations.flower.adapter.hello_message`), so the server knows which roster
entry each Flower node holds.

Everything read from a received message is untrusted: the readers check every type and return
``None`` (or raise :class:`RecordError`) instead of trusting a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

FORMAT_VERSION = 2
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


HELLO_FIELD = "hello"
CHALLENGE_SIZE = 32


def is_hello(config: Mapping[str, object]) -> bool:
    return HELLO_FIELD in config


def hello_content(challenge: bytes) -> RecordDict:
    """Server to node: which roster key do you hold? (malicious mode)"""
    content = RecordDict()
    content.config_records[CONFIG_KEY] = ConfigRecord(
        {"version": FORMAT_VERSION, HELLO_FIELD: challenge}
    )
    return content


def read_hello(config: Mapping[str, object]) -> bytes:
    """The challenge of a hello; raises :class:`RecordError` when malformed."""
    challenge = config.get(HELLO_FIELD)
    if config.get("version") != FORMAT_VERSION:
        raise RecordError("unsupported secagg record version")
    if not isinstance(challenge, bytes) or len(challenge) != CHALLENGE_SIZE:
        raise RecordError("malformed hello")
    return challenge


def hello_reply(
    challenge: bytes, public: bytes | None, signature: bytes | None, refusal: str | None
) -> RecordDict:
    """Node to server: its roster key and the signature over the challenge, or a refusal."""
    values: dict[str, int | bytes | str] = {"version": FORMAT_VERSION, HELLO_FIELD: challenge}
    if refusal is None and public is not None and signature is not None:
        values.update(status=STATUS_OK, public=public, signature=signature)
    else:
        values.update(status=STATUS_REFUSED, reason=refusal or "UNKNOWN")
    content = RecordDict()
    content.config_records[CONFIG_KEY] = ConfigRecord(values)  # type: ignore[arg-type]
    return content


def read_hello_reply(config: Mapping[str, object], challenge: bytes) -> tuple[bytes, bytes]:
    """(public key, signature) of a hello reply to ``challenge``; :class:`RecordError` else."""
    if config.get("version") != FORMAT_VERSION or config.get(HELLO_FIELD) != challenge:
        raise RecordError("not a reply to this hello")
    status, reason = read_status(config)
    if status != STATUS_OK:
        raise RecordError(f"hello refused: {reason}")
    public, signature = config.get("public"), config.get("signature")
    if not isinstance(public, bytes) or not isinstance(signature, bytes):
        raise RecordError("malformed hello reply")
    return public, signature


@dataclass(frozen=True, slots=True)
class SessionSetup:
    """The first message's session fields: the encoded configuration, the node's client id
    and, in the malicious mode, the roster entry of every client id."""

    config: bytes
    client_id: int
    roster_entries: tuple[int, ...] | None

    def to_values(self) -> dict[str, bytes | int | list[int]]:
        values: dict[str, bytes | int | list[int]] = {
            "config": self.config,
            "client_id": self.client_id,
        }
        if self.roster_entries is not None:
            values["roster_entries"] = list(self.roster_entries)
        return values

    @classmethod
    def from_values(cls, config: Mapping[str, object]) -> SessionSetup:
        encoded, client_id = config.get("config"), config.get("client_id")
        entries = config.get("roster_entries")
        if not (
            isinstance(encoded, bytes)
            and isinstance(client_id, int)
            and not isinstance(client_id, bool)
            and (
                entries is None
                or (
                    isinstance(entries, list)
                    and all(isinstance(e, int) and not isinstance(e, bool) for e in entries)
                )
            )
        ):
            raise RecordError("malformed secagg session fields")
        return cls(encoded, client_id, None if entries is None else tuple(entries))


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
    """The first message's float-encoding fields: how the node encodes its update.

    The session fields (:class:`SessionSetup`) and the model layout
    (:class:`~secagg.integrations.flower.vectors.Layout`) travel beside these.
    """

    clipping_range: float
    quantization_range: int
    max_weight: float
    api: str
    weight_key: str

    def to_values(self) -> dict[str, int | float | str]:
        return {
            "clipping_range": self.clipping_range,
            "quantization_range": self.quantization_range,
            "max_weight": self.max_weight,
            "api": self.api,
            "weight_key": self.weight_key,
        }

    @classmethod
    def from_values(cls, config: Mapping[str, object]) -> Setup:
        clip = config.get("clipping_range")
        q_range, max_weight = config.get("quantization_range"), config.get("max_weight")
        api, weight_key = config.get("api"), config.get("weight_key")
        if not (
            isinstance(clip, float)
            and isinstance(q_range, int)
            and not isinstance(q_range, bool)
            and isinstance(max_weight, float)
            and max_weight > 0
            and api in (API_LEGACY, API_MESSAGE)
            and isinstance(weight_key, str)
        ):
            raise RecordError("malformed secagg setup fields")
        assert isinstance(api, str)
        return cls(clip, q_range, max_weight, api, weight_key)
