"""The ClientApp side: :func:`secagg_mod`, in place of Flower's ``secaggplus_mod``.

The mod sits in ``ClientApp(..., mods=[secagg_mod])``. It lets every message that is not part
of a secagg session through untouched. For a session's first message it rebuilds the round's
configuration from the server's 83 bytes under the node's **own** policy (a server cannot lower
``t`` for it, nor downgrade a node with a signing key to the semi-honest mode), runs the wrapped
app's training on the instructions inside, encodes the trained arrays and the example count
(:mod:`~secagg.integrations.flower.vectors`), starts the secagg client and replies with its
first message; the trained arrays never leave the node in the clear. Every later prompt is
answered by the secagg client. A prompt the client must refuse (or cannot parse) gets a
refusal reply, after which the node sends nothing more in that session: the server drops it
and the round goes on without it.

**The node's policy** comes from :func:`make_secagg_mod`'s arguments or, for each one left
out, from the node config (set by whoever runs the SuperNode, e.g. ``flower-supernode
--node-config "secagg-signing-key='/keys/node-3.key' secagg-roster='/keys/roster.json'"``):

* ``secagg-signing-key``: the node's Ed25519 key file; with it the node takes part only in
  the malicious mode (``secagg-roster`` is then needed too);
* ``secagg-roster``: the roster JSON it trusts (public keys; not from the server);
* ``secagg-corrupt``: the fraction of corrupt nodes it assumes (default 0.0: only the rule
  ``2t > holders`` and at least 3 nodes);
* ``secagg-allow-weak-threshold``: accept thresholds the policy refuses (default false).

Never from the run config or a message: those come from the server side.

**State between messages** lives in ``Context.state`` only (Flower may start a fresh process
per message): the encoded configuration, the client's input vector, its randomness, the
prompts answered so far and a digest of each reply sent, under ``"secagg.state"`` and
``"secagg.blobs"``. Each prompt rebuilds the client by replaying exactly the answered prompts
and checks that every replayed reply matches its digest. A prompt for the next step is
answered; the same bytes again for the step just answered get the same reply (a
retransmission); anything else - another prompt for an answered step, a skipped step - is
refused and the session erased, so no one gets two different answers for one step. The
state holds key material, like Flower's own mod's state does: it must stay on the node.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.clientapp.typing import ClientAppCallable

from secagg.integrations.flower import adapter, records, vectors
from secagg.integrations.flower.keys import KeyFileError, load_signing_key
from secagg.integrations.flower.records import Header, RecordError, SessionSetup, Setup

# A child of Flower's logger, so these lines show in Flower's log output.
log = logging.getLogger("flwr.secagg")

STATE_KEY = "secagg.state"
BLOBS_KEY = "secagg.blobs"  # a RecordDict key names one record, whatever its type
_BYTES = "secagg.bytes"

NODE_SIGNING_KEY = "secagg-signing-key"
NODE_ROSTER = "secagg-roster"
NODE_CORRUPT = "secagg-corrupt"
NODE_ALLOW_WEAK = "secagg-allow-weak-threshold"

Mod = Callable[[Message, Context, ClientAppCallable], Message]
KeySource = adapter.SigningKey | str | os.PathLike[str] | None
RosterSource = adapter.Roster | str | os.PathLike[str] | None


class PolicyError(ValueError):
    """The node's own secagg settings cannot be used (a missing or unreadable file, ...)."""


@dataclass(frozen=True, slots=True)
class _ModSettings:
    signing_key: KeySource
    roster: RosterSource
    corrupt: float | None
    allow_weak_threshold: bool | None

    def policy(self, ctxt: Context) -> adapter.ClientPolicy:
        """The node's policy: this mod's arguments, else the node config, else defaults."""
        node = ctxt.node_config
        key_source = (
            self.signing_key if self.signing_key is not None else node.get(NODE_SIGNING_KEY)
        )
        roster_source = self.roster if self.roster is not None else node.get(NODE_ROSTER)
        corrupt = self.corrupt if self.corrupt is not None else node.get(NODE_CORRUPT, 0.0)
        allow = self.allow_weak_threshold
        if allow is None:
            allow = _flag(node.get(NODE_ALLOW_WEAK, False))
        try:
            key = (
                key_source
                if isinstance(key_source, adapter.SigningKey) or key_source in (None, "")
                else load_signing_key(_path(key_source))
            )
            roster = (
                roster_source
                if isinstance(roster_source, adapter.Roster) or roster_source in (None, "")
                else adapter.Roster.load(_path(roster_source))
            )
            if isinstance(corrupt, bool) or not isinstance(corrupt, (int, float)):
                raise PolicyError(f"{NODE_CORRUPT} must be a number")
            if not 0.0 <= float(corrupt) < 0.5:
                raise PolicyError(f"{NODE_CORRUPT} must be in [0, 0.5)")
            return adapter.ClientPolicy(
                corrupt=float(corrupt),
                allow_weak_threshold=allow,
                signing_key=key or None,  # type: ignore[arg-type]
                roster=roster or None,  # type: ignore[arg-type]
            )
        except (KeyFileError, adapter.RosterError, adapter.ConfigError) as exc:
            raise PolicyError(str(exc)) from None


