"""The ClientApp side: :func:`secagg_mod`, in place of Flower's ``secaggplus_mod``.

The mod sits in ``ClientApp(..., mods=[secagg_mod])``. It lets every message that is not part
of a secagg session through untouched. For a session's first message it runs the wrapped app's
training on the instructions inside, encodes the trained arrays and the example count
(:mod:`~secagg.integrations.flower.vectors`), starts the secagg client and replies with its first
message; the trained arrays never leave the node in the clear. Every later prompt is answered by
the secagg client. A prompt the client must refuse (or cannot parse) gets a refusal reply,
after which the node sends nothing more in that session: the server drops it and the round
goes on without it.

State between messages lives in ``Context.state`` only (Flower may start a fresh process per
message): the session parameters, the client's input vector, its randomness and the prompts
answered so far, under the keys ``"secagg.state"`` and ``"secagg.blobs"``. It is erased when
the session ends or is refused. It holds key material, like Flower's own mod's state does: it
must stay on the node.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.clientapp.typing import ClientAppCallable

from secagg.integrations.flower import adapter, records, vectors
from secagg.integrations.flower.records import Header, RecordError, Setup

# A child of Flower's logger, so these lines show in Flower's log output.
log = logging.getLogger("flwr.secagg")

STATE_KEY = "secagg.state"
BLOBS_KEY = "secagg.blobs"  # a RecordDict key names one record, whatever its type
_BYTES = "secagg.bytes"


def secagg_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Answer secagg prompts; pass every other message to the next mod or the app."""
    if msg.metadata.message_type != MessageType.TRAIN or not records.is_secagg(msg.content):
        return call_next(msg, ctxt)
    config = msg.content.config_records[records.CONFIG_KEY]
    try:
        header = records.read_header(config)
    except RecordError as exc:
        return _refuse(msg, ctxt, Header(b"", 0), "MALFORMED_PROMPT", str(exc))
    if header.step == 0:
        return _first_message(msg, ctxt, call_next, config, header)
    return _prompt(msg, ctxt, header)


# ---------------------------------------------------------------------- first message


def _first_message(
    msg: Message,
    ctxt: Context,
    call_next: ClientAppCallable,
    config: ConfigRecord,
    header: Header,
) -> Message:
    _clear_state(ctxt)  # a new session replaces whatever an earlier one left
    try:
        params = adapter.SessionParams.from_record(config)
        if params.nonce != header.nonce:
            raise RecordError("header nonce differs from the session nonce")
        setup = Setup.from_values(config)
        layout = vectors.Layout.from_record(config)
        if layout.dim != params.dim:
            raise RecordError("the model layout does not match the session's dimension")
        qc = adapter.quantization(
            params.num_clients, setup.clipping_range, setup.quantization_range, 1 << params.bits
        )
    except (RecordError, adapter.ConfigError) as exc:
        return _refuse(msg, ctxt, header, "MALFORMED_PROMPT", str(exc))

    # Train: the wrapped app sees the instructions without the secagg records.
    inner = RecordDict()
    for key, record in msg.content.items():
        if key not in (records.CONFIG_KEY, records.PAYLOAD_KEY):
            inner[key] = record
    original = msg.content
    msg.content = inner
    try:
        out = call_next(msg, ctxt)
    finally:
        msg.content = original  # the caller's message is left as it came
    if out.has_error():
        return _refuse(msg, ctxt, header, "TRAIN_FAILED", "the ClientApp returned an error")
    try:
        arrays, weight = _trained(out.content, setup)
        x, clipped = vectors.encode_update(
            arrays,
            weight,
            layout=layout,
            max_weight=setup.max_weight,
            qc=qc,
            rounding_seed=os.urandom(32),
        )
        secret = adapter.ClientSession.new_secret(params)
        session = adapter.ClientSession.create(params, setup.client_id, x, secret)
        first = session.start()
    except (RecordError, adapter.ConfigError, KeyError, TypeError, ValueError) as exc:
        return _refuse(msg, ctxt, header, "BAD_TRAIN_RESULT", str(exc))
    if clipped:
        log.warning("secagg: %d of %d values clipped to the clipping range", clipped, x.size - 1)

    state = ConfigRecord(params.to_record())  # type: ignore[arg-type]
    state["client_id"] = setup.client_id
    state["next_step"] = 1
    ctxt.state.config_records[STATE_KEY] = state
    blobs = ArrayRecord()
    blobs["x"] = _blob(x.tobytes())
    blobs["secret"] = _blob(secret)
    ctxt.state.array_records[BLOBS_KEY] = blobs

    # The reply keeps the app's metrics and example count (the strategy aggregates those, as
    # with Flower's SecAgg+), never its arrays.
    reply = RecordDict()
    for key, record in out.content.items():
        reply[key] = ArrayRecord() if isinstance(record, ArrayRecord) else record
    for key, record in records.reply_content(header, first, None).items():
        reply[key] = record
    log.info(
        "secagg: node %d is client %d of %d", ctxt.node_id, setup.client_id, params.num_clients
    )
    return Message(reply, reply_to=msg)