def _path(value: object) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise PolicyError("a key or roster setting must be a file path")
    return Path(value)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", ""):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise PolicyError(f"{NODE_ALLOW_WEAK} must be true or false")


def make_secagg_mod(
    *,
    signing_key: KeySource = None,
    roster: RosterSource = None,
    corrupt: float | None = None,
    allow_weak_threshold: bool | None = None,
) -> Mod:
    """A secagg mod with this node's policy (each argument left as None is read from the node
    config, see the module docstring). ``signing_key`` and ``roster`` are objects or file
    paths (:mod:`secagg.integrations.flower.keys` writes them)."""
    settings = _ModSettings(signing_key, roster, corrupt, allow_weak_threshold)

    def mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
        return _handle(settings, msg, ctxt, call_next)

    return mod


def secagg_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Answer secagg prompts; pass every other message to the next mod or the app. The node's
    policy comes from its node config (see the module docstring)."""
    return _handle(_DEFAULT, msg, ctxt, call_next)


_DEFAULT = _ModSettings(None, None, None, None)


def _handle(
    settings: _ModSettings, msg: Message, ctxt: Context, call_next: ClientAppCallable
) -> Message:
    if msg.metadata.message_type != MessageType.TRAIN or not records.is_secagg(msg.content):
        return call_next(msg, ctxt)
    config = msg.content.config_records[records.CONFIG_KEY]
    try:
        policy = settings.policy(ctxt)
    except PolicyError as exc:
        log.warning("secagg: node %d cannot use its own secagg settings: %s", ctxt.node_id, exc)
        if records.is_hello(config):
            return Message(records.hello_reply(b"", None, None, "NODE_POLICY"), reply_to=msg)
        return _refuse(msg, ctxt, Header(b"", 0), "NODE_POLICY", str(exc))
    if records.is_hello(config):
        return _hello(msg, ctxt, config, policy)
    try:
        header = records.read_header(config)
    except RecordError as exc:
        return _refuse(msg, ctxt, Header(b"", 0), "MALFORMED_PROMPT", str(exc))
    if header.step == 0:
        return _first_message(msg, ctxt, call_next, config, header, policy)
    return _prompt(msg, ctxt, header, policy)


# ---------------------------------------------------------------------- identity


def _hello(
    msg: Message, ctxt: Context, config: ConfigRecord, policy: adapter.ClientPolicy
) -> Message:
    """Tell the server which roster key this node holds (a signature over its challenge)."""
    try:
        challenge = records.read_hello(config)
    except RecordError:
        return Message(records.hello_reply(b"", None, None, "MALFORMED_PROMPT"), reply_to=msg)
    if policy.signing_key is None:
        return Message(records.hello_reply(challenge, None, None, "NO_SIGNING_KEY"), reply_to=msg)
    label, message = adapter.hello_message(challenge, ctxt.node_id)
    signature = policy.signing_key.sign(label, message)
    reply = records.hello_reply(challenge, policy.signing_key.public, signature, None)
    return Message(reply, reply_to=msg)


# ---------------------------------------------------------------------- first message


def _first_message(
    msg: Message,
    ctxt: Context,
    call_next: ClientAppCallable,
    config: ConfigRecord,
    header: Header,
    policy: adapter.ClientPolicy,
) -> Message:
    _clear_state(ctxt)  # a new session replaces whatever an earlier one left
    try:
        session_setup = SessionSetup.from_values(config)
        setup = Setup.from_values(config)
        layout = vectors.Layout.from_record(config)
    except (RecordError, adapter.ConfigError) as exc:
        return _refuse(msg, ctxt, header, "MALFORMED_PROMPT", str(exc))
    try:
        round_config = policy.accept(session_setup.config, session_setup.roster_entries)
        policy.check_identity(round_config, session_setup.client_id)
    except (adapter.ConfigError, adapter.RosterError) as exc:
        return _refuse(msg, ctxt, header, "CONFIG_REFUSED", str(exc))
    try:
        if round_config.session_nonce != header.nonce:
            raise RecordError("header nonce differs from the session nonce")
        if layout.dim != round_config.dim:
            raise RecordError("the model layout does not match the session's dimension")
        qc = adapter.quantization(
            round_config.num_clients,
            setup.clipping_range,
            setup.quantization_range,
            1 << round_config.bits,
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
        secret = adapter.ClientSession.new_secret(round_config)
        session = adapter.ClientSession.create(
            round_config, session_setup.client_id, x, secret, policy.signing_key
        )
        first = session.start()
    except (RecordError, adapter.ConfigError, KeyError, TypeError, ValueError) as exc:
        return _refuse(msg, ctxt, header, "BAD_TRAIN_RESULT", str(exc))
    if clipped:
        log.warning("secagg: %d of %d values clipped to the clipping range", clipped, x.size - 1)

    state = ConfigRecord({"client_id": session_setup.client_id, "next_step": 1})
    if session_setup.roster_entries is not None:
        state["roster_entries"] = list(session_setup.roster_entries)
    ctxt.state.config_records[STATE_KEY] = state
    blobs = ArrayRecord()
    blobs["config"] = _blob(session_setup.config)
    blobs["x"] = _blob(x.tobytes())
    blobs["secret"] = _blob(secret)
    blobs["reply.0"] = _blob(adapter.reply_digest(first))
    ctxt.state.array_records[BLOBS_KEY] = blobs

    # The reply keeps the app's metrics and example count (the strategy aggregates those, as
    # with Flower's SecAgg+), never its arrays.
    reply = RecordDict()
    for key, record in out.content.items():
        reply[key] = ArrayRecord() if isinstance(record, ArrayRecord) else record
    for key, record in records.reply_content(header, first, None).items():
        reply[key] = record
    log.info(
        "secagg: node %d is client %d of %d (%s, %s, t=%d)",
        ctxt.node_id,
        session_setup.client_id,
        round_config.num_clients,
        round_config.security.value,
        "complete graph" if round_config.neighbors is None else f"k={round_config.neighbors}",
        round_config.threshold,
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


def _prompt(msg: Message, ctxt: Context, header: Header, policy: adapter.ClientPolicy) -> Message:
    state = ctxt.state.config_records.get(STATE_KEY)
    blobs = ctxt.state.array_records.get(BLOBS_KEY)
    if state is None or blobs is None:
        return _refuse(msg, ctxt, header, "NO_SESSION", "no secagg session on this node")
    try:
        client_id, next_step = state["client_id"], state["next_step"]
        entries = state.get("roster_entries")
        if not isinstance(client_id, int) or not isinstance(next_step, int):
            raise RecordError("corrupt session state")
        if entries is not None and not isinstance(entries, list):
            raise RecordError("corrupt session state")
        # The configuration is rebuilt under the node's policy on every message.
        round_config = policy.accept(
            blobs["config"].data, None if entries is None else [int(e) for e in entries]
        )
        if round_config.session_nonce != header.nonce:
            raise RecordError("the prompt belongs to another session")
        payload = records.read_payload(msg.content)
        stored = blobs.get(f"prompt.{header.step}")
        if header.step == next_step:
            retransmission = False
        elif header.step == next_step - 1 and isinstance(stored, Array) and stored.data == payload:
            retransmission = True  # the same bytes again: answer them the same way
        else:
            raise _StepRefused(header.step, next_step)
        dtype = adapter.ring_dtype(round_config.bits)
        x_blob = blobs["x"]

        def x() -> np.ndarray:  # read only if the replay reaches the masking step
            return np.frombuffer(x_blob.data, dtype=dtype)

        answered = [blobs[f"prompt.{k}"].data for k in range(1, header.step)]
        digests = [blobs[f"reply.{k}"].data for k in range(header.step)]
        session = adapter.ClientSession.restore(
            round_config,
            client_id,
            x,
            blobs["secret"].data,
            answered,
            digests,
            policy.signing_key,
        )
        reply = session.handle(payload)
        if retransmission and adapter.reply_digest(reply) != blobs[f"reply.{header.step}"].data:
            raise adapter.ReplayDiverged(header.step)
    except _StepRefused as exc:
        return _refuse(msg, ctxt, header, "STEP_REFUSED", str(exc))
    except adapter.ClientRefusal as exc:
        return _refuse(msg, ctxt, header, exc.reason, exc.detail)
    except (adapter.ConfigError, adapter.RosterError) as exc:
        return _refuse(msg, ctxt, header, "CONFIG_REFUSED", str(exc))
    except (RecordError, KeyError) as exc:
        return _refuse(msg, ctxt, header, "MALFORMED_PROMPT", str(exc))
    if session.finished:
        _clear_state(ctxt)
    elif not retransmission:
        blobs[f"prompt.{header.step}"] = _blob(payload)
        blobs[f"reply.{header.step}"] = _blob(adapter.reply_digest(reply))
        state["next_step"] = header.step + 1
    return Message(records.reply_content(header, reply, None), reply_to=msg)


class _StepRefused(Exception):
    def __init__(self, step: int, next_step: int) -> None:
        super().__init__(
            f"a prompt for step {step} while step {next_step} is next: a step is answered once"
        )


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