def _trained(content: RecordDict, setup: Setup) -> tuple[list[np.ndarray], float]:
    """The trained arrays and the example count from the app's reply."""
    if setup.api == records.API_LEGACY:
        arrays = content.array_records["fitres.parameters"].to_numpy_ndarrays()
        weight = content.metric_records["fitres.num_examples"]["num_examples"]
    else:
        array_records = list(content.array_records.values())
        metric_records = list(content.metric_records.values())
        if len(array_records) != 1 or len(metric_records) != 1:
            raise RecordError("a train reply needs exactly one ArrayRecord and one MetricRecord")
        arrays = array_records[0].to_numpy_ndarrays()
        weight = metric_records[0][setup.weight_key]
    if not isinstance(weight, (int, float)) or isinstance(weight, bool):
        raise RecordError("the example count is not a number")
    return arrays, float(weight)


# ---------------------------------------------------------------------- later prompts


def _prompt(msg: Message, ctxt: Context, header: Header) -> Message:
    state = ctxt.state.config_records.get(STATE_KEY)
    blobs = ctxt.state.array_records.get(BLOBS_KEY)
    if state is None or blobs is None:
        return _refuse(msg, ctxt, header, "NO_SESSION", "no secagg session on this node")
    try:
        params = adapter.SessionParams.from_record(state)
        client_id, next_step = state["client_id"], state["next_step"]
        if not isinstance(client_id, int) or not isinstance(next_step, int):
            raise RecordError("corrupt session state")
        if params.nonce != header.nonce:
            raise RecordError("the prompt belongs to another session")
        if header.step != next_step:
            raise RecordError(f"expected step {next_step}, got {header.step}")
        payload = records.read_payload(msg.content)
        x = np.frombuffer(blobs["x"].data, dtype=adapter.ring_dtype(params.bits))
        answered = [blobs[f"prompt.{k}"].data for k in range(1, header.step)]
        session = adapter.ClientSession.restore(
            params, client_id, x, blobs["secret"].data, answered
        )
        reply = session.handle(payload)
    except adapter.ClientRefusal as exc:
        return _refuse(msg, ctxt, header, exc.reason, exc.detail)
    except (RecordError, adapter.ConfigError, KeyError) as exc:
        return _refuse(msg, ctxt, header, "MALFORMED_PROMPT", str(exc))
    if session.finished:
        _clear_state(ctxt)
    else:
        blobs[f"prompt.{header.step}"] = _blob(payload)
        state["next_step"] = header.step + 1
    return Message(records.reply_content(header, reply, None), reply_to=msg)


# ---------------------------------------------------------------------- helpers


def _refuse(msg: Message, ctxt: Context, header: Header, reason: str, detail: str) -> Message:
    """Erase the session and tell the server this node is out (the reason, never secrets)."""
    _clear_state(ctxt)
    log.warning(
        "secagg: node %d refused step %d: %s (%s)", ctxt.node_id, header.step, reason, detail
    )
    return Message(records.reply_content(header, None, reason), reply_to=msg)


def _clear_state(ctxt: Context) -> None:
    for key in (STATE_KEY, BLOBS_KEY):
        if key in ctxt.state:
            del ctxt.state[key]


def _blob(data: bytes) -> Array:
    return Array(dtype="uint8", shape=(len(data),), stype=_BYTES, data=data)
