"""Write the known-answer vectors of protocol/vectors/ (protocol version 2, SPEC.md section 15).

Run from the repository root::

    .venv/bin/python protocol/gen_vectors.py

The vectors are the library run on a table of cases (the CFRG VDAF reference's
``gen_test_vec.py`` is the model): every value comes from :mod:`secagg` itself, driven with
fixed randomness from :class:`secagg.crypto.drbg.Drbg` (one stream per vector family, so adding
a case never changes another), and every negative case is a row of a table - (message or
round, mutation, expected reason) - not a second implementation. Where the generator recomputes
a value from the primitives the way SPEC.md words it (the intermediates of the honest rounds,
the float layer's steps), it asserts that the library agrees, so a generator that runs to the
end is also a check of the specification.

Byte strings are lower-case hex, ring elements and field elements JSON integers, JSON keys
sorted. Cases named ``*_bad_*`` carry ``"success": false``, the error class and the reason (and
reason code) they must fail with. Every case lists the SPEC rules it pins (``rules``); the table
of ``vectors/README.md`` - which this script also writes - maps each rule to those cases.

``tests/test_vectors.py`` replays every file against the library and checks that
:func:`build_all` reproduces the committed files byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secagg.config import MAX_CLIENTS, MAX_DIM, PROTOCOL_VERSION, RoundConfig, Security
from secagg.core import wire
from secagg.core.client import Client, rand_size
from secagg.core.graph import HararyGraph, graph_for
from secagg.core.server import Server
from secagg.crypto import aead, kdf, prg, shamir
from secagg.crypto.commit import self_mask_commitment, share_commitment
from secagg.crypto.drbg import Drbg
from secagg.crypto.hashing import sha256
from secagg.crypto.keys import KeyAgreementError, KeyPair, agree, fingerprint, is_valid_public
from secagg.crypto.sign import Roster, RosterError, SigningKey, signed_message, verify
from secagg.encoding.quantize import QuantizationConfig, dequantize_sum, quantize
from secagg.errors import (
    AbortReason,
    ClientAbort,
    ConfigError,
    DecodeError,
    DropReason,
    ProtocolAbort,
)
from secagg.runtime.simulate import rounds as round_names

Json = dict[str, Any]

VECTOR_DIR = Path(__file__).resolve().parent / "vectors"
MASTER_SEED = b"secagg/known-answer-vectors/v2"
SERVER = wire.SERVER_ID
P = shamir.PRIME
P25519 = 2**255 - 19
V = b"secagg/v%d/" % PROTOCOL_VERSION
KIND = wire.ShareKind
MT = wire.MessageType
PROBE = bytes(range(1, 33))
"""The fixed public secret of the key fingerprint (SPEC 6.1)."""

LOW_ORDER_POINTS = {
    "u0": bytes(32),
    "u1": b"\x01" + bytes(31),
    "order8": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    "order8_other": bytes.fromhex(
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"
    ),
    "p_minus_1": (P25519 - 1).to_bytes(32, "little"),
}
"""X25519 public keys of low order: agreement with them is all zero (SPEC 6.1)."""


# --------------------------------------------------------------------------- the SPEC's rules

RULES: list[tuple[str, str, str]] = [
    # (id, kind, what the rule says). kind: MUST (the SPEC's keyword), rule (normative text
    # without the keyword), unobservable (nothing on the wire shows whether it is kept), and
    # "deployment, unobservable" (a requirement on the transport or the deployment, SPEC 13).
    ("1.byte-order", "rule", "integers big-endian, ring elements little-endian, w = 4 or 8"),
    ("1.labeled-sha256", "rule", "labeled_sha256 = SHA-256(u16(len(label)) || label || parts)"),
    ("2.config-range", "MUST", "a configuration outside the ranges is refused when "
     "constructed or received"),
    ("2.policy", "rule", "the library's threshold policy refuses n < 3 and 2t <= h unless the "
     "caller opts out"),
    ("2.encoding", "rule", "RoundConfig.encode: 83 bytes, version, mode, n, t, m, b, k, roster "
     "digest, nonce"),
    ("2.session-id", "rule", "session_id = labeled_sha256('secagg/v2/session', encode()); "
     "parties that disagree on any parameter reject each other (WRONG_SESSION)"),
    ("2.roster-digest", "rule", "roster_digest over the n keys; 32 zero bytes semi-honest"),
    ("3.id-set-bitmap", "rule", "id set bitmap: client i is bit 7 - i mod 8 of byte i // 8"),
    ("3.id-set-padding", "MUST", "the 8B - n bits after the last client are 0; another "
     "length or a set padding bit is DECODE_FAILED"),
    ("4.envelope-order", "MUST", "the seven envelope checks in order; the first failure "
     "decides"),
    ("4.check1-min-length", "rule", "length >= 80, else DECODE_FAILED"),
    ("4.check2-max-length", "rule", "length <= 48 + max_body(expected type) + 32, else "
     "DECODE_FAILED; uses the expected type"),
    ("4.check3-fixed-fields", "rule", "magic, version 2, flags 0, else DECODE_FAILED"),
    ("4.check4-digest", "rule", "digest = labeled_sha256('secagg/v2/digest', header || body), "
     "else DECODE_FAILED"),
    ("4.check5-session", "rule", "session_id of this round, else WRONG_SESSION"),
    ("4.check6-type", "rule", "the expected type (unknown values too), else "
     "UNEXPECTED_MESSAGE"),
    ("4.check7-channel", "rule", "header sender/recipient = the channel's, else MISADDRESSED"),
    (
        "4.decode-failed-order",
        "unobservable",
        "the order among checks 1-4, and 'before any hashing': all four give DECODE_FAILED",
    ),
    ("5.1.max-body", "rule", "max_body(type) of the table in 5.1, per mode and graph"),
    ("5.2.list-count", "rule", "list rule 1: 4 bytes for the count"),
    ("5.2.list-cap", "rule", "list rule 2: count <= the list's cap"),
    ("5.2.list-length", "rule", "list rule 3: exactly (or at least, when a field follows) "
     "4 + count * entry_size"),
    ("5.2.list-ids", "rule", "list rule 4: ids < n and strictly increasing"),
    (
        "5.2.list-rule-order",
        "unobservable",
        "the order of the four list rules: all give DECODE_FAILED",
    ),
    ("5.3.reply-prompt-field", "rule", "a reply body starts with the 32-byte prompt echo; "
     "shorter is DECODE_FAILED; the decoder does not compare it"),
    ("5.3.echo", "MUST", "the server drops a reply whose echo differs from the digest of the "
     "prompt it sent that client (PROMPT_MISMATCH)"),
    ("5.3.echo-before-content", "MUST", "the echo is compared right after decoding and before "
     "any content rule"),
    ("5.3.echo-nothing-used", "MUST", "nothing of a mismatching reply is used"),
    ("5.4.advertise-keys", "rule", "ADVERTISE_KEYS body exactly 64 + S; signature over "
     "labeled('secagg/v2/advertise', session_id || u32(u) || c || s)"),
    ("5.5.key-list", "rule", "KEY_LIST to v: the entries H(v) ∩ U1, sorted, as received "
     "(signature included)"),
    ("5.6.share-keys-decode", "rule", "SHARE_KEYS: prompt, C_b, ciphertext list (cap h - 1, "
     "'at least'), commitment list (cap h), exact end"),
    ("5.7.share-forward", "rule", "SHARE_FORWARD: list (cap h - 1) of 164-byte entries"),
    ("5.8.share-check", "rule", "SHARE_CHECK: prompt, list (cap h - 1) of accused ids"),
    ("5.9.mask-request", "rule", "MASK_REQUEST: the id set U2, exactly B bytes"),
    ("5.10.masked-input-length", "rule", "MASKED_INPUT: prompt then exactly m w bytes, "
     "little-endian, else DECODE_FAILED"),
    ("5.10.masked-input-range", "rule", "a masked-input element >= 2^b is INVALID_CONTENT"),
    ("5.11.consistency", "rule", "CONSISTENCY_REQUEST exactly B bytes; CONSISTENCY_RESPONSE "
     "exactly 96; signature over labeled('secagg/v2/consistency', session_id || U3)"),
    ("5.12.unmask-request", "rule", "UNMASK_REQUEST: U3 (B bytes), malicious: then a signer "
     "list (cap n) of 68-byte entries"),
    ("5.13.unmask-response", "rule", "UNMASK_RESPONSE: prompt, list (cap h) of 41-byte "
     "entries; kind 0 or 1 and limbs < p, else DECODE_FAILED"),
    ("6.1.refused-keys", "rule", "a public key that is not 32 bytes, not canonical or of low "
     "order is refused"),
    ("6.1.fingerprint", "rule", "fp(pk) = X25519(01..20, pk); the server compares keys by "
     "fingerprint, so aliases are repeats"),
    (
        "6.3.ed25519",
        "rule",
        "Ed25519 (RFC 8032, deterministic) over labeled messages; 64-byte signatures",
    ),
    ("6.2.hkdf", "rule", "the three HKDF derivations: share-enc (min, max) with 64 bytes, "
     "pair-mask (min, max), self-mask (u), salt = session_id"),
    ("6.3.signature-invalid", "MUST", "a signature that fails to verify for any reason is "
     "invalid"),
    ("6.4.share-ciphertext", "rule", "e_{u,v}: AES-256-GCM, zero nonce, 55-byte associated "
     "data, 80-byte plaintext"),
    ("6.4.decryption-failures", "rule", "decryption fails on a bad tag, other ids, or a limb "
     ">= p"),
    ("7.1.prg", "rule", "AES-256-CTR from block 0, w-byte little-endian elements mod 2^b, "
     "start offsets"),
    ("7.1.prg-key", "rule", "prg_key(seed, label) = HKDF(seed, no salt, "
     "'secagg/v2/prg/' || label)"),
    ("7.2.graph", "rule", "the Harary ring order from prg_key(session_id, 'graph'), sorted by "
     "(r_i, i); N(u) at distance 1 .. k/2"),
    ("8.1.sharing", "rule", "9 limbs of 30 bits, one polynomial per limb, the rand layout of "
     "8.1"),
    ("8.2.share-decode", "MUST", "a decoder refuses any share limb >= p"),
    ("8.2.reconstruct", "rule", "Lagrange at 0 from t shares; a limb out of range is no "
     "secret"),
    ("8.3.commitments", "rule", "C(u, v, kind, y) and C_b"),
    ("9.rand-layout", "rule", "a client's randomness: c_u^SK, s_u^SK, b_u, then the "
     "coefficients of (s_u^SK, b_u)"),
    ("9.no-reuse", "deployment, unobservable", "production randomness is never reused "
     "(one round's wire cannot show a reuse across rounds)"),
    ("10.1.ignore-closed", "rule", "after the round completed or aborted, messages are "
     "ignored"),
    ("10.1.ignore-unknown", "rule", "an id outside [0, n) is ignored (UNKNOWN_CLIENT recorded "
     "for the first 64)"),
    ("10.1.ignore-unexpected", "rule", "a client not expected in this phase (never prompted, "
     "or dropped) is ignored: no rejoining"),
    ("10.1.first-stands", "rule", "a client already accepted in this phase is ignored: the "
     "first message stands"),
    ("10.1.receive-order", "rule", "decode, echo, content rules; the first failure drops the "
     "client and the round goes on"),
    ("10.1.close-timeouts", "rule", "closing: TIMED_OUT for every expected client that did "
     "not answer, in id order"),
    ("10.1.close-threshold", "rule", "closing: BELOW_THRESHOLD when fewer than t were "
     "accepted, before the phase's closing step"),
    ("10.1.close-prompts", "rule", "closing: one prompt per client, in id order"),
    ("10.1.client-invalid-message", "rule", "a prompt that fails to decode aborts the client "
     "with INVALID_MESSAGE (every prompt type)"),
    ("10.1.client-answers-once", "rule", "a prompt for a round already answered fails to "
     "decode: INVALID_MESSAGE"),
    (
        "10.1.client-silent-after-abort",
        "rule",
        "an aborted client sends nothing, whatever it is sent",
    ),
    ("10.1.client-checks-before-agreements", "rule", "a client's checks on a prompt run "
     "before any key agreement of that round"),
    ("10.1.client-no-copy", "unobservable", "a live client's state cannot be copied "
     "(already a SHOULD)"),
    ("10.2.advertise-signature", "MUST", "(malicious) the advertisement signature verifies "
     "under the sender's roster key, else BAD_SIGNATURE"),
    ("10.2.advertise-keys-valid", "MUST", "both advertised keys pass the fingerprint test, "
     "else INVALID_CONTENT"),
    ("10.2.advertise-check-order", "rule", "the signature is checked before the keys"),
    ("10.2.distinct-keys", "rule", "closing: a fingerprint seen twice drops every client "
     "involved (INVALID_CONTENT, id order), one client's c = s included"),
    ("10.2.u1-threshold", "rule", "|U1| < t aborts BELOW_THRESHOLD"),
    ("10.3.client-check-holders", "rule", "key list check 1: an id outside H(u) is "
     "INCONSISTENT_VIEW"),
    ("10.3.client-check-threshold", "rule", "key list check 2: fewer than t entries is "
     "BELOW_THRESHOLD"),
    ("10.3.client-check-own-entry", "rule", "key list check 3: no entry for u, or other keys, "
     "is INCONSISTENT_VIEW"),
    ("10.3.client-check-signatures", "rule", "key list check 4 (malicious): a signature that "
     "does not verify is BAD_SIGNATURE"),
    ("10.3.client-check-repeated", "rule", "key list check 5: a key repeated among the 2|E| "
     "keys (bytes) is INCONSISTENT_VIEW"),
    ("10.3.client-check-order", "rule", "the five key-list checks in this order"),
    (
        "10.3.signature-entry-order",
        "unobservable",
        "check 4 'in entry order': any failing entry gives the same BAD_SIGNATURE",
    ),
    ("10.3.key-agreement", "rule", "agreements in increasing order; a failure is "
     "KEY_AGREEMENT_FAILED"),
    ("10.3.agreements-distinct", "rule", "after all agreements: two equal, or one equal to "
     "the own one, is INCONSISTENT_VIEW"),
    ("10.3.share-keys", "rule", "the client's SHARE_KEYS: shares at x = id + 1, ciphertexts, "
     "commitments, C_b"),
    ("10.3.server-peers", "MUST", "ciphertext peers exactly (H(u) ∩ U1) \\ {u}, else "
     "INVALID_CONTENT"),
    ("10.3.server-holders", "MUST", "commitment holders exactly H(u) ∩ U1, else "
     "INVALID_CONTENT"),
    (
        "10.3.server-rule-order",
        "unobservable",
        "server rule 1 before rule 2: both give INVALID_CONTENT",
    ),
    ("10.3.share-forward", "rule", "closing: SHARE_FORWARD to each accepted v with every "
     "accepted u ∈ N(v)"),
    ("10.4.client-check-senders", "rule", "forward check 1: a sender u did not send shares to "
     "is INCONSISTENT_VIEW"),
    ("10.4.client-check-threshold", "rule", "forward check 2: |F| + 1 < t is "
     "BELOW_THRESHOLD"),
    ("10.4.client-check-order", "rule", "the two forward checks in this order"),
    ("10.4.accusation", "rule", "the client accuses a sender whose ciphertext fails or whose "
     "shares differ from the forwarded commitments"),
    ("10.4.server-accused", "MUST", "every accused id was a sender of the forward, else "
     "INVALID_CONTENT"),
    ("10.4.exclusion", "rule", "the exclusion fixed point: drop every u with |V(u)| < t "
     "(SHARES_REJECTED, id order), recompute, repeat"),
    ("10.4.valid-holders", "rule", "V(u) counts u and the accepted non-accusing neighbours "
     "only"),
    ("10.4.u2-threshold", "rule", "|U2| < t aborts BELOW_THRESHOLD"),
    ("10.5.client-check-member", "rule", "mask request check 1: u ∉ U2 is "
     "INCONSISTENT_VIEW"),
    ("10.5.client-check-forwarded", "rule", "mask request check 2: a member of P that did not "
     "forward shares is INCONSISTENT_VIEW"),
    ("10.5.client-check-threshold", "rule", "mask request check 3: |P| + 1 < t is "
     "BELOW_THRESHOLD (P = N(u) ∩ U2)"),
    ("10.5.client-check-order", "rule", "the three mask-request checks in this order"),
    ("10.5.agreements", "rule", "s agreements: a failure is KEY_AGREEMENT_FAILED; equal ones "
     "INCONSISTENT_VIEW"),
    ("10.5.masked-input", "rule", "y_u = x_u + PRG(b_u) + sum_{v ∈ P} ±PRG(s_{u,v})"),
    (
        "10.5.forget-secrets",
        "unobservable",
        "the client forgets x_u, b_u and s_u^SK once it has masked",
    ),
    ("10.5.server-sum", "rule", "the server sums the accepted masked inputs; U3"),
    ("10.6.survivor-member", "rule", "survivor rule 1: v ∉ U3 is INCONSISTENT_VIEW"),
    ("10.6.survivor-subset", "rule", "survivor rule 2: U3 ⊄ U2 is INCONSISTENT_VIEW"),
    ("10.6.survivor-threshold", "rule", "survivor rule 3: |U3 ∩ H(v)| < t is "
     "BELOW_THRESHOLD"),
    ("10.6.survivor-order", "rule", "the three survivor rules in this order"),
    ("10.6.sign-once", "rule", "a client signs one U3 per session"),
    ("10.6.server-signature", "MUST", "the consistency signature verifies over the U3 the "
     "server sent, else BAD_SIGNATURE"),
    ("10.6.signature-selection", "rule", "UNMASK_REQUEST carries the signatures of "
     "the union of L(z) over z in Z(v), L(z) the t lowest-id signers in H(z)"),
    ("10.7.semi-survivor-rules", "rule", "semi-honest: the survivor rules on UNMASK_REQUEST"),
    ("10.7.u3-equals-signed", "MUST", "malicious: U3 byte for byte the signed one, else "
     "INCONSISTENT_VIEW"),
    ("10.7.signer-in-u3", "MUST", "each signer is in U3, else INCONSISTENT_VIEW"),
    ("10.7.signature-verifies", "MUST", "each signature verifies, else BAD_SIGNATURE"),
    ("10.7.signature-entry-order", "rule", "signature entries checked one by one, in order "
     "(membership, then signature)"),
    ("10.7.consistency-count", "MUST", "t signers in H(z) for each owner revealed, else "
     "CONSISTENCY_CHECK_FAILED"),
    (
        "10.7.consistency-owner-order",
        "unobservable",
        "the owners checked 'in increasing order': the abort names no owner",
    ),
    ("10.7.response", "rule", "one entry per owner z ∈ U2 whose shares v holds: SELF_MASK for "
     "U3, KEY otherwise"),
    ("10.7.server-owners", "MUST", "the owners are exactly Z(v), else INVALID_CONTENT"),
    ("10.7.server-kind", "MUST", "SELF_MASK for z ∈ U3, KEY otherwise, else INVALID_CONTENT"),
    ("10.7.server-commitment", "MUST", "each share matches its commitment, else BAD_SHARE"),
    ("10.7.server-entry-order", "rule", "entries checked in order, kind before commitment"),
    ("10.7.all-or-nothing", "unobservable", "a dropped response stores nothing (the holders "
     "rule of 10.8 already excludes a dropped responder's shares)"),
    ("10.8.holders-used", "rule", "the t lowest-id members of V(z) ∩ U4 rebuild z's secret"),
    ("10.8.insufficient", "rule", "step 1: fewer than t holders for z ∈ U3 is "
     "INSUFFICIENT_SHARES"),
    (
        "10.8.insufficient-owner-order",
        "unobservable",
        "step 1 'in increasing order': INSUFFICIENT_SHARES names no owner",
    ),
    ("10.8.limbs", "rule", "step 2: the first z whose limbs are out of range is "
     "INCONSISTENT_SHARES"),
    ("10.8.self-mask-commitment", "MUST", "step 3: the rebuilt b_z matches C_b, else "
     "INCONSISTENT_SHARES"),
    ("10.8.key-shares", "MUST", "step 4: s_z^SK for U2 \\ U3 (steps 1, 2), X25519(s_z^SK, 9) = "
     "s_z^PK, else INCONSISTENT_SHARES"),
    ("10.8.step-order", "rule", "steps 1-4 in order: the first failing step and owner decide"),
    ("10.8.culprit", "rule", "INCONSISTENT_SHARES names the owner"),
    ("10.8.unmask", "rule", "steps 5-6: the masks removed, the sum over U3 released with U3 "
     "and U4"),
    ("11.reason-codes", "rule", "the DropReason and AbortReason codes"),
    ("12.1.refuse-overflow", "MUST", "a float configuration with n L >= 2^b is refused"),
    ("12.1.default-modulus", "rule", "without modulus_range, b is the bit length of n L"),
    ("12.2.quantize", "rule", "clip, scale, rounding draws from prg_key(seed, 'rounding'), "
     "round, cap at L; NaN refused"),
    ("12.3.dequantize", "rule", "T_i * (2c / L) - count * c"),
    ("12.3.out-of-range", "rule", "T_i > count * L refuses with AGGREGATE_OUT_OF_RANGE"),
    ("13.framing", "deployment, unobservable", "the transport delivers whole messages, "
     "names the peer"),
    ("13.configuration", "deployment, unobservable", "the server draws a fresh nonce from a "
     "CSPRNG and delivers the configuration (its digest check is 2.config-range)"),
    ("13.client-policy", "MUST", "a client applies its own threshold policy to the "
     "configuration it receives"),
    ("13.deadlines", "deployment, unobservable", "the transport calls advance() at the "
     "deadline (its effect, TIMED_OUT, is 10.1.close-timeouts)"),
    ("13.channel-security", "deployment, unobservable", "TLS in the semi-honest mode"),
]  # fmt: skip
RULE_IDS = {rule_id for rule_id, _, _ in RULES}


# --------------------------------------------------------------------------- small helpers


def rng(name: str) -> Drbg:
    """The deterministic stream of one vector family (independent of every other family)."""
    return Drbg(MASTER_SEED, name.encode())


def hexs(items: Iterable[bytes]) -> list[str]:
    return [bytes(item).hex() for item in items]


def ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def plain_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def reason_json(reason: DropReason | AbortReason) -> Json:
    return {"reason": reason.name, "reason_code": int(reason)}


def flip(data: bytes, index: int, bit: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= bit
    return bytes(out)


def redigest(data: bytes) -> bytes:
    """The envelope digest recomputed after a deliberate edit of header or body bytes."""
    head, body = data[: wire.HEADER_SIZE], data[wire.HEADER_SIZE : -wire.DIGEST_SIZE]
    return head + body + sha256(V + b"digest", head, body)


def body_of(data: bytes) -> bytes:
    return data[wire.HEADER_SIZE : -wire.DIGEST_SIZE]


def with_body(data: bytes, body: bytes) -> bytes:
    """``data``'s header around another body, re-digested."""
    return redigest(data[: wire.HEADER_SIZE] + body + bytes(wire.DIGEST_SIZE))


def with_header(data: bytes, offset: int, value: bytes) -> bytes:
    """``data`` with header bytes at ``offset`` replaced, re-digested."""
    return redigest(data[:offset] + value + data[offset + len(value) :])


def type_name(data: bytes) -> str | None:
    """The message type named by byte 5, or None for garbage."""
    if len(data) < 6 or data[5] not in {int(t) for t in MT}:
        return None
    return MT(data[5]).name


def ring_bytes(values: Any, bits: int) -> bytes:
    return np.asarray(values, dtype=prg.ring_dtype(bits)).tobytes()


def write_json(obj: Json) -> str:
    """Sorted keys, two-space indentation, lists of scalars on one line."""
    return _render(obj, 0) + "\n"


def _render(value: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(key)}: {_render(value[key], depth + 1)}" for key in sorted(value)
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return "[" + ", ".join(json.dumps(item, allow_nan=False) for item in value) + "]"
        return (
            "[\n"
            + ",\n".join(inner + _render(item, depth + 1) for item in value)
            + "\n"
            + pad
            + "]"
        )
    return json.dumps(value, allow_nan=False)


def tag(case: Json, *rules: str) -> Json:
    """Record the SPEC rules ``case`` pins (ids of :data:`RULES`)."""
    for rule in rules:
        assert rule in RULE_IDS, rule
    case["rules"] = sorted(set(case.get("rules", [])) | set(rules))
    return case


def failure(case: Json, error: str, reason: DropReason | AbortReason | None = None) -> Json:
    case.update(success=False, error=error)
    if reason is not None:
        case.update(reason_json(reason))
    return case


# --------------------------------------------------------------------------- configurations


@dataclass
class Setup:
    """A configuration with the long-term signing keys of its clients (malicious mode)."""

    cfg: RoundConfig
    keys: list[SigningKey] | None = None


def make_setup(
    r: Drbg,
    n: int,
    t: int,
    m: int,
    b: int,
    *,
    k: int | None = None,
    malicious: bool = False,
    weak: bool = False,
) -> Setup:
    keys = [SigningKey.from_secret(r(32)) for _ in range(n)] if malicious else None
    roster = Roster(tuple(key.public for key in keys)) if keys is not None else None
    cfg = RoundConfig(
        num_clients=n,
        threshold=t,
        dim=m,
        bits=b,
        session_nonce=r(32),
        neighbors=k,
        security=Security.MALICIOUS if malicious else Security.SEMI_HONEST,
        roster=roster,
        allow_weak_threshold=weak,
    )
    return Setup(cfg, keys)


def config_json(cfg: RoundConfig) -> Json:
    """Everything a replay needs to build the same RoundConfig, and what it must encode to."""
    return {
        "num_clients": cfg.num_clients,
        "threshold": cfg.threshold,
        "dim": cfg.dim,
        "bits": cfg.bits,
        "neighbors": cfg.neighbors,
        "security": cfg.security.value,
        "roster": None if cfg.roster is None else hexs(cfg.roster.public_keys),
        "roster_digest": (bytes(32) if cfg.roster is None else cfg.roster.digest).hex(),
        "allow_weak_threshold": cfg.allow_weak_threshold,
        "session_nonce": cfg.session_nonce.hex(),
        "encoded": cfg.encode().hex(),
        "session_id": cfg.session_id.hex(),
    }


def variant(cfg: RoundConfig, **changes: Any) -> RoundConfig:
    """``cfg`` with some parameters changed (same nonce)."""
    return dataclasses.replace(cfg, **changes)


# --------------------------------------------------------------------------- kdf.json


def kdf_file() -> Json:
    r = rng("kdf")
    configs: list[Json] = []

    def add_config(name: str, setup: Setup, *rules: str) -> None:
        configs.append(tag({"name": name, "config": config_json(setup.cfg)}, *rules))

    base_rules = ("2.encoding", "2.session-id", "2.roster-digest", "1.labeled-sha256")
    add_config("config_semi_complete_n3", make_setup(r, 3, 2, 4, 8), *base_rules)
    add_config("config_semi_secaggplus_n8_k4", make_setup(r, 8, 3, 16, 16, k=4), *base_rules)
    mal = make_setup(r, 4, 3, 5, 32, malicious=True)
    add_config("config_malicious_complete_n4", mal, *base_rules)
    add_config(
        "config_malicious_secaggplus_n10_k4",
        make_setup(r, 10, 3, 7, 64, k=4, malicious=True),
        *base_rules,
    )
    add_config("config_large_n1000", make_setup(r, 1000, 501, 100000, 32), *base_rules)
    add_config("config_weak_n1", make_setup(r, 1, 1, 1, 1, weak=True), *base_rules)
    # The same nonce with one parameter changed is another session (SPEC 2).
    base = make_setup(r, 10, 6, 10, 24)
    other_keys = [SigningKey.from_secret(r(32)) for _ in range(10)]
    other_roster = Roster(tuple(k.public for k in other_keys))
    mal_base = variant(base.cfg, security="malicious", roster=other_roster, threshold=6)
    variants = {
        "base": base.cfg,
        "threshold": variant(base.cfg, threshold=7),
        "dim": variant(base.cfg, dim=11),
        "bits": variant(base.cfg, bits=25),
        "graph": variant(base.cfg, neighbors=6, threshold=4),
        "mode": mal_base,
        "roster": variant(
            mal_base, roster=Roster((other_roster.public_keys[1], other_roster.public_keys[0],
                                     *other_roster.public_keys[2:]))
        ),
    }  # fmt: skip
    ids = {cfg.session_id for cfg in variants.values()}
    assert len(ids) == len(variants)
    for what, cfg in variants.items():
        configs.append(
            tag(
                {"name": f"config_same_nonce_{what}", "config": config_json(cfg)},
                "2.session-id",
                "2.encoding",
                "2.roster-digest",
            )
        )

    decode = config_decode_cases(r, mal)

    labeled = []
    for name, label, parts in (
        ("labeled_sha256_empty_label", b"", []),
        ("labeled_sha256_digest_label", V + b"digest", [b"abc", b"", r(40)]),
        ("labeled_sha256_session_label", V + b"session", [r(83)]),
        ("labeled_sha256_roster_label", V + b"roster", [r(64)]),
        ("labeled_sha256_label_300_bytes", b"x" * 300, [r(5)]),
    ):
        labeled.append(
            tag(
                {
                    "name": name,
                    "label": label.hex(),
                    "parts": hexs(parts),
                    "input": (len(label).to_bytes(2, "big") + label + b"".join(parts)).hex(),
                    "output": sha256(label, *parts).hex(),
                },
                "1.labeled-sha256",
            )
        )

    secrets = [r(32) for _ in range(3)] + [bytes(32), b"\xff" * 32]
    pairs = [KeyPair.from_secret(s) for s in secrets]
    keypairs = [
        tag(
            {"name": f"x25519_keypair_{i}", "secret": p.secret.hex(), "public": p.public.hex()},
            "6.1.refused-keys",
        )
        for i, p in enumerate(pairs)
    ]
    agreements: list[Json] = []
    for i, j in ((0, 1), (1, 0), (0, 2), (2, 1), (3, 4), (4, 0)):
        shared = pairs[i].agree(pairs[j].public)
        assert shared == pairs[j].agree(pairs[i].public)
        agreements.append(
            tag(
                {
                    "name": f"x25519_agree_{i}_{j}",
                    "secret": secrets[i].hex(),
                    "peer_public": pairs[j].public.hex(),
                    "shared_secret": shared.hex(),
                    "success": True,
                },
                "6.1.refused-keys",
            )
        )
    top = bytearray(pairs[1].public)
    top[31] |= 0x80
    u9 = (9).to_bytes(32, "little")
    bad_peers = [(f"x25519_bad_low_order_{k}", v) for k, v in LOW_ORDER_POINTS.items()]
    bad_peers += [
        ("x25519_bad_short_public", pairs[1].public[:31]),
        ("x25519_bad_long_public", pairs[1].public + b"\x00"),
        ("x25519_bad_top_bit_set", bytes(top)),
        ("x25519_bad_u_plus_p", (9 + P25519).to_bytes(32, "little")),
        ("x25519_bad_u_equal_p", P25519.to_bytes(32, "little")),
    ]
    for name, peer in bad_peers:
        assert not is_valid_public(peer), name
        try:
            agree(secrets[0], peer)
        except KeyAgreementError:
            pass
        else:  # pragma: no cover - the generator refuses to record a wrong expectation
            raise AssertionError(name)
        agreements.append(
            tag(
                failure(
                    {"name": name, "secret": secrets[0].hex(), "peer_public": peer.hex()},
                    "KeyAgreementError",
                ),
                "6.1.refused-keys",
            )
        )
    assert is_valid_public(u9)
    fingerprints: list[Json] = []
    for i, pair in enumerate(pairs[:3]):
        u = int.from_bytes(pair.public, "little")
        alias = pow(u, P25519 - 2, P25519).to_bytes(32, "little")
        other = secrets[(i + 1) % 3]
        assert agree(other, alias) == agree(other, pair.public) and alias != pair.public
        for name, public in (
            (f"x25519_fingerprint_{i}", pair.public),
            (f"x25519_fingerprint_{i}_inverse_alias", alias),
        ):
            value = fingerprint(public)
            assert value is not None and value == agree(PROBE, public)
            fingerprints.append(
                tag(
                    {
                        "name": name,
                        "public": public.hex(),
                        "fingerprint": value.hex(),
                        "success": True,
                    },
                    "6.1.fingerprint",
                )
            )
    for name, public in (
        ("x25519_fingerprint_bad_low_order_u1", LOW_ORDER_POINTS["u1"]),
        ("x25519_fingerprint_bad_low_order_order8", LOW_ORDER_POINTS["order8"]),
        ("x25519_fingerprint_bad_top_bit_set", bytes(top)),
        ("x25519_fingerprint_bad_u_plus_p", (9 + P25519).to_bytes(32, "little")),
    ):
        assert fingerprint(public) is None
        fingerprints.append(
            tag(
                failure({"name": name, "public": public.hex(), "fingerprint": None}, "refused"),
                "6.1.fingerprint",
                "6.1.refused-keys",
            )
        )

    sid = mal.cfg.session_id
    hkdf: list[Json] = []
    for u, v in ((0, 1), (1, 0), (2, 6), (6, 2), (3, 1000)):
        shared = r(32)
        key = kdf.pair_mask_key(shared, session_id=sid, u=u, v=v)
        assert key == kdf.pair_mask_key(shared, session_id=sid, u=v, v=u)
        info = V + b"pair-mask" + u32(min(u, v)) + u32(max(u, v))
        assert kdf.info(kdf.PURPOSE_PAIR_MASK, min(u, v), max(u, v)) == info
        hkdf.append(
            tag(
                {
                    "name": f"pair_mask_key_{u}_{v}",
                    "purpose": "pair-mask",
                    "ikm": shared.hex(),
                    "salt": sid.hex(),
                    "ids": [u, v],
                    "info": info.hex(),
                    "output": key.hex(),
                },
                "6.2.hkdf",
            )
        )
        there, back = kdf.share_encryption_keys(shared, session_id=sid, u=u, v=v)
        assert there != back
        low, high = (there, back) if u < v else (back, there)
        hkdf.append(
            tag(
                {
                    "name": f"share_encryption_keys_{u}_{v}",
                    "purpose": "share-enc",
                    "ikm": shared.hex(),
                    "salt": sid.hex(),
                    "ids": [u, v],
                    "info": (V + b"share-enc" + u32(min(u, v)) + u32(max(u, v))).hex(),
                    "length": 64,
                    "output": (low + high).hex(),
                    "key_u_to_v": there.hex(),
                    "key_v_to_u": back.hex(),
                },
                "6.2.hkdf",
            )
        )
    for u in (0, 7, MAX_CLIENTS - 1):
        b_u = r(32)
        hkdf.append(
            tag(
                {
                    "name": f"self_mask_key_{u}",
                    "purpose": "self-mask",
                    "ikm": b_u.hex(),
                    "salt": sid.hex(),
                    "ids": [u],
                    "info": (V + b"self-mask" + u32(u)).hex(),
                    "output": kdf.self_mask_key(b_u, session_id=sid, u=u).hex(),
                },
                "6.2.hkdf",
            )
        )
    # Chained: the pair-mask key two clients derive from their X25519 keys.
    shared = pairs[0].agree(pairs[1].public)
    hkdf.append(
        tag(
            {
                "name": "pair_mask_key_from_x25519_0_1",
                "purpose": "pair-mask",
                "ikm": shared.hex(),
                "salt": sid.hex(),
                "ids": [0, 1],
                "info": (V + b"pair-mask" + u32(0) + u32(1)).hex(),
                "output": kdf.pair_mask_key(shared, session_id=sid, u=0, v=1).hex(),
            },
            "6.2.hkdf",
            "6.1.refused-keys",
        )
    )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Configurations and session ids, labeled SHA-256, X25519 and the HKDF derivations "
            "(SPEC.md sections 1, 2 and 6). configs: RoundConfig fields, encoded = "
            "RoundConfig.encode() (83 bytes) and session_id = labeled_sha256('secagg/v2/"
            "session', encoded); config_same_nonce_* change one parameter each and all have "
            "different session ids. config_decode: an 83-byte encoding as a client receives "
            "it, decoded with the roster it trusts and its own policy (allow_weak_threshold); "
            "*_bad_* must be refused (ConfigError). labeled_sha256: input = u16(len(label)) || "
            "label || parts, output its SHA-256. x25519: raw 32-byte secrets and publics, "
            "shared_secret = X25519(secret, peer_public); *_bad_* peers must be refused. "
            "x25519_fingerprints: fingerprint = X25519(01 02 .. 20, public), null for a key "
            "that must be refused; *_inverse_alias is 1/u mod p (the point of order 2 added), "
            "the same key to X25519 and so the same fingerprint. hkdf: HKDF-SHA256(ikm, salt, "
            "info) with 32 bytes of output (64 for share-enc); info = 'secagg/v2/' || purpose "
            "|| u32(id)..., the pair-mask and share-enc ids as (min, max); share-enc's output is "
            "k_{min->max} || k_{max->min}."
        ),
        "configs": configs,
        "config_decode": decode,
        "labeled_sha256": labeled,
        "x25519_keypairs": keypairs,
        "x25519_agreements": agreements,
        "x25519_fingerprints": fingerprints,
        "hkdf": hkdf,
    }


_CONFIG_LAYOUT = struct.Struct(">BBIIIBI")


def encoding(
    version: int, mode: int, n: int, t: int, m: int, b: int, k: int, digest: bytes, nonce: bytes
) -> bytes:
    return _CONFIG_LAYOUT.pack(version, mode, n, t, m, b, k) + digest + nonce


def config_decode_cases(r: Drbg, mal: Setup) -> list[Json]:
    """The 83-byte configuration as a client receives it (SPEC 2, 13): decoded with the roster
    the client trusts and its own policy."""
    assert mal.cfg.roster is not None
    roster = mal.cfg.roster
    nonce = r(32)
    zero = bytes(32)
    cases: list[Json] = []

    def case(
        name: str,
        data: bytes,
        *rules: str,
        trusted: Roster | None = None,
        weak: bool = False,
    ) -> None:
        entry: Json = {
            "name": name,
            "encoded": data.hex(),
            "trusted_roster": None if trusted is None else hexs(trusted.public_keys),
            "allow_weak_threshold": weak,
        }
        try:
            cfg = RoundConfig.decode(data, roster=trusted, allow_weak_threshold=weak)
        except ConfigError:
            assert "_bad_" in name, name
            failure(entry, "ConfigError")
        else:
            assert "_bad_" not in name, name
            assert cfg.encode() == data
            entry.update(success=True, config=config_json(cfg))
        cases.append(tag(entry, *rules))

    rng_ = ("2.config-range",)
    case("config_decode_semi_complete", encoding(2, 0, 5, 3, 10, 16, 0, zero, nonce), *rng_)
    case("config_decode_semi_secaggplus", encoding(2, 0, 12, 4, 10, 16, 6, zero, nonce), *rng_)
    case(
        "config_decode_malicious",
        mal.cfg.encode(),
        *rng_,
        trusted=roster,
    )
    case(
        "config_decode_limits",
        encoding(2, 0, MAX_CLIENTS, MAX_CLIENTS // 2 + 1, MAX_DIM, 64, 0, zero, nonce),
        *rng_,
    )
    case("config_decode_bits_1", encoding(2, 0, 3, 2, 1, 1, 0, zero, nonce), *rng_)
    case("config_decode_bad_82_bytes", mal.cfg.encode()[:-1], *rng_, trusted=roster)
    case("config_decode_bad_84_bytes", mal.cfg.encode() + b"\x00", *rng_, trusted=roster)
    bad = {
        "version_1": (1, 0, 5, 3, 10, 16, 0),
        "version_3": (3, 0, 5, 3, 10, 16, 0),
        "mode_2": (2, 2, 5, 3, 10, 16, 0),
        "n_0": (2, 0, 0, 1, 10, 16, 0),
        "n_above_2_20": (2, 0, MAX_CLIENTS + 1, MAX_CLIENTS // 2 + 1, 10, 16, 0),
        "t_0": (2, 0, 5, 0, 10, 16, 0),
        "t_above_n": (2, 0, 5, 6, 10, 16, 0),
        "t_above_k_plus_1": (2, 0, 12, 6, 10, 16, 4),
        "m_0": (2, 0, 5, 3, 0, 16, 0),
        "m_above_2_31": (2, 0, 5, 3, MAX_DIM + 1, 16, 0),
        "b_0": (2, 0, 5, 3, 10, 0, 0),
        "b_65": (2, 0, 5, 3, 10, 65, 0),
        "k_odd": (2, 0, 12, 3, 10, 16, 5),
        "k_1": (2, 0, 12, 2, 10, 16, 1),
        "k_n_minus_1": (2, 0, 12, 7, 10, 16, 11),
    }
    for what, fields in bad.items():
        case(f"config_decode_bad_{what}", encoding(*fields, zero, nonce), *rng_, weak=True)
    case(
        "config_decode_bad_semi_with_roster_digest",
        encoding(2, 0, 4, 3, 5, 32, 0, roster.digest, nonce),
        *rng_,
    )
    other = Roster((roster.public_keys[1], roster.public_keys[0], *roster.public_keys[2:]))
    case("config_decode_bad_untrusted_roster", mal.cfg.encode(), *rng_, trusted=other)
    case("config_decode_bad_malicious_without_roster", mal.cfg.encode(), *rng_)
    # The client's own threshold policy, not the server's (SPEC 2, 13).
    pol = ("2.policy", "13.client-policy")
    case("config_decode_bad_policy_t_half", encoding(2, 0, 6, 3, 5, 16, 0, zero, nonce), *pol)
    case("config_decode_policy_t_half_opted_out", encoding(2, 0, 6, 3, 5, 16, 0, zero, nonce),
         *pol, weak=True)  # fmt: skip
    case("config_decode_bad_policy_n_2", encoding(2, 0, 2, 2, 5, 16, 0, zero, nonce), *pol)
    case(
        "config_decode_bad_policy_secaggplus_t_half",
        encoding(2, 0, 12, 3, 5, 16, 6, zero, nonce),
        *pol,
    )
    return cases


# --------------------------------------------------------------------------- prg.json


def prg_file() -> Json:
    r = rng("prg")
    seeds = [r(32) for _ in range(3)]
    keys_ = [r(32) for _ in range(4)]
    derived: list[Json] = []
    for i, (seed, label) in enumerate(
        [
            (seeds[0], b"graph"),
            (seeds[0], b"rounding"),
            (seeds[1], b"drbg/secagg"),
            (seeds[2], b""),
        ]
    ):
        key = prg.prg_key(seed, label)
        derived.append(
            tag(
                {
                    "name": f"prg_key_{i}_{label.decode().replace('/', '_') or 'empty'}",
                    "seed": seed.hex(),
                    "label": label.decode(),
                    "info": (V + b"prg/" + label).hex(),
                    "key": key.hex(),
                },
                "7.1.prg-key",
            )
        )
    specs: list[tuple[int, int, int, int]] = [
        (0, 1, 0, 1000),
        (0, 7, 0, 1000),
        (0, 7, 3, 997),
        (1, 16, 0, 1000),
        (1, 16, 5, 64),
        (1, 32, 0, 1000),
        (1, 32, 1_000_003, 64),
        (2, 33, 0, 1000),
        (2, 33, 1, 17),
        (2, 48, 3, 5),
        (3, 64, 0, 1000),
        (3, 64, 3, 1),
        (3, 64, 2**31 - 8, 8),
    ]
    streams = []
    for key_index, bits, start, length in specs:
        key = keys_[key_index]
        out = prg.expand(key, length, bits, start=start)
        if start < 4096:
            whole = prg.expand(key, start + length, bits)
            assert np.array_equal(whole[start:], out)
        width = 4 if bits <= 32 else 8
        streams.append(
            tag(
                {
                    "name": f"stream_key{key_index}_b{bits}_start{start}_len{length}",
                    "key": key.hex(),
                    "bits": bits,
                    "width": width,
                    "start": start,
                    "length": length,
                    "first_block": start * width // 16,
                    "skip": start * width % 16,
                    "first": ints(out[:16]),
                    "sha256": plain_sha256(out.tobytes()),
                },
                "7.1.prg",
                "1.byte-order",
            )
        )
    # The rounding and graph streams as their users read them: from a seed, b = 64.
    for name, seed, label, length in (
        ("stream_graph", seeds[0], b"graph", 24),
        ("stream_rounding", seeds[0], b"rounding", 12),
    ):
        out = prg.expand_seed(seed, length, 64, label=label)
        streams.append(
            tag(
                {
                    "name": name,
                    "key": prg.prg_key(seed, label).hex(),
                    "seed": seed.hex(),
                    "label": label.decode(),
                    "bits": 64,
                    "width": 8,
                    "start": 0,
                    "length": length,
                    "first_block": 0,
                    "skip": 0,
                    "first": ints(out[:16]),
                    "sha256": plain_sha256(out.tobytes()),
                },
                "7.1.prg",
                "7.1.prg-key",
            )
        )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "The PRG (SPEC.md section 7.1). prg_keys: key = HKDF-SHA256(ikm=seed, no salt "
            "(32 zero bytes), info='secagg/v2/prg/' || label), for the labels 'graph', "
            "'rounding' and 'drbg/...'. streams: the stream named by the 32-byte AES key: "
            "AES-256-CTR keystream under key with a 128-bit big-endian counter block starting "
            "at 0; element i is the width-byte little-endian integer at keystream offset i * "
            "width (width 4 for bits <= 32, else 8), reduced mod 2^bits. Each case lists "
            "elements [start, start + length): the first (up to) 16 as integers and the plain "
            "SHA-256 of all of them encoded little-endian at the same width; first_block and "
            "skip say where element start begins in the keystream."
        ),
        "prg_keys": derived,
        "streams": streams,
    }


# --------------------------------------------------------------------------- graph.json


def graph_file() -> Json:
    r = rng("graph")
    cases: list[Json] = []
    for n, k in ((5, 2), (8, 4), (8, 4), (10, 6), (16, 4), (24, 8), (7, 4), (40, 10)):
        nonce = r(32)
        t = (k + 1) // 2 + 1
        cfg = RoundConfig(num_clients=n, threshold=t, dim=1, bits=8, session_nonce=nonce,
                          neighbors=k)  # fmt: skip
        graph = graph_for(cfg)
        assert isinstance(graph, HararyGraph)
        draws = prg.expand(prg.prg_key(cfg.session_id, b"graph"), n, 64)
        order = sorted(range(n), key=lambda i: (int(draws[i]), i))
        assert order == graph.order.tolist()
        neighbors = []
        for u in range(n):
            pos = order.index(u)
            near = sorted({order[(pos + d) % n] for d in range(-k // 2, k // 2 + 1) if d != 0})
            assert near == graph.neighbors(u) and len(near) == k
            assert all(u in graph.neighbors(v) for v in near)
            neighbors.append(near)
        cases.append(
            tag(
                {
                    "name": f"graph_n{n}_k{k}_{len(cases)}",
                    "num_clients": n,
                    "neighbors": k,
                    "config": config_json(cfg),
                    "graph_key": prg.prg_key(cfg.session_id, b"graph").hex(),
                    "draws": ints(draws),
                    "order": order,
                    "neighborhoods": neighbors,
                },
                "7.2.graph",
                "7.1.prg-key",
            )
        )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "The SecAgg+ masking graph (SPEC.md section 7.2). For a configuration with k "
            "neighbours: graph_key = prg_key(session_id, 'graph'); draws[i] = element i of "
            "that stream read with b = 64 (uint64 little-endian), i = 0 .. n-1; order = the "
            "ids sorted by (draws[i], i); neighborhoods[u] = the k ids at ring distance 1 .. "
            "k/2 on either side of u in order, sorted. H(u) is u with neighborhoods[u]."
        ),
        "cases": cases,
    }


# --------------------------------------------------------------------------- shamir.json


def limbs_of(secret: bytes) -> list[int]:
    """SPEC 8.1: S_j = floor(S / 2^(30 j)) mod 2^30, j = 0 .. 8."""
    value = int.from_bytes(secret, "big")
    return [(value >> (30 * j)) % (1 << 30) for j in range(9)]


def coefficient(rand: bytes, q: int, i: int, j: int, t: int) -> int:
    """a_{j,i} of secret q: 16-byte chunk (q (t - 1) + (i - 1)) * 9 + j, big-endian, mod p."""
    chunk = (q * (t - 1) + (i - 1)) * 9 + j
    return int.from_bytes(rand[16 * chunk : 16 * chunk + 16], "big") % P


def evaluate(coeffs: Sequence[int], x: int) -> int:
    return sum(c * pow(x, i, P) for i, c in enumerate(coeffs)) % P


def lagrange(xs: Sequence[int]) -> list[int]:
    out = []
    for i, xi in enumerate(xs):
        num = den = 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % P
                den = den * (xj - xi) % P
        out.append(num * pow(den, P - 2, P) % P)
    return out


def share_hex(limbs: Sequence[int]) -> str:
    return b"".join(u32(int(v)) for v in limbs).hex()


def shamir_file() -> Json:
    r = rng("shamir")
    limb_cases = []
    for name, secret in (
        ("limbs_zero", bytes(32)),
        ("limbs_max", b"\xff" * 32),
        ("limbs_one", bytes(31) + b"\x01"),
        ("limbs_top_byte", b"\x80" + bytes(31)),
        ("limbs_random", r(32)),
    ):
        limbs = limbs_of(secret)
        assert limbs == ints(shamir.secret_limbs([secret])[0])
        assert shamir.limbs_secret(np.array(limbs, dtype=np.uint64)) == secret
        limb_cases.append(
            tag({"name": name, "secret": secret.hex(), "limbs": limbs}, "8.1.sharing")
        )

    specs: list[tuple[str, list[bytes], int, list[int], list[list[int]]]] = [
        ("sharing_t1", [r(32)], 1, [1, 2, 3], [[2], [3]]),
        ("sharing_t2_zero_secret", [bytes(32)], 2, [1, 2, 1 << 20], [[1, 2], [1 << 20, 1]]),
        ("sharing_t3_two_secrets", [r(32), r(32)], 3, [1, 2, 3, 4, 5], [[1, 2, 3], [5, 2, 4]]),
        ("sharing_t4_max_secret", [b"\xff" * 32], 4, list(range(1, 8)), [[1, 2, 3, 4],
                                                                           [4, 5, 6, 7]]),
        ("sharing_t5", [r(32)], 5, [3, 5, 8, 13, 21, 34], [[3, 5, 8, 13, 21],
                                                            [34, 21, 13, 8, 5]]),
        ("sharing_t3_large_x", [r(32), r(32)], 3, [1, 1 << 20, P - 1], [[1, 1 << 20, P - 1]]),
    ]  # fmt: skip
    sharings = []
    for name, secrets, t, xs, subsets in specs:
        rand = r(shamir.rand_size(t, len(secrets)))
        shares = shamir.share(secrets, xs, t, rand)
        coeffs = [
            [[coefficient(rand, q, i, j, t) for i in range(1, t)] for j in range(9)]
            for q in range(len(secrets))
        ]
        for q, secret in enumerate(secrets):
            limbs = limbs_of(secret)
            for xi, x in enumerate(xs):
                expect = [evaluate([limbs[j], *coeffs[q][j]], x) for j in range(9)]
                assert ints(shares[q, xi]) == expect
        reconstructions = []
        for subset in subsets:
            lam = lagrange(subset)
            assert ints(shamir.lagrange_at_zero(tuple(subset))) == lam
            values = []
            for q, secret in enumerate(secrets):
                points = [(x, shares[q, xs.index(x)]) for x in subset]
                assert shamir.reconstruct(points) == secret
                values.append(secret.hex())
            reconstructions.append({"xs": subset, "lagrange": lam, "secrets": values})
        sharings.append(
            tag(
                {
                    "name": name,
                    "secrets": hexs(secrets),
                    "threshold": t,
                    "xs": xs,
                    "rand": rand.hex(),
                    "coefficients": coeffs,
                    "shares": [[share_hex(shares[q, i]) for i in range(len(xs))]
                               for q in range(len(secrets))],
                    "reconstructions": reconstructions,
                },
                "8.1.sharing",
                "8.2.reconstruct",
            )
        )  # fmt: skip

    decode: list[Json] = []
    for name, raw, ok in (
        ("share_decode_zero", bytes(36), True),
        ("share_decode_p_minus_1", u32(P - 1) * 9, True),
        ("share_decode_bad_limb_0_equal_to_p", u32(P) + bytes(32), False),
        ("share_decode_bad_limb_8_equal_to_p", bytes(32) + u32(P), False),
        ("share_decode_bad_limb_all_ones", bytes(16) + b"\xff" * 4 + bytes(16), False),
        ("share_decode_bad_35_bytes", bytes(35), False),
        ("share_decode_bad_37_bytes", bytes(37), False),
    ):
        entry: Json = {"name": name, "share": raw.hex()}
        try:
            decoded = shamir.decode_share(raw)
        except ValueError:
            assert not ok
            failure(entry, "ValueError")
        else:
            assert ok
            entry.update(success=True, limbs=ints(decoded))
        decode.append(tag(entry, "8.2.share-decode"))

    # Points that are no sharing of a 32-byte secret: some limb rebuilds out of range.
    bad: list[Json] = []
    xs = [1, 2, 3]
    base = shamir.share([r(32)], xs, 3, r(shamir.rand_size(3)))[0]
    lam = lagrange(xs)
    for name, limb, target, ok in (
        ("reconstruct_limb_0_at_2_30_minus_1", 0, (1 << 30) - 1, True),
        ("reconstruct_bad_limb_0_at_2_30", 0, 1 << 30, False),
        ("reconstruct_bad_limb_3_at_p_minus_1", 3, P - 1, False),
        ("reconstruct_limb_8_at_2_16_minus_1", 8, (1 << 16) - 1, True),
        ("reconstruct_bad_limb_8_at_2_16", 8, 1 << 16, False),
    ):
        ys = base.copy()
        current = sum(lam[i] * int(ys[i, limb]) for i in range(3)) % P
        # Move the third point so limb `limb` rebuilds to `target`.
        delta = (target - current) * pow(lam[2], P - 2, P) % P
        ys[2, limb] = (int(ys[2, limb]) + delta) % P
        shown = [{"x": x, "share": share_hex(ys[i])} for i, x in enumerate(xs)]
        rebuilt = ints(shamir.combine(shamir.lagrange_at_zero(tuple(xs)), ys))
        assert rebuilt[limb] == target
        entry = {"name": name, "points": shown, "limbs": rebuilt}
        try:
            secret = shamir.reconstruct([(x, ys[i]) for i, x in enumerate(xs)])
        except shamir.InconsistentShares:
            assert not ok
            failure(entry, "InconsistentShares")
        else:
            assert ok
            entry.update(success=True, secret=secret.hex())
        bad.append(tag(entry, "8.2.reconstruct"))
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Limb Shamir sharing over GF(p), p = 2^31 - 1 (SPEC.md section 8). limbs: S read "
            "big-endian, S_j = floor(S / 2^(30 j)) mod 2^30 for j = 0..8. sharings: limb j of "
            "secret q is shared with f_j(x) = S_j + sum_i a_{j,i} x^i (degree t - 1); "
            "coefficients[q][j][i-1] = a_{j,i} = the 16-byte chunk number (q (t-1) + (i-1)) * "
            "9 + j of rand, big-endian, mod p. shares[q][k] is the 36-byte share at xs[k] "
            "(9 limbs, u32 big-endian). reconstructions: the Lagrange coefficients at 0 of "
            "xs (lambda_i = prod_{l != i} x_l / (x_l - x_i) mod p) and the secrets they "
            "rebuild. share_decode: a limb >= p must be refused. reconstruct: t points whose "
            "rebuilt limbs (listed) are or are not in range (< 2^30, limb 8 < 2^16); "
            "*_bad_* are no 32-byte secret."
        ),
        "limbs": limb_cases,
        "sharings": sharings,
        "share_decode": decode,
        "reconstruct": bad,
    }


# --------------------------------------------------------------------------- commit.json


def commit_file() -> Json:
    r = rng("commit")
    sid, other = r(32), r(32)
    share_a = share_hex([int.from_bytes(r(4), "big") % P for _ in range(9)])
    share_b = share_hex([int.from_bytes(r(4), "big") % P for _ in range(9)])
    cases: list[Json] = []
    for name, s, owner, holder, kind, share in (
        ("commit_key_share_of_0_held_by_1", sid, 0, 1, 0, share_a),
        ("commit_mask_share_of_0_held_by_1", sid, 0, 1, 1, share_a),
        ("commit_key_share_of_1_held_by_0", sid, 1, 0, 0, share_a),
        ("commit_key_share_of_0_held_by_1_other_session", other, 0, 1, 0, share_a),
        ("commit_own_mask_share_of_3", sid, 3, 3, 1, share_b),
        ("commit_share_zero", sid, 2, 0, 0, bytes(36).hex()),
        ("commit_share_p_minus_1", sid, 2, 3, 1, share_hex([P - 1] * 9)),
        ("commit_large_ids", sid, MAX_CLIENTS - 1, MAX_CLIENTS - 2, 1, share_b),
    ):
        raw = bytes.fromhex(share)
        preimage = s + struct.pack(">IIB", owner, holder, kind) + raw
        out = share_commitment(s, owner, holder, kind, raw)
        assert out == sha256(V + b"share-commit", preimage)
        cases.append(
            tag(
                {
                    "name": name,
                    "session_id": s.hex(),
                    "owner": owner,
                    "holder": holder,
                    "kind": KIND(kind).name,
                    "share": share,
                    "input": preimage.hex(),
                    "commitment": out.hex(),
                },
                "8.3.commitments",
            )
        )
    assert len({c["commitment"] for c in cases}) == len(cases)
    self_masks = []
    for name, s, owner, seed in (
        ("self_mask_commit_0", sid, 0, r(32)),
        ("self_mask_commit_5", sid, 5, r(32)),
        ("self_mask_commit_0_other_session", other, 0, bytes(32)),
    ):
        preimage = s + u32(owner) + seed
        out = self_mask_commitment(s, owner, seed)
        assert out == sha256(V + b"self-mask-commit", preimage)
        self_masks.append(
            tag(
                {
                    "name": name,
                    "session_id": s.hex(),
                    "owner": owner,
                    "seed": seed.hex(),
                    "input": preimage.hex(),
                    "commitment": out.hex(),
                },
                "8.3.commitments",
            )
        )
    committed = share_commitment(sid, 0, 1, 0, bytes.fromhex(share_a))
    verify_cases: list[Json] = []
    bumped = bytearray(bytes.fromhex(share_a))
    bumped[3] ^= 1
    for name, s, o, h, kind, share in (
        ("verify_matching_share", sid, 0, 1, 0, share_a),
        ("verify_bad_share_limb_changed", sid, 0, 1, 0, bytes(bumped).hex()),
        ("verify_bad_other_kind", sid, 0, 1, 1, share_a),
        ("verify_bad_other_holder", sid, 0, 2, 0, share_a),
        ("verify_bad_other_owner", sid, 2, 1, 0, share_a),
        ("verify_bad_other_session", other, 0, 1, 0, share_a),
    ):
        ok = share_commitment(s, o, h, kind, bytes.fromhex(share)) == committed
        assert ok == ("_bad_" not in name)
        entry: Json = {
            "name": name,
            "commitment": committed.hex(),
            "session_id": s.hex(),
            "owner": o,
            "holder": h,
            "kind": KIND(kind).name,
            "share": share,
        }
        if ok:
            entry["success"] = True
        else:
            failure(entry, "Drop", DropReason.BAD_SHARE)
        verify_cases.append(tag(entry, "8.3.commitments", "10.7.server-commitment"))
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Commitments (SPEC.md section 8.3). share_commitments: commitment = labeled_sha256("
            "'secagg/v2/share-commit', input), input = session_id || u32(owner) || "
            "u32(holder) || u8(kind: KEY 0, SELF_MASK 1) || 36-byte share. self_mask: C_b = "
            "labeled_sha256('secagg/v2/self-mask-commit', session_id || u32(owner) || b). "
            "verify: the server's unmasking check; a share that does not reproduce the "
            "commitment the owner made for that holder and kind drops its responder "
            "(BAD_SHARE)."
        ),
        "share_commitments": cases,
        "self_mask_commitments": self_masks,
        "verify": verify_cases,
    }


# --------------------------------------------------------------------------- aead.json


def aead_file() -> Json:
    r = rng("aead")
    sid, other = r(32), r(32)
    cases: list[Json] = []
    good = []
    for sender, recipient in ((0, 1), (1, 0), (3, 2), (MAX_CLIENTS - 1, 0)):
        shared = r(32)
        key = kdf.share_encryption_key(shared, session_id=sid, sender=sender, recipient=recipient)
        key_share = bytes.fromhex(share_hex([int.from_bytes(r(4), "big") % P for _ in range(9)]))
        mask_share = bytes.fromhex(share_hex([int.from_bytes(r(4), "big") % P for _ in range(9)]))
        plaintext = wire.encode_share_plaintext(sender, recipient, key_share, mask_share)
        ad = aead.associated_data(sid, sender, recipient)
        assert ad == V + b"share" + sid + u32(sender) + u32(recipient) and len(ad) == 55
        ciphertext = aead.seal(key, plaintext, ad)
        assert len(ciphertext) == wire.SHARE_CIPHERTEXT_SIZE
        good.append((key, sender, recipient, ciphertext))
        cases.append(
            tag(
                {
                    "name": f"seal_{sender}_to_{recipient}",
                    "c_agreement": shared.hex(),
                    "key": key.hex(),
                    "nonce": bytes(12).hex(),
                    "session_id": sid.hex(),
                    "sender": sender,
                    "recipient": recipient,
                    "associated_data": ad.hex(),
                    "key_share": key_share.hex(),
                    "mask_share": mask_share.hex(),
                    "plaintext": plaintext.hex(),
                    "ciphertext": ciphertext.hex(),
                    "success": True,
                },
                "6.4.share-ciphertext",
                "6.2.hkdf",
            )
        )
    key, sender, recipient, ciphertext = good[0]
    ad = aead.associated_data(sid, sender, recipient)
    for name, k, a, c in (
        ("open_bad_flipped_tag", key, ad, flip(ciphertext, len(ciphertext) - 1)),
        ("open_bad_flipped_ciphertext", key, ad, flip(ciphertext, 0)),
        ("open_bad_truncated", key, ad, ciphertext[:-1]),
        ("open_bad_swapped_ids", key, aead.associated_data(sid, recipient, sender), ciphertext),
        ("open_bad_other_session", key, aead.associated_data(other, sender, recipient),
         ciphertext),
        ("open_bad_wrong_key", good[1][0], ad, ciphertext),
    ):  # fmt: skip
        try:
            aead.open_(k, c, a)
        except aead.AuthenticationError:
            pass
        else:  # pragma: no cover
            raise AssertionError(name)
        cases.append(
            tag(
                failure(
                    {
                        "name": name,
                        "key": k.hex(),
                        "nonce": bytes(12).hex(),
                        "associated_data": a.hex(),
                        "ciphertext": c.hex(),
                    },
                    "AuthenticationError",
                ),
                "6.4.decryption-failures",
            )
        )
    # The plaintext checks after a tag that verifies (SPEC 6.4): the ids and the limbs.
    ks = bytes.fromhex(share_hex([int.from_bytes(r(4), "big") % P for _ in range(9)]))
    plaintext = wire.encode_share_plaintext(2, 0, ks, u32(P - 1) * 9)
    plaintexts: list[Json] = [
        tag(
            {
                "name": "plaintext_2_to_0",
                "sender": 2,
                "recipient": 0,
                "plaintext": plaintext.hex(),
                "success": True,
                "key_share": ks.hex(),
                "mask_share": (u32(P - 1) * 9).hex(),
            },
            "6.4.share-ciphertext",
        )
    ]
    for name, data, s, v in (
        ("plaintext_bad_other_sender", plaintext, 1, 0),
        ("plaintext_bad_swapped_ids", plaintext, 0, 2),
        ("plaintext_bad_short", plaintext[:-1], 2, 0),
        ("plaintext_bad_long", plaintext + b"\x00", 2, 0),
        ("plaintext_bad_key_share_limb_equal_to_p", plaintext[:8] + u32(P) + plaintext[12:], 2, 0),
        ("plaintext_bad_mask_share_limb_all_ones", plaintext[:-4] + b"\xff" * 4, 2, 0),
    ):
        try:
            wire.decode_share_plaintext(data, s, v)
        except DecodeError as exc:
            assert exc.reason is DropReason.BAD_CIPHERTEXT
        else:  # pragma: no cover
            raise AssertionError(name)
        plaintexts.append(
            tag(
                failure(
                    {"name": name, "sender": s, "recipient": v, "plaintext": data.hex()},
                    "DecodeError",
                    DropReason.BAD_CIPHERTEXT,
                ),
                "6.4.decryption-failures",
                "8.2.share-decode",
            )
        )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Share ciphertexts (SPEC.md section 6.4). key = k_{u->v}: of the 64 bytes of "
            "HKDF(c_agreement, salt session_id, info 'secagg/v2/share-enc' || u32(min) || "
            "u32(max)), the first 32 when sender < recipient, else the last 32; nonce "
            "12 zero bytes; associated_data = 'secagg/v2/share' || session_id || "
            "u32(sender) || u32(recipient) (55 bytes); plaintext = u32(sender) || "
            "u32(recipient) || key_share (36) || mask_share (36); ciphertext = AES-256-GCM "
            "output || 16-byte tag (96 bytes). open_bad_*: must fail to authenticate. "
            "plaintexts: what the recipient checks after the tag verifies (ids exactly "
            "(sender, recipient), 80 bytes, every limb < p); *_bad_* make the recipient accuse "
            "the sender (BAD_CIPHERTEXT, SPEC 10.4)."
        ),
        "cases": cases,
        "plaintexts": plaintexts,
    }


# --------------------------------------------------------------------------- sign.json

ED25519_L = 2**252 + 27742317777372353535851937790883648493


def sign_file() -> Json:
    r = rng("sign")
    key_cases = []
    secret_list = [r(32) for _ in range(4)]
    keys = [SigningKey.from_secret(s) for s in secret_list]
    for i, (secret, key) in enumerate(zip(secret_list, keys, strict=True)):
        key_cases.append(
            tag(
                {"name": f"ed25519_key_{i}", "secret": secret.hex(), "public": key.public.hex()},
                "6.3.ed25519",
            )
        )
    sid, other_sid = r(32), r(32)
    c_pub, s_pub = r(32), r(32)
    n = 11
    u3 = wire.IdSet.of([0, 2, 3, 7, 10], n)
    messages: list[Json] = []
    adv_parts = (sid, u32(5), c_pub, s_pub)
    cons_parts = (sid, u3.bitmap)
    for name, label, parts, key in (
        ("advertise_5", V + b"advertise", adv_parts, keys[0]),
        ("consistency_n11", V + b"consistency", cons_parts, keys[1]),
    ):
        message = signed_message(label, *parts)
        assert message == len(label).to_bytes(2, "big") + label + b"".join(parts)
        sig = key.sign(label, *parts)
        assert verify(key.public, sig, label, *parts)
        entry: Json = {
            "name": name,
            "public": key.public.hex(),
            "label": label.decode(),
            "message": message.hex(),
            "signature": sig.hex(),
            "success": True,
        }
        if label.endswith(b"advertise"):
            entry.update(session_id=sid.hex(), client=5, c_public=c_pub.hex(), s_public=s_pub.hex())
        else:
            entry.update(
                session_id=sid.hex(), num_clients=n, u3=u3.ids(), u3_bitmap=u3.bitmap.hex()
            )
        messages.append(tag(entry, "6.3.ed25519", "5.4.advertise-keys",
                            "5.11.consistency"))  # fmt: skip
    adv_sig = keys[0].sign(V + b"advertise", *adv_parts)
    adv_msg = signed_message(V + b"advertise", *adv_parts)
    s_value = int.from_bytes(adv_sig[32:], "little")
    non_canonical = adv_sig[:32] + (s_value + ED25519_L).to_bytes(32, "little")
    invalid = [
        ("signature_bad_flipped_signature_bit", keys[0].public, flip(adv_sig, 10), adv_msg),
        ("signature_bad_flipped_s_bit", keys[0].public, flip(adv_sig, 40), adv_msg),
        ("signature_bad_other_key", keys[1].public, adv_sig, adv_msg),
        ("signature_bad_other_label", keys[0].public, adv_sig,
         signed_message(V + b"consistency", *adv_parts)),
        ("signature_bad_other_session", keys[0].public, adv_sig,
         signed_message(V + b"advertise", other_sid, *adv_parts[1:])),
        ("signature_bad_other_client", keys[0].public, adv_sig,
         signed_message(V + b"advertise", sid, u32(6), c_pub, s_pub)),
        ("signature_bad_s_plus_l", keys[0].public, non_canonical, adv_msg),
        ("signature_bad_zero_signature", keys[0].public, bytes(64), adv_msg),
        ("signature_bad_63_bytes", keys[0].public, adv_sig[:63], adv_msg),
    ]  # fmt: skip
    verify_cases: list[Json] = []
    for name, public, sig, msg in invalid:
        # The label framing is inside msg: verify the raw message with an empty label part.
        assert not _verify_raw(public, sig, msg), name
        verify_cases.append(
            tag(
                failure(
                    {
                        "name": name,
                        "public": public.hex(),
                        "message": msg.hex(),
                        "signature": sig.hex(),
                    },
                    "invalid",
                ),
                "6.3.signature-invalid",
            )
        )
    rosters: list[Json] = []
    for name, publics in (
        ("roster_4", [k.public for k in keys]),
        ("roster_1", [keys[2].public]),
    ):
        roster = Roster(tuple(publics))
        assert roster.digest == sha256(V + b"roster", b"".join(publics))
        rosters.append(
            tag(
                {"name": name, "keys": hexs(publics), "digest": roster.digest.hex(),
                 "success": True},
                "2.roster-digest",
            )
        )  # fmt: skip
    not_a_point = _non_point()
    identity = b"\x01" + bytes(31)
    for name, publics in (
        ("roster_bad_repeated_key", [keys[0].public, keys[1].public, keys[0].public]),
        ("roster_bad_short_key", [keys[0].public, keys[1].public[:31]]),
        ("roster_bad_empty", []),
        # The identity verifies the signature (identity, 0) on every message: anyone could sign.
        ("roster_bad_small_order_key", [keys[0].public, identity]),
        ("roster_bad_key_not_a_point", [keys[0].public, not_a_point]),
        ("roster_bad_non_canonical_key", [keys[0].public, (P25519 + 1).to_bytes(32, "little")]),
    ):
        try:
            Roster(tuple(publics))
        except RosterError:
            pass
        else:  # pragma: no cover
            raise AssertionError(name)
        rosters.append(
            tag(failure({"name": name, "keys": hexs(publics)}, "RosterError"), "2.roster-digest")
        )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Ed25519 (RFC 8032) signatures of the malicious mode (SPEC.md sections 2, 5.4, "
            "5.11, 6.3). keys: public = Ed25519 public key of the 32-byte secret. messages: "
            "message = labeled(label, parts) = u16(len(label)) || label || parts; the "
            "advertisement signs session_id || u32(client) || c_public || s_public, the "
            "consistency signature session_id || U3 bitmap; signature = Ed25519-Sign(secret, "
            "message), deterministic. verify: *_bad_* signatures must be treated as invalid "
            "(S + L is the non-canonical S of a valid signature). rosters: digest = "
            "labeled_sha256('secagg/v2/roster', keys...); *_bad_* rosters must be refused "
            "(repeated, short, no key, small order, not a curve point, non-canonical)."
        ),
        "keys": key_cases,
        "messages": messages,
        "verify": verify_cases,
        "rosters": rosters,
    }


def _verify_raw(public: bytes, signature: bytes, message: bytes) -> bool:
    """Ed25519 verification of an already framed message (verify() frames it itself)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _non_point() -> bytes:
    """The smallest y whose encoding is no Ed25519 point (x^2 has no square root)."""
    p = P25519
    d = -121665 * pow(121666, p - 2, p) % p
    for y in range(2, 100):
        x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
        if x2 and pow(x2, (p - 1) // 2, p) != 1:
            return y.to_bytes(32, "little")
    raise AssertionError("no non-point found")  # pragma: no cover


# --------------------------------------------------------------------------- quantize.json


def float_json(value: float) -> float | str:
    """A float64 as a JSON number, or "inf" / "-inf" / "nan"."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def quantize_file() -> Json:
    r = rng("quantize")
    configs: list[Json] = []
    for name, n, c, L, modulus in (  # noqa: N806
        ("qconfig_default_modulus", 100, 8.0, 1 << 22, None),
        ("qconfig_default_modulus_power_of_two", 4, 1.0, 1 << 20, None),
        ("qconfig_default_modulus_n1_l1", 1, 0.5, 1, None),
        ("qconfig_just_fits", 3, 2.0, 5, 16),
        ("qconfig_bad_sum_equals_modulus", 4, 2.0, 4, 16),
        ("qconfig_bad_sum_above_modulus", 5, 2.0, 4, 16),
        ("qconfig_max_l", 1, 1.0, 1 << 53, None),
        ("qconfig_bad_l_above_2_53", 1, 1.0, (1 << 53) + 1, None),
        ("qconfig_bad_l_zero", 1, 1.0, 0, None),
        ("qconfig_bad_default_above_2_64", 1 << 12, 1.0, 1 << 53, None),
        ("qconfig_modulus_2_64", 1 << 10, 1.0, 1 << 53, 1 << 64),
    ):
        entry: Json = {
            "name": name,
            "num_clients": n,
            "clipping_range": c,
            "quantization_range": L,
            "modulus_range": modulus,
        }
        try:
            qc = QuantizationConfig(n, c, L, modulus)
        except ConfigError:
            assert "_bad_" in name
            failure(entry, "ConfigError")
        else:
            assert "_bad_" not in name
            if modulus is None:
                assert qc.bits == (n * L).bit_length()
            entry.update(success=True, bits=qc.bits)
        rules = ["12.1.refuse-overflow"] + (["12.1.default-modulus"] if modulus is None else [])
        configs.append(tag(entry, *rules))

    cases: list[Json] = []
    specs: list[tuple[str, list[float], float, int]] = [
        ("quantize_small", [-1.0, -0.5, 0.0, 0.25, 0.3, 1.0, 0.999999], 1.0, 1 << 10),
        ("quantize_clipped_and_infinite",
         [-3.0, 2.5, float("inf"), float("-inf"), 1.0, -1.0, 0.1], 2.0, 100),
        ("quantize_l1", [-0.5, 0.5, 0.0, 0.2, -0.2], 0.5, 1),
        ("quantize_large_l", [0.123456789, -7.99999999, 8.0, 3.3], 8.0, 1 << 52),
    ]  # fmt: skip
    raw = np.frombuffer(rng("quantize/values")(8 * 40), dtype="<u8")
    specs.append(("quantize_random", [float(v) for v in raw / 2.0**64 * 6 - 3], 2.5, 1 << 16))
    for name, values, c, L in specs:  # noqa: N806
        seed = r(32)
        qc = QuantizationConfig(8, c, L)
        out = quantize(np.array(values), qc, seed)
        x = np.array(values, dtype=np.float64)
        clipped = np.clip(x, -c, c)
        s = (clipped / c + 1.0) * (L / 2.0)
        key = prg.prg_key(seed, b"rounding")
        draws = prg.expand(key, len(values), 64)
        r53 = draws >> np.uint64(11)
        u = r53.astype(np.float64) * 2.0**-53
        low = np.floor(s)
        q = np.minimum(low + (u < s - low), L)
        assert ints(q) == ints(out.values)
        assert out.clipped == int(np.count_nonzero((x < -c) | (x > c)))
        cases.append(
            tag(
                {
                    "name": name,
                    "num_clients": 8,
                    "clipping_range": c,
                    "quantization_range": L,
                    "bits": qc.bits,
                    "rounding_seed": seed.hex(),
                    "rounding_key": key.hex(),
                    "x": [float_json(v) for v in values],
                    "scaled": [float(v) for v in s],
                    "draws": ints(draws),
                    "uniform": [float(v) for v in u],
                    "q": ints(out.values),
                    "clipped": out.clipped,
                    "success": True,
                },
                "12.2.quantize",
                "7.1.prg-key",
            )
        )
    for name, values in (
        ("quantize_bad_nan", [0.0, float("nan"), 1.0]),
        ("quantize_bad_nan_only", [float("nan")]),
    ):
        seed = r(32)
        try:
            quantize(np.array(values), QuantizationConfig(8, 1.0, 16), seed)
        except ConfigError:
            pass
        else:  # pragma: no cover
            raise AssertionError(name)
        cases.append(
            tag(
                failure(
                    {
                        "name": name,
                        "num_clients": 8,
                        "clipping_range": 1.0,
                        "quantization_range": 16,
                        "rounding_seed": seed.hex(),
                        "x": [float_json(v) for v in values],
                    },
                    "ConfigError",
                ),
                "12.2.quantize",
            )
        )
    dequant: list[Json] = []
    for name, totals, count, c, L in (  # noqa: N806
        ("dequantize_sum", [0, 1, 512, 1023, 2048], 2, 1.0, 1 << 10),
        ("dequantize_at_the_bound", [0, 300], 3, 2.0, 100),
        ("dequantize_bad_above_count_l", [0, 301], 3, 2.0, 100),
        ("dequantize_bad_count_0", [1], 0, 1.0, 10),
        ("dequantize_large", [(1 << 52) * 5, 12345678901234], 5, 8.0, 1 << 52),
    ):
        qc = QuantizationConfig(max(count, 1), c, L)
        entry = {
            "name": name,
            "totals": totals,
            "count": count,
            "clipping_range": c,
            "quantization_range": L,
        }
        try:
            sums = dequantize_sum(np.array(totals, dtype=np.uint64), count, qc)
        except ProtocolAbort as exc:
            assert "_bad_" in name and exc.reason is AbortReason.AGGREGATE_OUT_OF_RANGE
            failure(entry, "ProtocolAbort", exc.reason)
        else:
            assert "_bad_" not in name
            step = 2.0 * c / L
            assert [float(v) for v in sums] == [t * step - count * c for t in totals]
            entry.update(success=True, sum=[float(v) for v in sums])
        dequant.append(tag(entry, "12.3.dequantize", "12.3.out-of-range", "11.reason-codes"))
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "The float layer (SPEC.md section 12). configs: (num_clients n, clipping_range c, "
            "quantization_range L, modulus_range or null) -> bits b; without a modulus b is "
            "the bit length of n L; *_bad_* must be refused (n L >= 2^b, L outside [1, 2^53], "
            "n L >= 2^64 without a modulus). quantize: x (float64; 'inf', '-inf', 'nan' as "
            "strings) -> scaled s_i = (clip(x_i) / c + 1) * (L / 2); draws = elements of the "
            "stream rounding_key = prg_key(rounding_seed, 'rounding') read with b = 64; "
            "uniform u_i = (draws_i >> 11) * 2^-53; q_i = min(floor(s_i) + (u_i < s_i - "
            "floor(s_i)), L); clipped counts the x_i outside [-c, c]. NaN must be refused. "
            "dequantize: the ring sum totals of count clients -> sum_i = totals_i * (2c / L) - "
            "count * c in float64; a total above count * L must be refused "
            "(AGGREGATE_OUT_OF_RANGE)."
        ),
        "configs": configs,
        "quantize": cases,
        "dequantize": dequant,
    }


# --------------------------------------------------------------------------- wire.json

DECODERS: dict[MT, Callable[..., Any]] = {
    MT.ADVERTISE_KEYS: wire.decode_advertise_keys,
    MT.KEY_LIST: wire.decode_key_list,
    MT.SHARE_KEYS: wire.decode_share_keys,
    MT.SHARE_FORWARD: wire.decode_share_forward,
    MT.SHARE_CHECK: wire.decode_share_check,
    MT.MASK_REQUEST: wire.decode_mask_request,
    MT.MASKED_INPUT: wire.decode_masked_input,
    MT.CONSISTENCY_REQUEST: wire.decode_consistency_request,
    MT.CONSISTENCY_RESPONSE: wire.decode_consistency_response,
    MT.UNMASK_REQUEST: wire.decode_unmask_request,
    MT.UNMASK_RESPONSE: wire.decode_unmask_response,
}
UPSTREAM = {MT.ADVERTISE_KEYS, MT.SHARE_KEYS, MT.SHARE_CHECK, MT.MASKED_INPUT,
            MT.CONSISTENCY_RESPONSE, MT.UNMASK_RESPONSE}  # fmt: skip
"""Client -> server types; the others go server -> client."""
REPLY_TO = {
    MT.SHARE_KEYS: MT.KEY_LIST,
    MT.SHARE_CHECK: MT.SHARE_FORWARD,
    MT.MASKED_INPUT: MT.MASK_REQUEST,
    MT.CONSISTENCY_RESPONSE: MT.CONSISTENCY_REQUEST,
    MT.UNMASK_RESPONSE: MT.UNMASK_REQUEST,
}
"""Each reply and the prompt whose digest it echoes (SPEC 5.3)."""


def decode_message(kind: MT, data: bytes, cfg: RoundConfig, sender: int, recipient: int) -> Any:
    """Decode ``data`` as ``kind`` arriving on the channel sender -> recipient."""
    party = sender if kind in UPSTREAM else recipient
    return DECODERS[kind](data, cfg, party)


def decoded_json(msg: Any) -> Json:
    """The decoded fields of a message, as the vectors spell them."""
    if isinstance(msg, wire.AdvertiseKeys):
        return {
            "c_public": msg.c_public.hex(),
            "s_public": msg.s_public.hex(),
            "signature": msg.signature.hex(),
        }
    if isinstance(msg, wire.KeyList):
        return {
            "entries": [
                {
                    "client": e.client,
                    "c_public": e.c_public.hex(),
                    "s_public": e.s_public.hex(),
                    "signature": e.signature.hex(),
                }
                for e in msg.entries
            ]
        }
    if isinstance(msg, wire.ShareKeys):
        return {
            "prompt": msg.prompt.hex(),
            "self_mask_commitment": msg.self_mask_commitment.hex(),
            "ciphertexts": [{"peer": p, "ciphertext": c.hex()} for p, c in msg.ciphertexts],
            "commitments": [
                {"holder": v, "c_key": ck.hex(), "c_mask": cm.hex()}
                for v, ck, cm in msg.commitments
            ],
        }
    if isinstance(msg, wire.ShareForward):
        return {
            "entries": [
                {
                    "sender": e.sender,
                    "ciphertext": e.ciphertext.hex(),
                    "c_key": e.key_commitment.hex(),
                    "c_mask": e.mask_commitment.hex(),
                }
                for e in msg.entries
            ]
        }
    if isinstance(msg, wire.ShareCheck):
        return {"prompt": msg.prompt.hex(), "accused": list(msg.accused)}
    if isinstance(msg, wire.MaskRequest):
        return {"u2": msg.u2.ids()}
    if isinstance(msg, wire.MaskedInput):
        return {"prompt": msg.prompt.hex(), "vector": ints(msg.vector)}
    if isinstance(msg, wire.ConsistencyRequest):
        return {"u3": msg.u3.ids()}
    if isinstance(msg, wire.ConsistencyResponse):
        return {"prompt": msg.prompt.hex(), "signature": msg.signature.hex()}
    if isinstance(msg, wire.UnmaskRequest):
        return {
            "u3": msg.u3.ids(),
            "signatures": [{"signer": s, "signature": sig.hex()} for s, sig in msg.signatures],
        }
    if isinstance(msg, wire.UnmaskResponse):
        return {
            "prompt": msg.prompt.hex(),
            "shares": [
                {"peer": p, "kind": k.name, "share": bytes(v).hex()} for p, k, v in msg.shares
            ],
        }
    raise TypeError(type(msg).__name__)


class Messages:
    """Well-formed messages of one configuration, from random but plausible field values."""

    def __init__(self, setup: Setup, r: Drbg) -> None:
        self.cfg = setup.cfg
        self.keys = setup.keys
        self.r = r
        n = self.cfg.num_clients
        self.c = [KeyPair.from_secret(r(32)).public for _ in range(n)]
        self.s = [KeyPair.from_secret(r(32)).public for _ in range(n)]

    def advert_sig(self, u: int) -> bytes:
        if self.keys is None:
            return b""
        parts = wire.advertise_signed_parts(self.cfg, u, self.c[u], self.s[u])
        return self.keys[u].sign(wire.LABEL_ADVERTISE, *parts)

    def advertise(self, u: int) -> bytes:
        msg = wire.AdvertiseKeys(self.c[u], self.s[u], self.advert_sig(u))
        return wire.encode_advertise_keys(self.cfg, u, msg)

    def key_list(self, v: int, ids: Sequence[int]) -> bytes:
        entries = tuple(wire.KeyEntry(u, self.c[u], self.s[u], self.advert_sig(u)) for u in ids)
        return wire.encode_key_list(self.cfg, v, wire.KeyList(entries))

    def share_keys(
        self, u: int, prompt: bytes, peers: Sequence[int], holders: Sequence[int]
    ) -> bytes:
        r = self.r
        msg = wire.ShareKeys(
            r(32),
            tuple((p, r(wire.SHARE_CIPHERTEXT_SIZE)) for p in peers),
            tuple((h, r(32), r(32)) for h in holders),
            wire.prompt_digest(prompt),
        )
        return wire.encode_share_keys(self.cfg, u, msg)

    def share_forward(self, v: int, senders: Sequence[int]) -> bytes:
        r = self.r
        entries = tuple(
            wire.ForwardEntry(u, r(wire.SHARE_CIPHERTEXT_SIZE), r(32), r(32)) for u in senders
        )
        return wire.encode_share_forward(self.cfg, v, wire.ShareForward(entries))

    def share_check(self, u: int, prompt: bytes, accused: Sequence[int]) -> bytes:
        msg = wire.ShareCheck(tuple(accused), wire.prompt_digest(prompt))
        return wire.encode_share_check(self.cfg, u, msg)

    def id_set(self, ids: Sequence[int]) -> wire.IdSet:
        return wire.IdSet.of(ids, self.cfg.num_clients)

    def mask_request(self, v: int, u2: Sequence[int]) -> bytes:
        return wire.encode_mask_request(self.cfg, v, wire.MaskRequest(self.id_set(u2)))

    def masked_input(self, u: int, prompt: bytes, vector: Sequence[int]) -> bytes:
        y = np.array(vector, dtype=prg.ring_dtype(self.cfg.bits))
        return wire.encode_masked_input(
            self.cfg, u, wire.MaskedInput(y, wire.prompt_digest(prompt))
        )

    def consistency_request(self, v: int, u3: Sequence[int]) -> bytes:
        msg = wire.ConsistencyRequest(self.id_set(u3))
        return wire.encode_consistency_request(self.cfg, v, msg)

    def u3_sig(self, u: int, u3: Sequence[int]) -> bytes:
        assert self.keys is not None
        parts = wire.consistency_signed_parts(self.cfg, self.id_set(u3))
        return self.keys[u].sign(wire.LABEL_CONSISTENCY, *parts)

    def consistency_response(self, u: int, prompt: bytes, u3: Sequence[int]) -> bytes:
        msg = wire.ConsistencyResponse(self.u3_sig(u, u3), wire.prompt_digest(prompt))
        return wire.encode_consistency_response(self.cfg, u, msg)

    def unmask_request(self, v: int, u3: Sequence[int], signers: Sequence[int] = ()) -> bytes:
        sigs = tuple((s, self.u3_sig(s, u3)) for s in signers)
        msg = wire.UnmaskRequest(self.id_set(u3), sigs)
        return wire.encode_unmask_request(self.cfg, v, msg)

    def unmask_response(self, u: int, prompt: bytes, owners: Sequence[tuple[int, int]]) -> bytes:
        r = self.r
        shares = tuple(
            (z, KIND(kind), b"".join(u32(int.from_bytes(r(4), "big") % P) for _ in range(9)))
            for z, kind in owners
        )
        msg = wire.UnmaskResponse(shares, wire.prompt_digest(prompt))
        return wire.encode_unmask_response(self.cfg, u, msg)


def wire_file() -> Json:
    r = rng("wire")
    setups = {
        "semi": make_setup(r, 4, 3, 4, 8),
        "plus": make_setup(r, 12, 3, 2, 16, k=4),
        "mal": make_setup(r, 4, 3, 3, 32, malicious=True),
        "mal_plus": make_setup(r, 10, 3, 2, 8, k=4, malicious=True),
        "b40": make_setup(r, 3, 2, 3, 40),
        "b1": make_setup(r, 3, 2, 5, 1),
        "b64": make_setup(r, 3, 2, 2, 64),
    }
    configs = {name: s.cfg for name, s in setups.items()}
    msgs = {name: Messages(s, rng("wire/" + name)) for name, s in setups.items()}
    cases: list[Json] = []
    by_name: dict[str, bytes] = {}

    def add(
        name: str,
        cfg_name: str,
        kind: MT,
        sender: int,
        recipient: int,
        data: bytes,
        *rules: str,
        echoes: str | None = None,
        note: str | None = None,
    ) -> None:
        cfg = configs[cfg_name]
        msg = decode_message(kind, data, cfg, sender, recipient)
        entry: Json = {
            "name": name, "config": cfg_name, "type": kind.name, "sender": sender,
            "recipient": recipient, "message": data.hex(), "success": True,
            "decoded": decoded_json(msg),
        }  # fmt: skip
        if echoes is not None:
            assert msg.prompt == wire.prompt_digest(by_name[echoes])
            entry["echoes"] = echoes
        if note is not None:
            entry["note"] = note
        by_name[name] = data
        cases.append(tag(entry, *rules, "4.envelope-order", "1.byte-order", "11.reason-codes"))

    def bad(
        name: str,
        cfg_name: str,
        kind: MT,
        sender: int,
        recipient: int,
        data: bytes,
        reason: DropReason,
        *rules: str,
    ) -> None:
        assert "_bad_" in name
        try:
            decode_message(kind, data, configs[cfg_name], sender, recipient)
        except DecodeError as exc:
            assert exc.reason is reason, (name, exc)
        else:  # pragma: no cover - never record an expectation the library does not meet
            raise AssertionError(name)
        entry: Json = {
            "name": name, "config": cfg_name, "type": kind.name, "sender": sender,
            "recipient": recipient, "message": data.hex(),
        }  # fmt: skip
        cases.append(tag(failure(entry, "DecodeError", reason), *rules, "11.reason-codes"))

    # ---- well-formed messages of every type, both modes.
    for cfg_name in ("semi", "mal", "plus", "mal_plus"):
        m, cfg = msgs[cfg_name], configs[cfg_name]
        n, h, mal = cfg.num_clients, cfg.holders, cfg.malicious
        holders = list(range(h))  # any ids decode; the graph is a content rule
        p = cfg_name + "_"
        add(
            p + "advertise_keys",
            cfg_name,
            MT.ADVERTISE_KEYS,
            2,
            SERVER,
            m.advertise(2),
            "5.4.advertise-keys",
        )
        add(
            p + "key_list_to_1",
            cfg_name,
            MT.KEY_LIST,
            SERVER,
            1,
            m.key_list(1, holders),
            "5.5.key-list",
            "5.1.max-body",
        )
        add(
            p + "key_list_empty",
            cfg_name,
            MT.KEY_LIST,
            SERVER,
            0,
            m.key_list(0, []),
            "5.5.key-list",
            note="decodes; the client then aborts BELOW_THRESHOLD (10.3)",
        )
        add(
            p + "share_keys",
            cfg_name,
            MT.SHARE_KEYS,
            1,
            SERVER,
            m.share_keys(1, by_name[p + "key_list_to_1"], [v for v in holders if v != 1], holders),
            "5.6.share-keys-decode",
            "5.1.max-body",
            "5.3.reply-prompt-field",
            echoes=p + "key_list_to_1",
        )
        add(
            p + "share_forward_to_0",
            cfg_name,
            MT.SHARE_FORWARD,
            SERVER,
            0,
            m.share_forward(0, holders[1:]),
            "5.7.share-forward",
            "5.1.max-body",
        )
        add(
            p + "share_check",
            cfg_name,
            MT.SHARE_CHECK,
            0,
            SERVER,
            m.share_check(0, by_name[p + "share_forward_to_0"], holders[1:]),
            "5.8.share-check",
            "5.1.max-body",
            "5.3.reply-prompt-field",
            echoes=p + "share_forward_to_0",
        )
        add(
            p + "share_check_empty",
            cfg_name,
            MT.SHARE_CHECK,
            0,
            SERVER,
            m.share_check(0, by_name[p + "share_forward_to_0"], []),
            "5.8.share-check",
            echoes=p + "share_forward_to_0",
        )
        u2 = [0, 2, n - 1]
        add(
            p + "mask_request",
            cfg_name,
            MT.MASK_REQUEST,
            SERVER,
            2,
            m.mask_request(2, u2),
            "5.9.mask-request",
            "3.id-set-bitmap",
        )
        add(
            p + "masked_input",
            cfg_name,
            MT.MASKED_INPUT,
            2,
            SERVER,
            m.masked_input(
                2, by_name[p + "mask_request"], [(1 << cfg.bits) - 1 - i for i in range(cfg.dim)]
            ),
            "5.10.masked-input-length",
            "5.3.reply-prompt-field",
            echoes=p + "mask_request",
        )
        if mal:
            add(
                p + "consistency_request",
                cfg_name,
                MT.CONSISTENCY_REQUEST,
                SERVER,
                2,
                m.consistency_request(2, u2),
                "5.11.consistency",
                "3.id-set-bitmap",
            )
            add(
                p + "consistency_response",
                cfg_name,
                MT.CONSISTENCY_RESPONSE,
                2,
                SERVER,
                m.consistency_response(2, by_name[p + "consistency_request"], u2),
                "5.11.consistency",
                "5.3.reply-prompt-field",
                echoes=p + "consistency_request",
            )
        add(
            p + "unmask_request",
            cfg_name,
            MT.UNMASK_REQUEST,
            SERVER,
            2,
            m.unmask_request(2, u2, u2 if mal else ()),
            "5.12.unmask-request",
            "3.id-set-bitmap",
        )
        if mal:
            add(
                p + "unmask_request_no_signatures",
                cfg_name,
                MT.UNMASK_REQUEST,
                SERVER,
                0,
                m.unmask_request(0, [0, 1, 2]),
                "5.12.unmask-request",
                note="decodes; the client then aborts CONSISTENCY_CHECK_FAILED (10.7)",
            )
        add(
            p + "unmask_response",
            cfg_name,
            MT.UNMASK_RESPONSE,
            2,
            SERVER,
            m.unmask_response(2, by_name[p + "unmask_request"], [(z, z % 2) for z in holders]),
            "5.13.unmask-response",
            "5.1.max-body",
            "5.3.reply-prompt-field",
            echoes=p + "unmask_request",
        )
        add(
            p + "unmask_response_empty",
            cfg_name,
            MT.UNMASK_RESPONSE,
            2,
            SERVER,
            m.unmask_response(2, by_name[p + "unmask_request"], []),
            "5.13.unmask-response",
            echoes=p + "unmask_request",
        )
    # Ring widths and ranges.
    for cfg_name, vector in (
        ("b40", [0, (1 << 40) - 1, 1 << 39]),
        ("b1", [0, 1, 1, 0, 1]),
        ("b64", [(1 << 64) - 1, 1 << 63]),
    ):
        m = msgs[cfg_name]
        prompt = m.mask_request(0, [0, 1, 2])
        add(
            cfg_name + "_mask_request",
            cfg_name,
            MT.MASK_REQUEST,
            SERVER,
            0,
            prompt,
            "5.9.mask-request",
        )
        add(
            cfg_name + "_masked_input",
            cfg_name,
            MT.MASKED_INPUT,
            0,
            SERVER,
            m.masked_input(0, prompt, vector),
            "5.10.masked-input-length",
            "5.10.masked-input-range",
            "1.byte-order",
            echoes=cfg_name + "_mask_request",
        )
    # A reply echoing another client's prompt decodes: comparing is the server's job (5.3).
    add(
        "semi_masked_input_prompt_of_other_client",
        "semi",
        MT.MASKED_INPUT,
        1,
        SERVER,
        msgs["semi"].masked_input(1, by_name["semi_mask_request"], [1, 2, 3, 4]),
        "5.3.reply-prompt-field",
        echoes="semi_mask_request",
        note="decodes (a decoder does not compare the echo); the server drops the sender "
        "with PROMPT_MISMATCH: it echoes the prompt sent to client 2",
    )
    add(
        "plus_share_keys_to_non_neighbours",
        "plus",
        MT.SHARE_KEYS,
        1,
        SERVER,
        msgs["plus"].share_keys(1, by_name["plus_key_list_to_1"], [0, 7, 9, 11], [0, 1, 7, 9, 11]),
        "5.6.share-keys-decode",
        echoes="plus_key_list_to_1",
        note="decodes: which peers and holders are right is the server's content rule (10.3)",
    )

    wire_bad_cases(msgs, configs, by_name, bad)
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Message encodings and the decoding rules (SPEC.md sections 3, 4 and 5). Each "
            "case is decoded as message type `type` by a party that expects it on the channel "
            "sender -> recipient (4294967295 is the server), under the named config. Good "
            "cases list the decoded fields (ids as integers, id sets as sorted id lists, ring "
            "elements as integers, keys, signatures, ciphertexts, commitments and shares as "
            "hex). Replies (SHARE_KEYS, SHARE_CHECK, MASKED_INPUT, CONSISTENCY_RESPONSE, "
            "UNMASK_RESPONSE) start with prompt, the digest field (last 32 bytes) of the "
            "prompt case named by 'echoes'. *_bad_* cases must be rejected with the DropReason "
            "given; a client that receives such a prompt aborts with INVALID_MESSAGE. "
            "Envelope cases that break two checks at once show which check comes first."
        ),
        "configs": {name: config_json(cfg) for name, cfg in configs.items()},
        "cases": cases,
    }


BadFn = Callable[..., None]


def wire_bad_cases(
    msgs: dict[str, Messages],
    configs: dict[str, RoundConfig],
    good: dict[str, bytes],
    bad: BadFn,
) -> None:
    """The rejections: every envelope check, their precedence, the size boundaries of every
    type, and every body rule of section 5."""
    DF, WS, UM, MA, IC = (  # noqa: N806
        DropReason.DECODE_FAILED, DropReason.WRONG_SESSION, DropReason.UNEXPECTED_MESSAGE,
        DropReason.MISADDRESSED, DropReason.INVALID_CONTENT,
    )  # fmt: skip
    semi = configs["semi"]
    adv = good["semi_advertise_keys"]
    other = variant(semi, session_nonce=bytes(32))
    env = "4.envelope-order"

    def up(
        name: str,
        data: bytes,
        reason: DropReason,
        *rules: str,
        kind: MT = MT.ADVERTISE_KEYS,
        sender: int = 2,
        cfg: str = "semi",
    ) -> None:
        bad(name, cfg, kind, sender, SERVER, data, reason, *rules)

    def down(
        name: str,
        kind: MT,
        recipient: int,
        data: bytes,
        reason: DropReason,
        *rules: str,
        cfg: str = "semi",
    ) -> None:
        bad(name, cfg, kind, SERVER, recipient, data, reason, *rules)

    def raw(cfg: RoundConfig, kind: int, sender: int, recipient: int, body: bytes) -> bytes:
        head = struct.pack(">4sBBH32sII", wire.MAGIC, PROTOCOL_VERSION, kind, 0, cfg.session_id,
                           sender, recipient)  # fmt: skip
        return redigest(head + body + bytes(32))

    # ---- the seven envelope checks, one at a time.
    up("envelope_bad_empty", b"", DF, "4.check1-min-length")
    up("envelope_bad_79_bytes", adv[:48] + bytes(31), DF, "4.check1-min-length")
    up("envelope_bad_magic", with_header(adv, 0, b"SAGH"), DF, "4.check3-fixed-fields")
    up("envelope_bad_version_1", with_header(adv, 4, b"\x01"), DF, "4.check3-fixed-fields")
    up("envelope_bad_version_3", with_header(adv, 4, b"\x03"), DF, "4.check3-fixed-fields")
    up("envelope_bad_flags_1", with_header(adv, 6, b"\x00\x01"), DF, "4.check3-fixed-fields")
    up("envelope_bad_flags_8000", with_header(adv, 6, b"\x80\x00"), DF, "4.check3-fixed-fields")
    up("envelope_bad_flipped_digest", flip(adv, len(adv) - 1), DF, "4.check4-digest")
    up("envelope_bad_flipped_body", flip(adv, 60), DF, "4.check4-digest")
    up("envelope_bad_flipped_header", flip(adv, 20), DF, "4.check4-digest")
    up("envelope_bad_truncated", adv[:-1], DF, "4.check4-digest")
    up(
        "envelope_bad_digest_without_label",
        adv[:-32] + hashlib.sha256(adv[:-32]).digest(),
        DF,
        "4.check4-digest",
        "1.labeled-sha256",
    )
    adv_keys = wire.AdvertiseKeys(msgs["semi"].c[2], msgs["semi"].s[2])
    up(
        "envelope_bad_other_session",
        wire.encode_advertise_keys(other, 2, adv_keys),
        WS,
        "4.check5-session",
    )
    for what, cfg in (
        ("threshold", variant(semi, threshold=4)),
        ("dim", variant(semi, dim=5)),
        ("bits", variant(semi, bits=9)),
        ("mode", variant(semi, security="malicious", roster=configs["mal"].roster)),
        ("graph", RoundConfig(num_clients=4, threshold=2, dim=4, bits=8,
                              session_nonce=semi.session_nonce, neighbors=2,
                              allow_weak_threshold=True)),
    ):  # fmt: skip
        # The semi-honest body (no signature) under the other session's header, built with
        # the envelope directly (a malicious encoder wants a signature): only check 5 fails.
        body = adv_keys.c_public + adv_keys.s_public
        up(
            f"envelope_bad_same_nonce_other_{what}",
            wire.envelope(cfg, wire.MessageType.ADVERTISE_KEYS, 2, wire.SERVER_ID, body),
            WS,
            "4.check5-session",
            "2.session-id",
        )
    mal = configs["mal"]
    mal_roster = mal.roster
    assert mal_roster is not None
    swapped = Roster((mal_roster.public_keys[1], mal_roster.public_keys[0],
                      *mal_roster.public_keys[2:]))  # fmt: skip
    up(
        "envelope_bad_same_nonce_other_roster",
        wire.encode_advertise_keys(
            variant(mal, roster=swapped),
            2,
            wire.decode_advertise_keys(good["mal_advertise_keys"], mal, 2),
        ),
        WS,
        "4.check5-session",
        "2.session-id",
        cfg="mal",
    )
    sk = good["semi_share_keys"]
    up("envelope_bad_wrong_type", adv, UM, "4.check6-type", kind=MT.SHARE_KEYS)
    for value in (0, 12, 255):
        up(
            f"envelope_bad_unknown_type_{value}",
            with_header(adv, 5, bytes([value])),
            UM,
            "4.check6-type",
        )
    up(
        "envelope_bad_server_to_client_type",
        with_header(adv, 5, bytes([MT.KEY_LIST])),
        UM,
        "4.check6-type",
    )
    up("envelope_bad_misaddressed_sender", adv, MA, "4.check7-channel", sender=1)
    up("envelope_bad_recipient_not_server", with_header(adv, 44, u32(3)), MA, "4.check7-channel")
    up("envelope_bad_sender_is_server", with_header(adv, 40, u32(SERVER)), MA, "4.check7-channel")
    down(
        "envelope_bad_misaddressed_recipient",
        MT.KEY_LIST,
        0,
        good["semi_key_list_to_1"],
        MA,
        "4.check7-channel",
    )
    # ---- two checks broken at once: the earlier one decides (SPEC 4).
    other_adv = wire.encode_advertise_keys(other, 2, adv_keys)
    up("envelope_bad_79_bytes_other_session", other_adv[:79], DF, env, "4.check1-min-length")
    up(
        "envelope_bad_80_bytes_other_session",
        raw(other, MT.ADVERTISE_KEYS, 2, SERVER, b""),
        WS,
        env,
        "4.check1-min-length",
        "4.check5-session",
    )
    up(
        "envelope_bad_magic_and_other_session",
        with_header(other_adv, 0, b"SAGA"),
        DF,
        env,
        "4.check3-fixed-fields",
    )
    up(
        "envelope_bad_version_and_other_session",
        with_header(other_adv, 4, b"\x01"),
        DF,
        env,
        "4.check3-fixed-fields",
    )
    up(
        "envelope_bad_digest_and_other_session",
        flip(other_adv, len(other_adv) - 1),
        DF,
        env,
        "4.check4-digest",
    )
    up(
        "envelope_bad_other_session_and_wrong_type",
        with_header(other_adv, 5, b"\x07"),
        WS,
        env,
        "4.check5-session",
        "4.check6-type",
    )
    up(
        "envelope_bad_other_session_and_misaddressed",
        other_adv,
        WS,
        env,
        "4.check5-session",
        "4.check7-channel",
        sender=3,
    )
    up(
        "envelope_bad_wrong_type_and_misaddressed",
        adv,
        UM,
        env,
        "4.check6-type",
        "4.check7-channel",
        kind=MT.SHARE_KEYS,
        sender=3,
    )
    up(
        "envelope_bad_misaddressed_and_bad_body",
        with_body(with_header(adv, 40, u32(1)), bytes(63)),
        MA,
        env,
        "4.check7-channel",
        "5.4.advertise-keys",
    )
    up(
        "envelope_bad_wrong_type_and_bad_body",
        with_body(with_header(adv, 5, b"\x07"), bytes(61)),
        UM,
        env,
        "4.check6-type",
    )
    up("envelope_bad_digest_and_misaddressed", flip(adv, 50), DF, env, "4.check4-digest", sender=1)
    # Check 2 uses the expected type: a larger type sent where a smaller one is expected fails
    # on its length, not on its type.
    up(
        "envelope_bad_larger_type_where_smaller_expected",
        good["semi_key_list_to_1"],
        DF,
        env,
        "4.check2-max-length",
        "4.check6-type",
    )
    up(
        "envelope_bad_smaller_type_where_larger_expected",
        good["semi_advertise_keys"],
        UM,
        env,
        "4.check2-max-length",
        "4.check6-type",
        kind=MT.UNMASK_RESPONSE,
    )
    # ---- the size limit of every type, both modes and graphs: the largest message of a type
    # passes checks 1-4 (here it then fails on the session), one byte more fails check 2.
    for cfg_name in ("semi", "plus", "mal", "mal_plus"):
        cfg = configs[cfg_name]
        wrong = variant(cfg, session_nonce=bytes(32))
        for kind in MT:
            if kind in (MT.CONSISTENCY_REQUEST, MT.CONSISTENCY_RESPONSE) and not cfg.malicious:
                continue
            size = wire.max_body_size(cfg, kind)
            sender, recipient = (1, SERVER) if kind in UPSTREAM else (SERVER, 1)
            fn = up if kind in UPSTREAM else None
            for extra, reason in ((0, WS), (1, DF)):
                data = raw(wrong, kind, sender, recipient, bytes(size + extra))
                label = "at_max" if extra == 0 else "max_plus_1"
                name = f"size_{cfg_name}_{kind.name.lower()}_bad_{label}_other_session"
                rules: tuple[str, ...] = ("4.check2-max-length", "5.1.max-body", env)
                if fn is not None:
                    up(name, data, reason, *rules, kind=kind, sender=1, cfg=cfg_name)
                else:
                    down(name, kind, 1, data, reason, *rules, cfg=cfg_name)

    # ---- bodies: every rule of section 5.
    kl, skt, sf, sc, mr, mi, cr, cs, ur, us = (
        MT.KEY_LIST, MT.SHARE_KEYS, MT.SHARE_FORWARD, MT.SHARE_CHECK,
        MT.MASK_REQUEST, MT.MASKED_INPUT, MT.CONSISTENCY_REQUEST, MT.CONSISTENCY_RESPONSE,
        MT.UNMASK_REQUEST, MT.UNMASK_RESPONSE,
    )  # fmt: skip
    up("advertise_keys_bad_body_63_bytes", with_body(adv, bytes(63)), DF, "5.4.advertise-keys")
    up(
        "advertise_keys_bad_body_65_bytes",
        with_body(adv, bytes(65)),
        DF,
        "5.4.advertise-keys",
        "4.check2-max-length",
    )
    mal_adv = good["mal_advertise_keys"]
    up(
        "advertise_keys_bad_malicious_body_127_bytes",
        with_body(mal_adv, bytes(127)),
        DF,
        "5.4.advertise-keys",
        cfg="mal",
    )
    up(
        "advertise_keys_bad_malicious_without_signature",
        with_body(mal_adv, body_of(mal_adv)[:64]),
        DF,
        "5.4.advertise-keys",
        cfg="mal",
    )

    kl1 = good["semi_key_list_to_1"]
    kl_body = body_of(kl1)

    def kl_ids(ids: Sequence[int], count: int | None = None) -> bytes:
        entries = b"".join(u32(c) + kl_body[8 + 68 * i : 72 + 68 * i] for i, c in
                           enumerate(ids))  # fmt: skip
        return with_body(kl1, u32(len(ids) if count is None else count) + entries)

    lst = ("5.2.list-ids",)
    down("key_list_bad_empty_body", kl, 1, with_body(kl1, b""), DF, "5.2.list-count")
    down("key_list_bad_3_byte_body", kl, 1, with_body(kl1, bytes(3)), DF, "5.2.list-count")
    down("key_list_bad_count_above_entries", kl, 1, kl_ids([0, 1, 2], 4), DF, "5.2.list-length")
    down("key_list_bad_count_below_entries", kl, 1, kl_ids([0, 1, 2], 2), DF, "5.2.list-length")
    down(
        "key_list_bad_trailing_byte",
        kl,
        1,
        with_body(kl1, kl_body + b"\x00"),
        DF,
        "5.2.list-length",
        "4.check2-max-length",
    )
    down("key_list_bad_truncated_entry", kl, 1, with_body(kl1, kl_body[:-1]), DF, "5.2.list-length")
    down("key_list_bad_ids_not_increasing", kl, 1, kl_ids([0, 2, 1]), DF, *lst)
    down("key_list_bad_duplicate_id", kl, 1, kl_ids([1, 1]), DF, *lst)
    down("key_list_bad_id_equal_to_n", kl, 1, kl_ids([0, 4]), DF, *lst)
    down("key_list_bad_id_is_server", kl, 1, kl_ids([0, SERVER]), DF, *lst)
    pkl = good["plus_key_list_to_1"]
    down(
        "key_list_bad_count_above_cap",
        kl,
        1,
        with_body(pkl, u32(6) + body_of(pkl)[4:]),
        DF,
        "5.2.list-cap",
        "5.2.list-length",
        cfg="plus",
    )
    down(
        "key_list_bad_semi_entries_in_malicious_mode",
        kl,
        1,
        with_body(good["mal_key_list_to_1"], kl_body),
        DF,
        "5.2.list-length",
        "5.5.key-list",
        cfg="mal",
    )

    # SHARE_KEYS: prompt, C_b, ciphertexts ('at least'), commitments (exact end).
    sk_body = body_of(sk)
    pr = sk_body[:32]
    c_b = sk_body[32:64]
    cts = [sk_body[68 + 100 * i : 168 + 100 * i] for i in range(3)]
    commits_at = 68 + 300
    coms = [sk_body[commits_at + 4 + 68 * i : commits_at + 72 + 68 * i] for i in range(4)]

    def sk_with(
        ct_items: Sequence[bytes],
        com_items: Sequence[bytes],
        ct_count: int | None = None,
        com_count: int | None = None,
        tail: bytes = b"",
        base: bytes = sk,
        head: bytes | None = None,
    ) -> bytes:
        body = pr + c_b if head is None else head
        body += u32(len(ct_items) if ct_count is None else ct_count) + b"".join(ct_items)
        body += u32(len(com_items) if com_count is None else com_count) + b"".join(com_items)
        return with_body(base, body + tail)

    def ct(peer: int, i: int = 0) -> bytes:
        return u32(peer) + cts[i][4:]

    def com(holder: int, i: int = 0) -> bytes:
        return u32(holder) + coms[i][4:]

    dk = "5.6.share-keys-decode"
    up(
        "share_keys_bad_body_31_bytes",
        with_body(sk, pr[:31]),
        DF,
        dk,
        "5.3.reply-prompt-field",
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_no_self_mask_commitment",
        with_body(sk, pr + c_b[:31]),
        DF,
        dk,
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_no_ciphertext_count",
        with_body(sk, pr + c_b + bytes(3)),
        DF,
        dk,
        "5.2.list-count",
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_ciphertexts_short",
        with_body(sk, sk_body[: 68 + 250]),
        DF,
        dk,
        "5.2.list-length",
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_no_commitment_list",
        with_body(sk, sk_body[:commits_at]),
        DF,
        dk,
        "5.2.list-count",
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_commitment_count_above_entries",
        sk_with(cts, coms[:3], com_count=4),
        DF,
        dk,
        "5.2.list-length",
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_commitment_count_below_entries",
        sk_with(cts, coms, com_count=3),
        DF,
        dk,
        "5.2.list-length",
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_trailing_byte",
        sk_with(cts, coms[:3], tail=b"\x00"),
        DF,
        dk,
        "5.2.list-length",
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_ciphertext_ids_not_increasing",
        sk_with([cts[1], cts[0], cts[2]], coms),
        DF,
        dk,
        *lst,
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_ciphertext_duplicate_peer",
        sk_with([cts[0], ct(0, 1), cts[2]], coms),
        DF,
        dk,
        *lst,
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_ciphertext_peer_equal_to_n",
        sk_with([cts[0], cts[1], ct(4, 2)], coms),
        DF,
        dk,
        *lst,
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_commitment_holders_not_increasing",
        sk_with(cts, [coms[0], coms[2], coms[1], coms[3]]),
        DF,
        dk,
        *lst,
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_commitment_holder_is_server",
        sk_with(cts, [*coms[:3], com(SERVER, 3)]),
        DF,
        dk,
        *lst,
        kind=skt,
        sender=1,
    )
    up(
        "share_keys_bad_ciphertext_count_above_cap",
        sk_with([ct(0), ct(1, 1), ct(2, 2), ct(3)], coms[:2]),
        DF,
        dk,
        "5.2.list-cap",
        kind=skt,
        sender=1,
    )
    psk = good["plus_share_keys"]
    psk_body = body_of(psk)
    pcts = [psk_body[68 + 100 * i : 168 + 100 * i] for i in range(4)]
    pcoms_at = 68 + 400
    pcoms = [psk_body[pcoms_at + 4 + 68 * i : pcoms_at + 72 + 68 * i] for i in range(5)]
    up(
        "share_keys_bad_commitment_count_above_cap",
        with_body(
            psk,
            psk_body[:64]
            + u32(2)
            + b"".join(pcts[:2])
            + u32(6)
            + b"".join(pcoms)
            + u32(11)
            + pcoms[0][4:],
        ),
        DF,
        dk,
        "5.2.list-cap",
        kind=skt,
        sender=1,
        cfg="plus",
    )
    up(
        "share_keys_bad_commitment_holder_equal_to_n",
        with_body(psk, psk_body[:pcoms_at] + u32(5) + b"".join(pcoms[:4]) + u32(12) + pcoms[4][4:]),
        DF,
        dk,
        *lst,
        kind=skt,
        sender=1,
        cfg="plus",
    )

    sf0 = good["semi_share_forward_to_0"]
    sf_body = body_of(sf0)
    down(
        "share_forward_bad_empty_body",
        sf,
        0,
        with_body(sf0, b""),
        DF,
        "5.2.list-count",
        "5.7.share-forward",
    )
    down(
        "share_forward_bad_truncated_entry",
        sf,
        0,
        with_body(sf0, sf_body[:-1]),
        DF,
        "5.2.list-length",
        "5.7.share-forward",
    )
    down(
        "share_forward_bad_count_above_entries",
        sf,
        0,
        with_body(sf0, u32(3) + sf_body[4:168]),
        DF,
        "5.2.list-length",
        "5.7.share-forward",
    )
    down(
        "share_forward_bad_senders_not_increasing",
        sf,
        0,
        with_body(sf0, u32(2) + sf_body[168:332] + sf_body[4:168]),
        DF,
        *lst,
        "5.7.share-forward",
    )
    down(
        "share_forward_bad_sender_equal_to_n",
        sf,
        0,
        with_body(sf0, u32(1) + u32(4) + sf_body[8:168]),
        DF,
        *lst,
        "5.7.share-forward",
    )
    psf = good["plus_share_forward_to_0"]
    down(
        "share_forward_bad_count_above_cap",
        sf,
        0,
        with_body(psf, u32(5) + body_of(psf)[4:]),
        DF,
        "5.2.list-cap",
        "5.7.share-forward",
        cfg="plus",
    )

    sc0 = good["semi_share_check"]
    sc_pr = body_of(sc0)[:32]
    for name, body, rules in (
        ("share_check_bad_body_31_bytes", sc_pr[:31], ("5.3.reply-prompt-field",)),
        ("share_check_bad_prompt_only", sc_pr, ("5.2.list-count",)),
        ("share_check_bad_count_above_entries", sc_pr + u32(2) + u32(1), ("5.2.list-length",)),
        ("share_check_bad_trailing_byte", sc_pr + u32(1) + u32(1) + b"\x00", ("5.2.list-length",)),
        ("share_check_bad_not_increasing", sc_pr + u32(2) + u32(2) + u32(1), lst),
        ("share_check_bad_duplicate", sc_pr + u32(2) + u32(1) + u32(1), lst),
        ("share_check_bad_accused_equal_to_n", sc_pr + u32(1) + u32(4), lst),
    ):
        up(name, with_body(sc0, body), DF, "5.8.share-check", *rules, kind=sc, sender=0)

    mr2 = good["semi_mask_request"]
    bit = "3.id-set-padding"
    down("mask_request_bad_empty_body", mr, 2, with_body(mr2, b""), DF, bit, "5.9.mask-request")
    down(
        "mask_request_bad_padding_bit",
        mr,
        2,
        with_body(mr2, bytes([0b10100001])),
        DF,
        bit,
        "5.9.mask-request",
    )
    down(
        "mask_request_bad_2_bytes",
        mr,
        2,
        with_body(mr2, b"\xa0\x00"),
        DF,
        bit,
        "4.check2-max-length",
    )
    pmr = good["plus_mask_request"]
    down(
        "mask_request_bad_padding_bit_n12",
        mr,
        2,
        with_body(pmr, body_of(pmr)[:1] + b"\x11"),
        DF,
        bit,
        "5.9.mask-request",
        cfg="plus",
    )
    down(
        "mask_request_bad_1_byte_n12",
        mr,
        2,
        with_body(pmr, body_of(pmr)[:1]),
        DF,
        bit,
        "5.9.mask-request",
        cfg="plus",
    )

    mi2 = good["semi_masked_input"]
    mi_pr = body_of(mi2)[:32]
    mi_cases: list[tuple[str, bytes, DropReason, tuple[str, ...]]] = [
        ("masked_input_bad_prompt_only", mi_pr, DF, ("5.10.masked-input-length",)),
        ("masked_input_bad_body_31_bytes", mi_pr[:31], DF, ("5.3.reply-prompt-field",)),
        ("masked_input_bad_one_byte_short", body_of(mi2)[:-1], DF, ("5.10.masked-input-length",)),
        ("masked_input_bad_one_element_short", body_of(mi2)[:-4], DF,
         ("5.10.masked-input-length",)),
        ("masked_input_bad_one_element_long", body_of(mi2) + bytes(4), DF,
         ("4.check2-max-length",)),
        ("masked_input_bad_element_256", mi_pr + ring_bytes([0, 256, 0, 0], 8), IC,
         ("5.10.masked-input-range",)),
        ("masked_input_bad_element_2_32_minus_1", mi_pr + ring_bytes([0, 0, 0, 2**32 - 1], 8),
         IC, ("5.10.masked-input-range", "1.byte-order")),
        ("masked_input_bad_short_with_element_out_of_range",
         mi_pr + ring_bytes([0, 256, 0], 8), DF, ("5.10.masked-input-length",
                                                  "5.10.masked-input-range")),
    ]  # fmt: skip
    for name, body, reason, rules in mi_cases:
        up(name, with_body(mi2, body), reason, *rules, kind=mi, sender=2)
    for cfg_name, values, rules in (
        ("b40", [0, 1 << 40, 0], ("5.10.masked-input-range",)),
        ("b1", [0, 1, 2, 0, 1], ("5.10.masked-input-range",)),
    ):
        good_mi = good[cfg_name + "_masked_input"]
        body = body_of(good_mi)[:32] + ring_bytes(values, configs[cfg_name].bits)
        up(
            f"masked_input_bad_element_out_of_range_{cfg_name}",
            with_body(good_mi, body),
            IC,
            *rules,
            kind=mi,
            sender=0,
            cfg=cfg_name,
        )
    b40 = good["b40_masked_input"]
    up(
        "masked_input_bad_b40_with_4_byte_elements",
        with_body(b40, body_of(b40)[:32] + bytes(12)),
        DF,
        "5.10.masked-input-length",
        "1.byte-order",
        kind=mi,
        sender=0,
        cfg="b40",
    )

    cr2 = good["mal_consistency_request"]
    down(
        "consistency_request_bad_empty_body",
        cr,
        2,
        with_body(cr2, b""),
        DF,
        bit,
        "5.11.consistency",
        cfg="mal",
    )
    down(
        "consistency_request_bad_padding_bit",
        cr,
        2,
        with_body(cr2, bytes([body_of(cr2)[0] | 1])),
        DF,
        bit,
        "5.11.consistency",
        cfg="mal",
    )
    cs2 = good["mal_consistency_response"]
    up(
        "consistency_response_bad_95_bytes",
        with_body(cs2, body_of(cs2)[:95]),
        DF,
        "5.11.consistency",
        kind=cs,
        sender=2,
        cfg="mal",
    )
    up(
        "consistency_response_bad_body_31_bytes",
        with_body(cs2, body_of(cs2)[:31]),
        DF,
        "5.11.consistency",
        "5.3.reply-prompt-field",
        kind=cs,
        sender=2,
        cfg="mal",
    )
    up(
        "consistency_response_bad_97_bytes",
        with_body(cs2, body_of(cs2) + b"\x00"),
        DF,
        "4.check2-max-length",
        kind=cs,
        sender=2,
        cfg="mal",
    )

    ur2 = good["semi_unmask_request"]
    down(
        "unmask_request_bad_empty_body", ur, 2, with_body(ur2, b""), DF, bit, "5.12.unmask-request"
    )
    down(
        "unmask_request_bad_padding_bit",
        ur,
        2,
        with_body(ur2, bytes([body_of(ur2)[0] | 8])),
        DF,
        bit,
        "5.12.unmask-request",
    )
    mur = good["mal_unmask_request"]
    mur_body = body_of(mur)
    for name, body, rules in (
        ("unmask_request_bad_malicious_empty_body", b"", ("5.12.unmask-request",)),
        ("unmask_request_bad_malicious_no_signature_count", mur_body[:1], ("5.2.list-count",)),
        ("unmask_request_bad_malicious_count_above_entries", mur_body[:1] + u32(4)
         + mur_body[5:], ("5.2.list-length",)),
        ("unmask_request_bad_malicious_truncated", mur_body[:-1], ("5.2.list-length",)),
        ("unmask_request_bad_malicious_signers_not_increasing", mur_body[:1] + u32(2)
         + mur_body[5 + 68 : 5 + 136] + mur_body[5 : 5 + 68], lst),
        ("unmask_request_bad_malicious_signer_equal_to_n", mur_body[:1] + u32(1) + u32(4)
         + mur_body[9 : 9 + 64], lst),
        ("unmask_request_bad_malicious_padding_bit", bytes([mur_body[0] | 1]) + mur_body[1:],
         (bit,)),
        ("unmask_request_bad_malicious_count_above_cap", mur_body[:1] + u32(5) + mur_body[5:],
         ("5.2.list-cap", "5.2.list-length")),
    ):  # fmt: skip
        down(name, ur, 2, with_body(mur, body), DF, "5.12.unmask-request", *rules, cfg="mal")

    us2 = good["semi_unmask_response"]
    us_body = body_of(us2)
    us_pr = us_body[:32]
    entries = [us_body[36 + 41 * i : 77 + 41 * i] for i in range(4)]

    def entry_with(
        i: int,
        *,
        peer: int | None = None,
        kind: int | None = None,
        limb: tuple[int, int] | None = None,
    ) -> bytes:
        e = bytearray(entries[i])
        if peer is not None:
            e[0:4] = u32(peer)
        if kind is not None:
            e[4] = kind
        if limb is not None:
            j, value = limb
            e[5 + 4 * j : 9 + 4 * j] = u32(value)
        return bytes(e)

    dr = "5.13.unmask-response"
    for name, body, rules in (
        ("unmask_response_bad_body_31_bytes", us_pr[:31], ("5.3.reply-prompt-field",)),
        ("unmask_response_bad_prompt_only", us_pr, ("5.2.list-count",)),
        ("unmask_response_bad_count_above_entries", us_pr + u32(4) + b"".join(entries[:3]),
         ("5.2.list-length",)),
        ("unmask_response_bad_trailing_byte", us_body + b"\x00", ("5.2.list-length",)),
        ("unmask_response_bad_kind_2", us_pr + u32(1) + entry_with(0, kind=2), ()),
        ("unmask_response_bad_kind_255", us_pr + u32(1) + entry_with(1, kind=255), ()),
        ("unmask_response_bad_limb_0_equal_to_p", us_pr + u32(1) + entry_with(0, limb=(0, P)),
         ("8.2.share-decode",)),
        ("unmask_response_bad_limb_8_all_ones", us_pr + u32(2) + entries[0]
         + entry_with(1, limb=(8, 2**32 - 1)), ("8.2.share-decode",)),
        ("unmask_response_bad_peers_not_increasing", us_pr + u32(2) + entries[1] + entries[0],
         lst),
        ("unmask_response_bad_duplicate_peer", us_pr + u32(2) + entries[1]
         + entry_with(2, peer=1), lst),
        ("unmask_response_bad_peer_equal_to_n", us_pr + u32(1) + entry_with(0, peer=4), lst),
    ):  # fmt: skip
        up(name, with_body(us2, body), DF, dr, *rules, kind=us, sender=2)
    pus = good["plus_unmask_response"]
    up("unmask_response_bad_count_above_cap", with_body(pus, body_of(pus)[:32] + u32(6)
       + body_of(pus)[36:]), DF, dr, "5.2.list-cap", "5.2.list-length", kind=us, sender=2,
       cfg="plus")  # fmt: skip


# --------------------------------------------------------------------------- round.json

SMALL = 64
"""Vectors longer than this are recorded as a SHA-256 digest (plus their first elements)."""


@dataclass
class Party:
    """Everything the clients and the server of a round start from."""

    name: str
    setup: Setup
    inputs: list[Any]
    rands: list[bytes]
    input_json: list[Json]

    @property
    def cfg(self) -> RoundConfig:
        return self.setup.cfg

    def client(self, u: int) -> Client:
        keys = self.setup.keys
        return Client(self.cfg, u, self.inputs[u].copy(), self.rands[u],
                      signing_key=None if keys is None else keys[u])  # fmt: skip

    def to_json(self) -> Json:
        keys = self.setup.keys
        clients = []
        for u in range(self.cfg.num_clients):
            entry: Json = {"id": u, "rand": self.rands[u].hex(), **self.input_json[u]}
            if keys is not None:
                entry["signing_secret"] = self.signing_secrets[u].hex()
            clients.append(entry)
        return {"config": config_json(self.cfg), "clients": clients}

    signing_secrets: list[bytes] = field(default_factory=list)


def make_party(name: str, n: int, t: int, m: int, b: int, *, k: int | None = None,
               malicious: bool = False, weak: bool = False) -> Party:  # fmt: skip
    r = rng("round/party/" + name)
    secrets = [r(32) for _ in range(n)] if malicious else []
    keys = [SigningKey.from_secret(s) for s in secrets] if malicious else None
    roster = Roster(tuple(key.public for key in keys)) if keys is not None else None
    cfg = RoundConfig(
        num_clients=n, threshold=t, dim=m, bits=b, session_nonce=r(32), neighbors=k,
        security=Security.MALICIOUS if malicious else Security.SEMI_HONEST, roster=roster,
        allow_weak_threshold=weak,
    )  # fmt: skip
    inputs: list[Any] = []
    input_json: list[Json] = []
    for _ in range(n):
        if m <= SMALL:
            raw = np.frombuffer(r(8 * m), dtype="<u8")
            x = (raw & np.uint64((1 << b) - 1) if b < 64 else raw).astype(prg.ring_dtype(b))
            input_json.append({"input": ints(x)})
        else:
            key = r(32)
            x = prg.expand(key, m, b)
            input_json.append({"input_key": key.hex(), "input_sha256": plain_sha256(x.tobytes())})
        inputs.append(x)
    rands = [r(rand_size(cfg)) for _ in range(n)]
    return Party(name, Setup(cfg, keys), inputs, rands, input_json, secrets)


Edit = Callable[[bytes], bytes | None]


@dataclass
class Inject:
    """A message that no party of the round sent: delivered to the server, or to a client as
    a prompt (which it handles at once), at a point of the round."""

    round: str
    when: str  # "first" (before the clients act), "last" (before advance), "end" (after all)
    sender: int
    recipient: int
    build: Callable[[Net], bytes]


@dataclass
class Scenario:
    name: str
    party: Party
    expect: tuple[str, DropReason | AbortReason | None, int | None]
    """(error class or "" for a clean round, reason, client or culprit)."""
    rules: tuple[str, ...]
    note: str
    silent: dict[int, str] = field(default_factory=dict)
    edits: dict[tuple[str, int, int], Edit] = field(default_factory=dict)
    inject: list[Inject] = field(default_factory=list)
    order: dict[str, list[int]] = field(default_factory=dict)
    completes: bool | None = None
    """Whether the round must still release the (exact) aggregate; None: not asserted."""
    net: Net | None = None
    check: Callable[[Json], None] | None = None
    """Further assertions on the outcome (what the case exists to show)."""
    honest: bool = False
    """An honest round: its intermediates are recorded."""


REPLY_CODECS: dict[str, tuple[Callable[..., Any], Callable[..., bytes]]] = {
    "advertise_keys": (wire.decode_advertise_keys, wire.encode_advertise_keys),
    "share_keys": (wire.decode_share_keys, wire.encode_share_keys),
    "share_check": (wire.decode_share_check, wire.encode_share_check),
    "masked_input": (wire.decode_masked_input, wire.encode_masked_input),
    "consistency_check": (wire.decode_consistency_response, wire.encode_consistency_response),
    "unmasking": (wire.decode_unmask_response, wire.encode_unmask_response),
}
PROMPT_CODECS: dict[str, tuple[Callable[..., Any], Callable[..., bytes]]] = {
    "share_keys": (wire.decode_key_list, wire.encode_key_list),
    "share_check": (wire.decode_share_forward, wire.encode_share_forward),
    "masked_input": (wire.decode_mask_request, wire.encode_mask_request),
    "consistency_check": (wire.decode_consistency_request, wire.encode_consistency_request),
    "unmasking": (wire.decode_unmask_request, wire.encode_unmask_request),
}


class Net:
    """The network of one round as an adversary sees it: every message as sent, and the
    edits a corrupt client, a malicious server or an attacker on the wire can make."""

    def __init__(self, party: Party) -> None:
        self.party = party
        self.cfg = party.cfg
        self.seen: dict[tuple[str, int, int], bytes] = {}

    # ---- generic

    def reply(self, round_name: str, u: int, change: Callable[[Any], Any]) -> Edit:
        """Client u's reply decoded, passed through ``change`` and encoded again."""
        decode, encode = REPLY_CODECS[round_name]
        return lambda data: encode(self.cfg, u, change(decode(data, self.cfg, u)))

    def prompt(self, round_name: str, v: int, change: Callable[[Any], Any]) -> Edit:
        """The server's prompt to v decoded, passed through ``change`` and encoded again."""
        decode, encode = PROMPT_CODECS[round_name]
        return lambda data: encode(self.cfg, v, change(decode(data, self.cfg, v)))

    def echo(self, round_name: str, u: int, value: Callable[[bytes], bytes]) -> Edit:
        """Client u's reply with its prompt echo replaced by ``value(echo)``."""
        return self.reply(round_name, u, lambda m: dataclasses.replace(m, prompt=value(m.prompt)))

    def echo_of(self, round_name: str, v: int) -> Callable[[bytes], bytes]:
        """The digest of the prompt the server sent v in ``round_name``."""
        return lambda _: wire.prompt_digest(self.seen[(round_name, SERVER, v)])

    def restore_echo(self, round_name: str, u: int) -> Edit:
        """The man in the middle that altered u's prompt puts the digest of the prompt the
        server sent back into u's reply, so the server accepts it."""
        return self.echo(round_name, u, self.echo_of(round_name, u))

    def sent(self, round_name: str, sender: int, recipient: int) -> Callable[[Net], bytes]:
        return lambda net: net.seen[(round_name, sender, recipient)]

    # ---- client -> server

    def advertise(self, u: int, *, c: bytes | None = None, s: bytes | None = None,
                  sign: str = "keep", signer: int | None = None,
                  session: RoundConfig | None = None) -> Edit:  # fmt: skip
        """u's advertisement with other keys; ``sign``: "keep" the signature, "resign" with
        the key of ``signer`` (default u: a corrupt client) over ``session`` (default this
        one), or "zero"."""
        cfg, keys = self.cfg, self.party.setup.keys

        def change(msg: wire.AdvertiseKeys) -> wire.AdvertiseKeys:
            c_pub = msg.c_public if c is None else c
            s_pub = msg.s_public if s is None else s
            sig = msg.signature
            if sign == "zero":
                sig = bytes(64)
            elif sign == "resign":
                assert keys is not None
                parts = wire.advertise_signed_parts(session or cfg, u, c_pub, s_pub)
                sig = keys[u if signer is None else signer].sign(wire.LABEL_ADVERTISE, *parts)
            return wire.AdvertiseKeys(c_pub, s_pub, sig)

        return self.reply("advertise_keys", u, change)

    def public(self, u: int, which: str) -> bytes:
        rand = self.party.rands[u]
        return KeyPair.from_secret(rand[0:32] if which == "c" else rand[32:64]).public

    def share_keys(self, u: int, change: Callable[[wire.ShareKeys], wire.ShareKeys]) -> Edit:
        return self.reply("share_keys", u, change)

    def honest_shares(self, u: int, holders: Sequence[int]) -> list[list[bytes]]:
        """[kind][holder index] -> the 36-byte share owner u made (SPEC 8.1, 9)."""
        rand = self.party.rands[u]
        ys = shamir.share([rand[32:64], rand[64:96]], [h + 1 for h in holders],
                          self.cfg.threshold, rand[96:])  # fmt: skip
        return [shamir.encode_shares(ys[0]), shamir.encode_shares(ys[1])]

    def seal(self, u: int, v: int, plaintext: bytes) -> bytes:
        sid = self.cfg.session_id
        shared = KeyPair.from_secret(self.party.rands[u][0:32]).agree(self.public(v, "c"))
        key = kdf.share_encryption_key(shared, session_id=sid, sender=u, recipient=v)
        return aead.seal(key, plaintext, aead.associated_data(sid, u, v))

    def dishonest_owner(
        self,
        u: int,
        changes: dict[tuple[int, int], tuple[int, int]],
        *,
        commit: bool = True,
        send: bool = True,
        secret: tuple[int, bytes] | None = None,
    ) -> Edit:
        """Owner u's SHARE_KEYS as a dishonest owner writes it: for each (holder, kind) in
        ``changes``, limb j of that share moves by delta (``(j, delta)``); ``commit`` puts the
        changed share in the commitment, ``send`` in the ciphertext to the holder. ``secret``
        (kind, value) instead shares another secret of that kind consistently with everyone."""
        cfg = self.cfg

        def change(msg: wire.ShareKeys) -> wire.ShareKeys:
            holders = [v for v, _, _ in msg.commitments]
            shares = self.honest_shares(u, holders)
            if secret is not None:
                kind, value = secret
                rand = self.party.rands[u]
                pair = [rand[32:64], rand[64:96]]
                pair[kind] = value
                ys = shamir.share(pair, [h + 1 for h in holders], cfg.threshold, rand[96:])
                shares = [shamir.encode_shares(ys[0]), shamir.encode_shares(ys[1])]
            sent = [list(row) for row in shares]
            committed = [list(row) for row in shares]
            for (holder, kind), (j, delta) in changes.items():
                i = holders.index(holder)
                limbs = ints(shamir.decode_share(shares[kind][i]))
                limbs[j] = (limbs[j] + delta) % P
                bad = bytes.fromhex(share_hex(limbs))
                if commit:
                    committed[kind][i] = bad
                if send:
                    sent[kind][i] = bad
            sid = cfg.session_id
            commitments = tuple(
                (v, share_commitment(sid, u, v, 0, committed[0][i]),
                 share_commitment(sid, u, v, 1, committed[1][i]))
                for i, v in enumerate(holders)
            )  # fmt: skip
            ciphertexts = tuple(
                (v, self.seal(u, v, wire.encode_share_plaintext(u, v, sent[0][holders.index(v)],
                                                                sent[1][holders.index(v)])))
                for v, _ in msg.ciphertexts
            )  # fmt: skip
            return dataclasses.replace(msg, ciphertexts=ciphertexts, commitments=commitments)

        return self.share_keys(u, change)

    def self_mask_commitment(self, u: int, seed: bytes) -> Edit:
        """Owner u commits to another b_u than the one it shares (C_b)."""
        c_b = self_mask_commitment(self.cfg.session_id, u, seed)
        return self.share_keys(u, lambda m: dataclasses.replace(m, self_mask_commitment=c_b))

    def garbage_ciphertexts(self, u: int, peers: Iterable[int]) -> Edit:
        """Owner u's ciphertexts to ``peers`` with a bit flipped (they fail to authenticate)."""
        targets = set(peers)

        def change(msg: wire.ShareKeys) -> wire.ShareKeys:
            items = tuple((v, flip(ct, 7) if v in targets else ct) for v, ct in msg.ciphertexts)
            return dataclasses.replace(msg, ciphertexts=items)

        return self.share_keys(u, change)

    def plaintext(self, u: int, v: int, change: Callable[[bytes], bytes]) -> Edit:
        """Owner u's ciphertext to v re-encrypted around ``change(honest plaintext)``."""

        def edit(msg: wire.ShareKeys) -> wire.ShareKeys:
            holders = [h for h, _, _ in msg.commitments]
            shares = self.honest_shares(u, holders)
            i = holders.index(v)
            text = change(wire.encode_share_plaintext(u, v, shares[0][i], shares[1][i]))
            items = tuple((h, self.seal(u, v, text) if h == v else ct) for h, ct in msg.ciphertexts)
            return dataclasses.replace(msg, ciphertexts=items)

        return self.share_keys(u, edit)

    def accuse(self, u: int, accused: Sequence[int]) -> Edit:
        return self.reply(
            "share_check", u, lambda m: dataclasses.replace(m, accused=tuple(accused))
        )

    def masked(self, u: int, change: Callable[[np.ndarray[Any, Any]], object]) -> Edit:
        def edit(msg: wire.MaskedInput) -> wire.MaskedInput:
            vector = np.array(msg.vector)
            change(vector)
            return dataclasses.replace(msg, vector=vector)

        return self.reply("masked_input", u, edit)

    def consistency_signature(self, u: int, signature: Callable[[bytes], bytes]) -> Edit:
        return self.reply(
            "consistency_check", u,
            lambda m: dataclasses.replace(m, signature=signature(m.signature)),
        )  # fmt: skip

    def response(self, u: int, change: Callable[[list[Any]], list[Any]]) -> Edit:
        return self.reply(
            "unmasking", u, lambda m: dataclasses.replace(m, shares=tuple(change(list(m.shares))))
        )

    def other_session(self, round_name: str, u: int, other: RoundConfig) -> Edit:
        decode, encode = REPLY_CODECS[round_name]
        return lambda data: encode(other, u, decode(data, self.cfg, u))

    # ---- server -> client

    def key_list(
        self, v: int, change: Callable[[list[wire.KeyEntry]], list[wire.KeyEntry]]
    ) -> Edit:
        return self.prompt("share_keys", v, lambda m: wire.KeyList(tuple(change(list(m.entries)))))

    def forward(
        self, v: int, change: Callable[[list[wire.ForwardEntry]], list[wire.ForwardEntry]]
    ) -> Edit:
        return self.prompt("share_check", v,
                           lambda m: wire.ShareForward(tuple(change(list(m.entries)))))  # fmt: skip

    def ids(self, members: Iterable[int]) -> wire.IdSet:
        return wire.IdSet.of(sorted(members), self.cfg.num_clients)

    def mask_request(self, v: int, u2: Iterable[int]) -> Edit:
        members = self.ids(u2)
        return self.prompt("masked_input", v, lambda m: wire.MaskRequest(members))

    def consistency_request(self, v: int, u3: Iterable[int]) -> Edit:
        members = self.ids(u3)
        return self.prompt("consistency_check", v, lambda m: wire.ConsistencyRequest(members))

    def unmask_request(self, v: int, u3: Iterable[int] | None = None,
                       signatures: Callable[[list[tuple[int, bytes]]], list[tuple[int, bytes]]]
                       | None = None) -> Edit:  # fmt: skip
        def change(msg: wire.UnmaskRequest) -> wire.UnmaskRequest:
            members = msg.u3 if u3 is None else self.ids(u3)
            sigs = list(msg.signatures) if signatures is None else signatures(list(msg.signatures))
            return wire.UnmaskRequest(members, tuple(sigs))

        return self.prompt("unmasking", v, change)

    def u3_signature(self, signer: int, u3: Iterable[int]) -> bytes:
        keys = self.party.setup.keys
        assert keys is not None
        parts = wire.consistency_signed_parts(self.cfg, self.ids(u3))
        return keys[signer].sign(wire.LABEL_CONSISTENCY, *parts)


def entry_with(entries: list[wire.KeyEntry], client: int, **changes: Any) -> list[wire.KeyEntry]:
    return [dataclasses.replace(e, **changes) if e.client == client else e for e in entries]


def alias(public: bytes) -> bytes:
    """1/u mod p: the same key to X25519 (the point of order 2 added), other bytes."""
    return pow(int.from_bytes(public, "little"), P25519 - 2, P25519).to_bytes(32, "little")


def top_bit(public: bytes) -> bytes:
    out = bytearray(public)
    out[31] |= 0x80
    return bytes(out)


def delta_for(used: Sequence[int], holder: int, error: int) -> int:
    """The change of one share limb at ``holder`` that moves the limb rebuilt from the holders
    ``used`` (ids) by ``error`` (SPEC 8.2): error / lambda_holder mod p."""
    lam = lagrange([h + 1 for h in used])[list(used).index(holder)]
    return error * pow(lam, P - 2, P) % P


# ---- the driver


def run_round(sc: Scenario) -> tuple[Json, Server]:
    """Drive real clients and a server through one round and record every event.

    In each round: the injections marked "first"; the clients that are not silent, not
    aborted and have a prompt act, in id order (or ``sc.order``); the injections marked
    "last"; the server closes the round (``advance``) and its prompts go out in the order it
    returns them. A prompt injected to a client replaces any it holds and is handled at once.
    """
    party, cfg = sc.party, sc.party.cfg
    names = round_names(cfg.security)
    n = cfg.num_clients
    clients = [party.client(u) for u in range(n)]
    server = Server(cfg)
    net = sc.net if sc.net is not None else Net(party)
    events: list[Json] = []
    prompts: dict[int, bytes] = {}
    aborted: set[int] = set()
    abort: Json | None = None

    def message_event(name: str, sender: int, recipient: int, data: bytes,
                      delivered: bytes | None, injected: bool = False) -> None:  # fmt: skip
        event: Json = {
            "step": "message", "round": name, "type": type_name(data), "sender": sender,
            "recipient": recipient, "message": data.hex(),
        }  # fmt: skip
        if injected:
            event["injected"] = True
        elif delivered != data:
            event["delivered"] = None if delivered is None else delivered.hex()
        events.append(event)

    def send_up(name: str, u: int, data: bytes) -> None:
        net.seen[(name, u, SERVER)] = data
        edit = sc.edits.get((name, u, SERVER))
        delivered = data if edit is None else edit(data)
        message_event(name, u, SERVER, data, delivered)
        if delivered is not None:
            server.receive(u, delivered)

    def silent(u: int, r: int) -> bool:
        return u in sc.silent and names.index(sc.silent[u]) <= r

    def act(u: int, r: int, prompt: bytes | None) -> None:
        name = names[r]
        try:
            data = clients[u].start() if prompt is None else clients[u].handle(prompt)
        except ClientAbort as exc:
            aborted.add(u)
            events.append({"step": "client_abort", "round": name, "client": u,
                           **reason_json(exc.reason)})  # fmt: skip
            return
        send_up(name, u, data)

    def inject(name: str | None, when: str, r: int) -> None:
        for item in sc.inject:
            if item.when != when or (when != "end" and item.round != name):
                continue
            data = item.build(net)
            round_name = item.round
            message_event(round_name, item.sender, item.recipient, data, data, injected=True)
            if item.recipient == SERVER:
                server.receive(item.sender, data)
            else:
                v = item.recipient
                prompts.pop(v, None)
                if v in aborted:
                    # An aborted client sends nothing, whatever it is sent (SPEC 10.1).
                    events.append({"step": "client_silent", "round": round_name, "client": v})
                elif not silent(v, r):
                    act(v, r, data)

    for r, name in enumerate(names):
        inject(name, "first", r)
        for u in sc.order.get(name, list(range(n))):
            if u in aborted or silent(u, r):
                continue
            if r == 0:
                act(u, r, None)
            elif u in prompts:
                act(u, r, prompts.pop(u))
        inject(name, "last", r)
        events.append({"step": "advance", "round": name})
        try:
            outgoing = server.advance()
        except ProtocolAbort as exc:
            abort = {"round": name, "culprit": exc.culprit, **reason_json(exc.reason)}
            events.append({"step": "server_abort", **abort})
            break
        prompts = {}
        for v, data in outgoing:
            next_name = names[r + 1]
            net.seen[(next_name, SERVER, v)] = data
            edit = sc.edits.get((next_name, SERVER, v))
            delivered = data if edit is None else edit(data)
            message_event(next_name, SERVER, v, data, delivered)
            if delivered is not None:
                prompts[v] = delivered
    inject(None, "end", len(names) - 1)

    result: Json | None = None
    if server.result is not None:
        agg = server.result
        survivors = list(agg.survivors)
        total = sum((party.inputs[u].astype(object) for u in survivors),
                    np.zeros(cfg.dim, dtype=object))  # fmt: skip
        assert ints(total % cfg.modulus) == ints(agg.vector), "wrong aggregate"
        result = {
            "u3": survivors,
            "u4": list(agg.responders),
            **vector_json("aggregate", agg.vector, cfg),
        }
    outcome = {
        "transcript": events,
        "drops": [{"client": d.client, "phase": d.phase.value, **reason_json(d.reason)}
                  for d in server.drops],
        "client_aborts": [{"client": e["client"], "round": e["round"], "reason": e["reason"],
                           "reason_code": e["reason_code"]}
                          for e in events if e["step"] == "client_abort"],
        "result": result,
        "abort": abort,
    }  # fmt: skip
    return outcome, server


def vector_json(key: str, values: Any, cfg: RoundConfig) -> Json:
    """A ring vector in full, or for a long one its SHA-256 (little-endian, width w) and its
    first 8 elements."""
    array = np.asarray(values).astype(prg.ring_dtype(cfg.bits))
    if array.shape[0] <= SMALL:
        return {key: ints(array)}
    return {key + "_sha256": plain_sha256(array.tobytes()), key + "_first": ints(array[:8])}


def round_case(sc: Scenario) -> Json:
    outcome, _ = run_round(sc)
    error, reason, who = sc.expect
    case: Json = {"name": sc.name, "party": sc.party.name, "note": sc.note, **outcome}
    case["silent_from"] = [{"client": u, "round": sc.silent[u]} for u in sorted(sc.silent)]
    if sc.order:
        case["order"] = sc.order
    if error == "":
        assert "_bad_" not in sc.name, sc.name
        case["success"] = True
    else:
        assert "_bad_" in sc.name, sc.name
        assert reason is not None
        failure(case, error, reason)
        if error == "Drop":
            assert any(d["client"] == who and d["reason"] == reason.name
                       for d in outcome["drops"]), (sc.name, outcome["drops"])  # fmt: skip
            case["client"] = who
        elif error == "ClientAbort":
            assert any(
                a["client"] == who and a["reason"] == reason.name for a in outcome["client_aborts"]
            ), (sc.name, outcome["client_aborts"])
            case["client"] = who
        else:
            assert error == "ProtocolAbort"
            got = outcome["abort"]
            assert got is not None and got["reason"] == reason.name, (sc.name, got)
            assert got["culprit"] == who, (sc.name, got)
            case["culprit"] = who
    if sc.completes is not None:
        assert (outcome["result"] is not None) == sc.completes, (sc.name, outcome["abort"])
    if sc.check is not None:
        sc.check(outcome)
    if sc.honest:
        assert outcome["result"] is not None and not outcome["client_aborts"]
        assert all(d["reason"] == "TIMED_OUT" for d in outcome["drops"])
        case["intermediates"] = intermediates(case, sc.party)
    return tag(case, *sc.rules, "11.reason-codes", "10.1.close-prompts")


def delivered_messages(case: Json, kind: MT) -> dict[tuple[int, int], bytes]:
    """(sender, recipient) -> the delivered bytes of every message of one type."""
    out: dict[tuple[int, int], bytes] = {}
    for ev in case["transcript"]:
        if ev["step"] == "message" and ev["type"] == kind.name:
            data = ev["message"] if "delivered" not in ev else ev["delivered"]
            if data is not None:
                out[(ev["sender"], ev["recipient"])] = bytes.fromhex(data)
    return out


def intermediates(case: Json, party: Party) -> Json:
    """Every value of a completed honest round, recomputed from the primitives the way SPEC.md
    describes it (sections 6-10) and asserted against the recorded wire bytes."""
    cfg = party.cfg
    t, bits, sid, n = cfg.threshold, cfg.bits, cfg.session_id, cfg.num_clients
    graph = graph_for(cfg)
    rands = party.rands
    c_pairs = [KeyPair.from_secret(rand[0:32]) for rand in rands]
    s_pairs = [KeyPair.from_secret(rand[32:64]) for rand in rands]
    adverts = delivered_messages(case, MT.ADVERTISE_KEYS)
    key_lists = delivered_messages(case, MT.KEY_LIST)
    share_keys = delivered_messages(case, MT.SHARE_KEYS)
    mask_requests = delivered_messages(case, MT.MASK_REQUEST)
    masked = delivered_messages(case, MT.MASKED_INPUT)
    responses = delivered_messages(case, MT.UNMASK_RESPONSE)
    u1 = sorted(v for (_, v) in key_lists)
    u2 = sorted(v for (_, v) in mask_requests)
    result = case["result"]
    u3, u4 = result["u3"], result["u4"]
    assert sorted(u for (u, _) in masked) == u3 and set(u4) <= set(u3) <= set(u2) <= set(u1)

    clients: list[Json] = []
    shares_of: dict[int, list[list[bytes]]] = {}
    holders_of: dict[int, list[int]] = {}
    for u in sorted(u for (u, _) in adverts):
        rand = rands[u]
        entry: Json = {
            "id": u,
            "c_secret": rand[0:32].hex(),
            "c_public": c_pairs[u].public.hex(),
            "s_secret": rand[32:64].hex(),
            "s_public": s_pairs[u].public.hex(),
            "self_mask_seed": rand[64:96].hex(),
        }
        advert = wire.decode_advertise_keys(adverts[(u, SERVER)], cfg, u)
        assert (advert.c_public, advert.s_public) == (c_pairs[u].public, s_pairs[u].public)
        if (u, SERVER) in share_keys:
            holders = [h for h in graph.holders(u) if h in u1]
            ys = shamir.share([rand[32:64], rand[64:96]], [h + 1 for h in holders], t, rand[96:])
            shares = [shamir.encode_shares(ys[0]), shamir.encode_shares(ys[1])]
            shares_of[u], holders_of[u] = shares, holders
            sent = wire.decode_share_keys(share_keys[(u, SERVER)], cfg, u)
            c_b = self_mask_commitment(sid, u, rand[64:96])
            assert sent.self_mask_commitment == c_b
            commitments = [
                (h, share_commitment(sid, u, h, 0, shares[0][i]),
                 share_commitment(sid, u, h, 1, shares[1][i]))
                for i, h in enumerate(holders)
            ]  # fmt: skip
            assert list(sent.commitments) == commitments
            entry.update(
                holders=holders,
                key_shares=hexs(shares[0]),
                mask_shares=hexs(shares[1]),
                key_commitments=[ck.hex() for _, ck, _ in commitments],
                mask_commitments=[cm.hex() for _, _, cm in commitments],
                self_mask_commitment=c_b.hex(),
            )
        clients.append(entry)

    ciphertexts: list[Json] = []
    for u in sorted(shares_of):
        sent = wire.decode_share_keys(share_keys[(u, SERVER)], cfg, u)
        expected = []
        for i, v in enumerate(holders_of[u]):
            if v == u:
                continue
            shared = c_pairs[u].agree(c_pairs[v].public)
            key = kdf.share_encryption_key(shared, session_id=sid, sender=u, recipient=v)
            ad = aead.associated_data(sid, u, v)
            text = wire.encode_share_plaintext(u, v, shares_of[u][0][i], shares_of[u][1][i])
            ct = aead.seal(key, text, ad)
            expected.append((v, ct))
            ciphertexts.append({
                "sender": u, "recipient": v, "c_agreement": shared.hex(), "key": key.hex(),
                "associated_data": ad.hex(), "plaintext": text.hex(), "ciphertext": ct.hex(),
            })  # fmt: skip
        assert tuple(expected) == sent.ciphertexts

    pair_masks: list[Json] = []
    pair_vectors: dict[tuple[int, int], Any] = {}
    for u in u2:
        for v in graph.neighbors(u):
            if v <= u or v not in u2:
                continue
            shared = s_pairs[u].agree(s_pairs[v].public)
            key = kdf.pair_mask_key(shared, session_id=sid, u=u, v=v)
            mask = prg.expand(key, cfg.dim, bits)
            pair_vectors[(u, v)] = mask.astype(object)
            pair_masks.append({"u": u, "v": v, "s_agreement": shared.hex(), "key": key.hex(),
                               **vector_json("mask", mask, cfg)})  # fmt: skip

    def pair(u: int, v: int) -> Any:
        return pair_vectors[(min(u, v), max(u, v))]

    self_masks: list[Json] = []
    masked_inputs: list[Json] = []
    total = np.zeros(cfg.dim, dtype=object)
    self_vectors = {}
    for u in u3:
        key = kdf.self_mask_key(rands[u][64:96], session_id=sid, u=u)
        mask = prg.expand(key, cfg.dim, bits)
        self_vectors[u] = mask.astype(object)
        self_masks.append({"client": u, "key": key.hex(), **vector_json("mask", mask, cfg)})
        y = party.inputs[u].astype(object) + self_vectors[u]
        for v in graph.neighbors(u):
            if v in u2:
                y = y + (pair(u, v) if u < v else -pair(u, v))
        y = y % cfg.modulus
        wired = wire.decode_masked_input(masked[(u, SERVER)], cfg, u).vector
        assert ints(y) == ints(wired)
        masked_inputs.append({"client": u, **vector_json("y", y, cfg)})
        total = total + y

    # The server: for each owner, the t lowest-id holders of V(z) ∩ U4 (SPEC 10.8). Honest
    # rounds have no accusations, so V(z) = H(z) ∩ U2.
    book: dict[tuple[int, int], dict[int, bytes]] = {}
    for (v, _), data in responses.items():
        for z, kind, value in wire.decode_unmask_response(data, cfg, v).shares:
            book.setdefault((z, int(kind)), {})[v] = value
    rebuilt: list[Json] = []
    unmasked = total.copy()
    for z, which in [(z, 1) for z in u3] + [(z, 0) for z in u2 if z not in u3]:
        valid = [h for h in graph.holders(z) if h in u2]
        used = [h for h in valid if h in u4][:t]
        assert len(used) == t
        points = [book[(z, which)][h] for h in used]
        secret = shamir.reconstruct([(h + 1, sh) for h, sh in zip(used, points, strict=True)])
        rebuilt.append({
            "owner": z, "kind": KIND(which).name, "holders": used,
            "lagrange": lagrange([h + 1 for h in used]), "shares": hexs(points),
            "secret": secret.hex(),
        })  # fmt: skip
        if which == 1:
            assert secret == rands[z][64:96]
            unmasked = unmasked - self_vectors[z]
        else:
            assert secret == rands[z][32:64]
            for v in graph.neighbors(z):
                if v in u3:
                    unmasked = unmasked - (pair(v, z) if v < z else -pair(v, z))
    assert ints(unmasked % cfg.modulus) == ints(
        sum((party.inputs[u].astype(object) for u in u3), np.zeros(cfg.dim, dtype=object))
        % cfg.modulus
    )
    out: Json = {
        "u1": u1, "u2": u2, "u3": u3, "u4": u4,
        "clients": clients,
        "share_ciphertexts": ciphertexts,
        "pair_masks": pair_masks,
        "self_masks": self_masks,
        "masked_inputs": masked_inputs,
        **vector_json("masked_sum", total % cfg.modulus, cfg),
        "rebuilt": rebuilt,
    }  # fmt: skip
    if not graph.complete:
        out["neighborhoods"] = [graph.neighbors(u) for u in range(n)]
    return out


# ---- the parties and the table of rounds

D, A = DropReason, AbortReason
DROP, CLIENT, SERVER_ABORT, CLEAN = "Drop", "ClientAbort", "ProtocolAbort", ""
AK, SK, SC, MI, CC, UN = ("advertise_keys", "share_keys", "share_check", "masked_input",
                          "consistency_check", "unmasking")  # fmt: skip
Expect = tuple[str, DropReason | AbortReason | None, int | None]
EditsOf = Callable[[Net], dict[tuple[str, int, int], Edit]]


def up(round_name: str, u: int) -> tuple[str, int, int]:
    return (round_name, u, SERVER)


def down(round_name: str, v: int) -> tuple[str, int, int]:
    return (round_name, SERVER, v)


def parties() -> dict[str, Party]:
    specs: list[tuple[str, tuple[int, int, int, int], Json]] = [
        ("semi3", (3, 2, 4, 8), {}),
        ("semi5", (5, 3, 4, 16), {}),
        ("semi7", (7, 4, 3, 32), {}),
        ("mal3", (3, 2, 4, 8), {"malicious": True}),
        ("mal5", (5, 3, 3, 24), {"malicious": True}),
        ("plus8", (8, 3, 4, 12), {"k": 4}),
        ("plusmal8", (8, 3, 2, 8), {"k": 4, "malicious": True}),
        ("semi_complete_13", (13, 7, 6, 16), {}),
        ("malicious_complete_15", (15, 8, 5, 20), {"malicious": True}),
        ("semi_plus_16", (16, 4, 6, 32), {"k": 6}),
        ("malicious_plus_16", (16, 4, 4, 48), {"k": 6, "malicious": True}),
        ("large_plus_24", (24, 5, 1000, 32), {"k": 8}),
        ("semi3_b1", (3, 2, 5, 1), {}),
        ("semi3_t3_b64", (3, 3, 3, 64), {}),
        ("weak1", (1, 1, 3, 40), {"weak": True}),
    ]
    return {name: make_party(name, *dims, **kw) for name, dims, kw in specs}


class Table:
    """The rows of round.json: (scenario, mutation, expected outcome)."""

    def __init__(self, ps: dict[str, Party]) -> None:
        self.ps = ps
        self.rows: list[Scenario] = []

    def row(self, name: str, party: str, expect: Expect, rules: Sequence[str], note: str, *,
            edits: EditsOf | None = None, silent: dict[int, str] | None = None,
            inject: Sequence[Inject] = (), order: dict[str, list[int]] | None = None,
            completes: bool | None = None, check: Callable[[Json], None] | None = None,
            honest: bool = False) -> None:  # fmt: skip
        p = self.ps[party]
        net = Net(p)
        self.rows.append(
            Scenario(
                name,
                p,
                expect,
                tuple(rules),
                note,
                silent=silent or {},
                edits={} if edits is None else edits(net),
                inject=list(inject),
                order=order or {},
                completes=completes,
                net=net,
                check=check,
                honest=honest,
            )
        )


def fill(size: int) -> bytes:
    """Fixed filler bytes (a ciphertext or share no one made)."""
    return Drbg(MASTER_SEED, b"round/fill")(size)


def field_share(seed: int) -> bytes:
    return b"".join(u32((seed * 7919 + j * 104729) % P) for j in range(9))


def bump(share: bytes, limb: int = 0) -> bytes:
    values = ints(shamir.decode_share(share))
    values[limb] = (values[limb] + 1) % P
    return bytes.fromhex(share_hex(values))


def other_kind(kind: wire.ShareKind) -> wire.ShareKind:
    return KIND.KEY if kind is KIND.SELF_MASK else KIND.SELF_MASK


def sorted_entries(items: Iterable[Any], key: str) -> list[Any]:
    return sorted(items, key=lambda e: getattr(e, key))


def drops_are(*expected: tuple[int, DropReason]) -> Callable[[Json], None]:
    def check(outcome: Json) -> None:
        got = [(d["client"], d["reason"]) for d in outcome["drops"]]
        assert got == [(c, r.name) for c, r in expected], got

    return check


def aborts_are(*expected: tuple[int, AbortReason]) -> Callable[[Json], None]:
    def check(outcome: Json) -> None:
        got = [(a["client"], a["reason"]) for a in outcome["client_aborts"]]
        assert got == [(c, r.name) for c, r in expected], got

    return check


def accusations(v: int, accused: Sequence[int]) -> Callable[[Json], None]:
    """Client v's SHARE_CHECK lists exactly ``accused``."""

    def check(outcome: Json) -> None:
        (message,) = [e["message"] for e in outcome["transcript"] if e["step"] == "message"
                      and e["type"] == "SHARE_CHECK" and e["sender"] == v]  # fmt: skip
        body = body_of(bytes.fromhex(message))[32:]
        count = int.from_bytes(body[:4], "big")
        ids = [int.from_bytes(body[4 + 4 * i : 8 + 4 * i], "big") for i in range(count)]
        assert ids == list(accused), ids
        assert outcome["result"] is not None

    return check


def both(*checks: Callable[[Json], None]) -> Callable[[Json], None]:
    def check(outcome: Json) -> None:
        for c in checks:
            c(outcome)

    return check


def round_table(ps: dict[str, Party]) -> list[Scenario]:
    tb = Table(ps)
    row = tb.row
    low = LOW_ORDER_POINTS
    stranger = KeyPair.from_secret(Drbg(MASTER_SEED, b"round/stranger")(32)).public
    other5 = variant(ps["semi5"].cfg, session_nonce=bytes(32))
    other_mal5 = variant(ps["mal5"].cfg, session_nonce=bytes(32))
    semi5 = Net(ps["semi5"])
    g8 = graph_for(ps["plus8"].cfg)
    gm8 = graph_for(ps["plusmal8"].cfg)
    far8 = next(w for w in range(8) if w not in g8.holders(0))  # not a neighbour of 0

    # ------------------------------------------------------------ honest rounds
    row(
        "round_semi_complete_dropouts",
        "semi_complete_13",
        (CLEAN, None, None),
        [
            "10.5.masked-input",
            "10.8.unmask",
            "10.8.holders-used",
            "10.1.close-timeouts",
            "5.5.key-list",
            "10.3.share-forward",
            "10.3.share-keys",
            "9.rand-layout",
            "8.1.sharing",
            "8.3.commitments",
            "6.2.hkdf",
            "6.4.share-ciphertext",
            "7.1.prg",
            "10.5.server-sum",
            "10.7.response",
            "3.id-set-bitmap",
            "5.3.echo",
        ],
        "complete graph, semi-honest; one client silent from each round, so U1 ⊋ U2 ⊋ U3 ⊋ "
        "U4 and |U4| > t",
        silent={1: AK, 4: SK, 7: SC, 10: MI, 12: UN},
        completes=True,
        honest=True,
    )
    row(
        "round_malicious_complete_dropouts",
        "malicious_complete_15",
        (CLEAN, None, None),
        [
            "10.5.masked-input",
            "10.8.unmask",
            "10.8.holders-used",
            "10.6.signature-selection",
            "5.5.key-list",
            "10.3.share-forward",
            "10.2.advertise-signature",
            "10.3.client-check-signatures",
            "10.7.consistency-count",
            "6.3.signature-invalid",
            "5.11.consistency",
            "10.1.close-timeouts",
            "10.7.response",
        ],
        "complete graph, malicious; one client silent from each of the six rounds; each "
        "UNMASK_REQUEST carries the t lowest-id signers",
        silent={2: AK, 5: SK, 8: SC, 11: MI, 13: CC, 14: UN},
        completes=True,
        honest=True,
    )
    row(
        "round_semi_secaggplus_dropouts",
        "semi_plus_16",
        (CLEAN, None, None),
        [
            "7.2.graph",
            "5.5.key-list",
            "10.3.share-forward",
            "10.5.masked-input",
            "10.8.unmask",
            "10.8.holders-used",
            "10.1.close-timeouts",
            "10.7.response",
        ],
        "SecAgg+ (k = 6), semi-honest; clients silent from each round; key lists, forwards "
        "and masks follow the Harary graph",
        silent={8: AK, 7: SK, 11: SC, 14: MI, 6: UN},
        completes=True,
        honest=True,
    )
    row(
        "round_malicious_secaggplus_dropouts",
        "malicious_plus_16",
        (CLEAN, None, None),
        [
            "7.2.graph",
            "5.5.key-list",
            "10.6.signature-selection",
            "10.5.masked-input",
            "10.8.unmask",
            "10.8.holders-used",
            "10.7.consistency-count",
            "10.7.response",
        ],
        "SecAgg+ (k = 6), malicious; clients silent from each round; each UNMASK_REQUEST "
        "carries the union of L(z) over the owners the recipient holds",
        silent={7: AK, 2: SK, 9: SC, 11: MI, 3: CC, 8: UN},
        completes=True,
        honest=True,
    )
    row(
        "round_large_secaggplus_n24_m1000",
        "large_plus_24",
        (CLEAN, None, None),
        ["7.2.graph", "10.5.masked-input", "10.8.unmask", "10.8.holders-used", "7.1.prg"],
        "n = 24, k = 8, m = 1000: long vectors appear as digests in the intermediates",
        silent={2: SK, 16: SC, 14: MI, 0: UN},
        completes=True,
        honest=True,
    )
    row(
        "round_semi_n3_b1",
        "semi3_b1",
        (CLEAN, None, None),
        ["10.5.masked-input", "10.8.unmask", "1.byte-order"],
        "b = 1",
        completes=True,
        honest=True,
    )
    row(
        "round_semi_n3_t3_b64",
        "semi3_t3_b64",
        (CLEAN, None, None),
        ["10.5.masked-input", "10.8.unmask", "1.byte-order"],
        "t = n, b = 64 (8-byte ring elements)",
        completes=True,
        honest=True,
    )
    row(
        "round_weak_n1",
        "weak1",
        (CLEAN, None, None),
        ["10.5.masked-input", "10.8.unmask"],
        "n = t = 1 (only with allow_weak_threshold): no coefficients, shares are the limbs",
        completes=True,
        honest=True,
    )

    # ------------------------------------------------------------ advertise_keys (server)
    def advertised(c: bytes | None = None, s: bytes | None = None) -> EditsOf:
        return lambda n: {up(AK, 2): n.advertise(2, c=c, s=s)}

    for name, change, why in (
        ("low_order_c_key", advertised(c=low["u0"]), "c_2 is the point 0"),
        ("low_order_s_key", advertised(s=low["order8"]), "s_2 is a point of order 8"),
        ("non_canonical_key", advertised(c=top_bit(semi5.public(2, "c"))), "c_2 has bit 255 set"),
        ("key_not_reduced", advertised(s=(9 + P25519).to_bytes(32, "little")), "s_2 is 9 + p"),
    ):
        row(
            f"round_bad_advertise_{name}",
            "semi5",
            (DROP, D.INVALID_CONTENT, 2),
            ["10.2.advertise-keys-valid", "6.1.refused-keys", "6.1.fingerprint"],
            f"{why}: the server refuses the key",
            edits=change,
            completes=True,
        )
    row(
        "round_bad_advertise_repeated_key",
        "semi5",
        (DROP, D.INVALID_CONTENT, 1),
        ["10.2.distinct-keys", "6.1.fingerprint"],
        "client 3 advertises client 1's c key: both are dropped, in id order",
        edits=lambda n: {up(AK, 3): n.advertise(3, c=n.public(1, "c"))},
        completes=True,
    )
    row(
        "round_bad_advertise_aliased_key",
        "semi5",
        (DROP, D.INVALID_CONTENT, 1),
        ["10.2.distinct-keys", "6.1.fingerprint"],
        "client 3 advertises 1/u of client 1's s key: other bytes, the same key to X25519 "
        "(equal fingerprints): both are dropped",
        edits=lambda n: {up(AK, 3): n.advertise(3, s=alias(n.public(1, "s")))},
        completes=True,
    )
    row(
        "round_bad_advertise_aliased_across_kinds",
        "semi5",
        (DROP, D.INVALID_CONTENT, 1),
        ["10.2.distinct-keys", "6.1.fingerprint"],
        "client 3's c key is an alias of client 1's s key: repeats count across both kinds",
        edits=lambda n: {up(AK, 3): n.advertise(3, c=alias(n.public(1, "s")))},
        completes=True,
    )
    row(
        "round_bad_advertise_same_key_for_c_and_s",
        "semi5",
        (DROP, D.INVALID_CONTENT, 2),
        ["10.2.distinct-keys", "6.1.fingerprint"],
        "client 2 uses one key as c and as s",
        edits=lambda n: {up(AK, 2): n.advertise(2, s=n.public(2, "c"))},
        completes=True,
    )
    row(
        "round_bad_advertise_repeated_key_below_threshold",
        "semi3",
        (SERVER_ABORT, A.BELOW_THRESHOLD, None),
        ["10.2.distinct-keys", "10.2.u1-threshold"],
        "client 2 copies client 1's c key: both are dropped, |U1| = 1 < t",
        edits=lambda n: {up(AK, 2): n.advertise(2, c=n.public(1, "c"))},
        completes=False,
    )
    row(
        "round_bad_advertise_unsigned",
        "mal5",
        (DROP, D.BAD_SIGNATURE, 2),
        ["10.2.advertise-signature", "6.3.signature-invalid"],
        "the advertisement's signature is 64 zero bytes",
        edits=lambda n: {up(AK, 2): n.advertise(2, sign="zero")},
        completes=True,
    )
    row(
        "round_bad_advertise_substituted_key",
        "mal5",
        (DROP, D.BAD_SIGNATURE, 2),
        ["10.2.advertise-signature", "6.3.signature-invalid"],
        "on the wire, s_2 is replaced by another valid key: the signature no longer verifies",
        edits=lambda n: {up(AK, 2): n.advertise(2, s=stranger)},
        completes=True,
    )
    row(
        "round_bad_advertise_signed_by_other_client",
        "mal5",
        (DROP, D.BAD_SIGNATURE, 2),
        ["10.2.advertise-signature", "6.3.signature-invalid"],
        "client 2's keys are signed with client 1's roster key",
        edits=lambda n: {up(AK, 2): n.advertise(2, sign="resign", signer=1)},
        completes=True,
    )
    row(
        "round_bad_advertise_signature_of_other_session",
        "mal5",
        (DROP, D.BAD_SIGNATURE, 2),
        ["10.2.advertise-signature", "6.3.signature-invalid", "2.session-id"],
        "client 2's signature is over another session id (an advertisement from another "
        "session re-wrapped in this session's envelope)",
        edits=lambda n: {up(AK, 2): n.advertise(2, sign="resign", session=other_mal5)},
        completes=True,
    )
    row(
        "round_bad_advertise_bad_signature_and_low_order_key",
        "mal5",
        (DROP, D.BAD_SIGNATURE, 2),
        ["10.2.advertise-check-order", "10.2.advertise-signature"],
        "c_2 is the point 0 and the signature does not verify: the signature is checked first",
        edits=lambda n: {up(AK, 2): n.advertise(2, c=low["u0"])},
        completes=True,
    )
    row(
        "round_bad_advertise_corrupt_client_signs_alias",
        "mal5",
        (DROP, D.INVALID_CONTENT, 1),
        ["10.2.distinct-keys", "6.1.fingerprint", "10.2.advertise-check-order"],
        "corrupt client 3 signs an alias of client 1's s key with its own roster key: the "
        "signature verifies, the fingerprints repeat: both are dropped",
        edits=lambda n: {up(AK, 3): n.advertise(3, s=alias(n.public(1, "s")), sign="resign")},
        completes=True,
    )
    row(
        "round_bad_advertise_from_other_session",
        "semi5",
        (DROP, D.WRONG_SESSION, 2),
        ["4.check5-session", "2.session-id"],
        "client 2's advertisement is replayed from another session (same parameters, other nonce)",
        edits=lambda n: {up(AK, 2): n.other_session(AK, 2, other5)},
        completes=True,
    )
    row(
        "round_bad_advertise_truncated",
        "semi5",
        (DROP, D.DECODE_FAILED, 2),
        ["4.check4-digest", "10.1.receive-order"],
        "the advertisement's last byte is lost",
        edits=lambda n: {up(AK, 2): lambda d: d[:-1]},
        completes=True,
    )
    row(
        "round_bad_advertise_lost",
        "semi5",
        (DROP, D.TIMED_OUT, 2),
        ["10.1.close-timeouts"],
        "the advertisement never arrives",
        edits=lambda n: {up(AK, 2): lambda d: None},
        completes=True,
    )

    # ------------------------------------------------------------ the server's ignore rules
    row("round_bad_unknown_client", "semi3", (DROP, D.UNKNOWN_CLIENT, 3),
        ["10.1.ignore-unknown"],
        "messages from ids 3 (= n) and 0xFFFFFFFF are recorded as UNKNOWN_CLIENT and unused",
        inject=[Inject(SK, "last", 3, SERVER, lambda n: n.seen[up(SK, 0)]),
                Inject(SK, "last", SERVER, SERVER, lambda n: n.seen[up(SK, 1)])],
        completes=True)  # fmt: skip
    row(
        "round_bad_unknown_client_recorded_64_times",
        "semi3",
        (DROP, D.UNKNOWN_CLIENT, 7),
        ["10.1.ignore-unknown"],
        "65 messages from id 7: the first 64 are recorded",
        inject=[Inject(AK, "last", 7, SERVER, lambda n: b"\x00") for _ in range(65)],
        completes=True,
    )
    row(
        "round_ignores_messages_after_completion",
        "semi3",
        (CLEAN, None, None),
        ["10.1.ignore-closed"],
        "after the round completed: a repeated reply, garbage and an unknown id are ignored "
        "(no drop is recorded)",
        inject=[
            Inject(UN, "end", 0, SERVER, lambda n: n.seen[up(UN, 0)]),
            Inject(UN, "end", 1, SERVER, lambda n: b"garbage"),
            Inject(UN, "end", 9, SERVER, lambda n: b"garbage"),
        ],
        completes=True,
    )
    row(
        "round_bad_ignores_messages_after_abort",
        "semi3",
        (SERVER_ABORT, A.BELOW_THRESHOLD, None),
        ["10.1.ignore-closed", "10.1.close-threshold"],
        "after the server aborted: a late reply and an unknown id are ignored",
        silent={1: MI, 2: MI},
        inject=[
            Inject(MI, "end", 1, SERVER, lambda n: b"late"),
            Inject(MI, "end", 9, SERVER, lambda n: b"late"),
        ],
        completes=False,
    )
    row(
        "round_bad_dropped_client_cannot_rejoin",
        "semi5",
        (DROP, D.DECODE_FAILED, 1),
        ["10.1.ignore-unexpected", "10.1.receive-order"],
        "client 1's SHARE_KEYS arrives truncated (dropped), then intact: the second copy is "
        "ignored and 1 stays out of the round",
        edits=lambda n: {up(SK, 1): lambda d: d[:-1]},
        inject=[Inject(SK, "last", 1, SERVER, lambda n: n.seen[up(SK, 1)])],
        completes=True,
    )
    row(
        "round_bad_timed_out_client_cannot_rejoin",
        "semi5",
        (DROP, D.TIMED_OUT, 2),
        ["10.1.ignore-unexpected", "10.1.close-timeouts"],
        "client 2 misses share_check (TIMED_OUT); its late messages in the next phase are ignored",
        silent={2: SC},
        inject=[
            Inject(MI, "first", 2, SERVER, lambda n: b"late"),
            Inject(MI, "last", 2, SERVER, lambda n: n.seen[up(SK, 2)]),
        ],
        completes=True,
    )
    row(
        "round_bad_never_prompted_client_ignored",
        "semi5",
        (DROP, D.TIMED_OUT, 4),
        ["10.1.ignore-unexpected"],
        "client 4's advertisement arrives after advertise_keys closed: it is ignored",
        silent={4: AK},
        inject=[
            Inject(
                SK,
                "first",
                4,
                SERVER,
                lambda n: wire.encode_advertise_keys(
                    n.cfg, 4, wire.AdvertiseKeys(n.public(4, "c"), n.public(4, "s"))
                ),
            )
        ],
        completes=True,
    )
    row(
        "round_first_message_stands",
        "semi5",
        (CLEAN, None, None),
        ["10.1.first-stands"],
        "a second, different MASKED_INPUT from client 1 (with the right echo) is ignored: the "
        "aggregate holds the first",
        inject=[
            Inject(
                MI,
                "last",
                1,
                SERVER,
                lambda n: n.masked(1, lambda y: y.__iadd__(1))(n.seen[up(MI, 1)]) or b"",
            )
        ],
        completes=True,
    )
    row(
        "round_first_message_stands_over_garbage",
        "semi5",
        (CLEAN, None, None),
        ["10.1.first-stands"],
        "garbage from client 0 after its SHARE_CHECK was accepted is ignored (no drop)",
        inject=[Inject(SC, "last", 0, SERVER, lambda n: b"\x00" * 90)],
        completes=True,
    )

    # ------------------------------------------------------------ closing a phase
    row(
        "round_bad_timeouts_in_id_order",
        "semi5",
        (DROP, D.TIMED_OUT, 1),
        ["10.1.close-timeouts"],
        "clients 3 and 1 miss masked_input: dropped as 1, then 3",
        silent={3: MI, 1: MI},
        completes=True,
    )
    for party, rnd in (("semi3", AK), ("semi3", SK), ("semi3", SC), ("semi3", MI),
                       ("semi3", UN), ("mal3", CC)):  # fmt: skip
        row(
            f"round_bad_below_threshold_at_{rnd}_{party}",
            party,
            (SERVER_ABORT, A.BELOW_THRESHOLD, None),
            ["10.1.close-threshold", "10.1.close-timeouts"],
            f"two of three clients go silent in {rnd}: fewer than t accepted",
            silent={1: rnd, 2: rnd},
            completes=False,
        )
    row(
        "round_bad_below_threshold_before_inconsistent_shares",
        "semi5",
        (SERVER_ABORT, A.BELOW_THRESHOLD, None),
        ["10.1.close-threshold", "10.8.step-order"],
        "owner 2 committed to another b_2 and only 2 < t clients answer the unmasking: the "
        "threshold is checked before the closing step",
        edits=lambda n: {up(SK, 2): n.self_mask_commitment(2, bytes(32))},
        silent={2: UN, 3: UN, 4: UN},
        completes=False,
    )

    # ------------------------------------------------------------ KEY_LIST (client)
    def kl(party: str, v: int, change: Callable[[list[wire.KeyEntry]], list[wire.KeyEntry]],
           name: str, expect: Expect, rules: Sequence[str], note: str,
           extra: EditsOf | None = None, **kw: Any) -> None:  # fmt: skip
        def edits(n: Net) -> dict[tuple[str, int, int], Edit]:
            out = {down(SK, v): n.key_list(v, change)}
            if extra is not None:
                out.update(extra(n))
            return out

        row(name, party, expect, rules, note, edits=edits, **kw)

    iv, bt, kaf, bs = (A.INCONSISTENT_VIEW, A.BELOW_THRESHOLD, A.KEY_AGREEMENT_FAILED,
                       A.BAD_SIGNATURE)  # fmt: skip
    hold, thr, own, sig, rep, order = (
        "10.3.client-check-holders",
        "10.3.client-check-threshold",
        "10.3.client-check-own-entry",
        "10.3.client-check-signatures",
        "10.3.client-check-repeated",
        "10.3.client-check-order",
    )

    def add_entry(party: str, w: int) -> Callable[[list[wire.KeyEntry]], list[wire.KeyEntry]]:
        p = ps[party]
        n = Net(p)
        signature = b""
        if p.setup.keys is not None:
            parts = wire.advertise_signed_parts(p.cfg, w, n.public(w, "c"), n.public(w, "s"))
            signature = p.setup.keys[w].sign(wire.LABEL_ADVERTISE, *parts)
        entry = wire.KeyEntry(w, n.public(w, "c"), n.public(w, "s"), signature)
        # In place of the last neighbour: a list of h + 1 entries would not even decode.
        return lambda es: sorted_entries(
            [*es[:-1], entry] if len(es) > 1 else [*es, entry], "client"
        )

    far_m8 = next(w for w in range(8) if w not in gm8.holders(0))
    kl(
        "plus8",
        0,
        add_entry("plus8", far8),
        "round_bad_key_list_not_holder",
        (CLIENT, iv, 0),
        [hold],
        f"the key list to 0 lists client {far8}, not a neighbour of 0, in place of a neighbour",
    )
    kl(
        "plusmal8",
        0,
        add_entry("plusmal8", far_m8),
        "round_bad_key_list_not_holder_malicious",
        (CLIENT, iv, 0),
        [hold, order],
        f"the key list to 0 lists client {far_m8}'s signed entry, not a neighbour of 0: "
        "INCONSISTENT_VIEW although every signature verifies",
    )
    kl(
        "plus8",
        0,
        lambda es: add_entry("plus8", far8)([e for e in es if e.client == 0]),
        "round_bad_key_list_not_holder_and_below_threshold",
        (CLIENT, iv, 0),
        [hold, order],
        "the key list to 0 is [0, a non-neighbour]: check 1 (holders) before check 2 (t)",
    )
    kl(
        "semi3",
        0,
        lambda es: es[:1],
        "round_bad_key_list_below_threshold",
        (CLIENT, bt, 0),
        [thr],
        "the key list to 0 holds only 0's own entry",
    )
    kl(
        "semi5",
        0,
        lambda es: es[1:3],
        "round_bad_key_list_below_threshold_and_omits_client",
        (CLIENT, bt, 0),
        [thr, order],
        "the key list to 0 is [1, 2]: check 2 (t) before check 3 (own entry)",
    )
    kl(
        "semi5",
        0,
        lambda es: es[1:],
        "round_bad_key_list_omits_client",
        (CLIENT, iv, 0),
        [own],
        "the key list to 0 omits 0",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 0, s_public=stranger),
        "round_bad_key_list_alters_client_key",
        (CLIENT, iv, 0),
        [own],
        "the key list to 0 carries another s key for 0",
    )
    kl(
        "mal5",
        0,
        lambda es: entry_with(es, 0, s_public=stranger),
        "round_bad_key_list_alters_client_key_and_signature",
        (CLIENT, iv, 0),
        [own, order],
        "0's own entry is altered, so its signature fails too: check 3 before check 4",
    )
    kl(
        "mal5",
        0,
        lambda es: entry_with(es, 2, s_public=stranger),
        "round_bad_key_list_forged_key",
        (CLIENT, bs, 0),
        [sig, "6.3.signature-invalid"],
        "the server substitutes s_2 in the key list to 0 (signature kept)",
    )
    kl(
        "mal5",
        0,
        lambda es: entry_with(es, 2, signature=bytes(64)),
        "round_bad_key_list_unsigned_entry",
        (CLIENT, bs, 0),
        [sig, "6.3.signature-invalid"],
        "entry 2 of the key list to 0 has a zero signature",
    )
    kl("mal5", 0, lambda es: [dataclasses.replace(es[i], signature=es[{1: 2, 2: 1}.get(i, i)]
                                                  .signature) for i in range(len(es))],
       "round_bad_key_list_signatures_swapped", (CLIENT, bs, 0), [sig,
                                                                  "6.3.signature-invalid"],
       "entries 1 and 2 of the key list to 0 carry each other's signatures")  # fmt: skip
    kl(
        "mal5",
        0,
        lambda es: entry_with(es, 3, c_public=es[2].c_public),
        "round_bad_key_list_repeated_key_and_bad_signature",
        (CLIENT, bs, 0),
        [sig, rep, order],
        "entry 3 repeats c_2 (and its signature fails): check 4 before check 5",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 3, c_public=es[2].c_public),
        "round_bad_key_list_repeated_key",
        (CLIENT, iv, 0),
        [rep],
        "entry 3 of the key list to 0 repeats c_2",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 3, c_public=es[1].s_public),
        "round_bad_key_list_repeated_key_across_kinds",
        (CLIENT, iv, 0),
        [rep],
        "c_3 equals s_1: a repeat among all 2|E| keys",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 2, s_public=es[2].c_public),
        "round_bad_key_list_c_equals_s",
        (CLIENT, iv, 0),
        [rep],
        "entry 2 has c_2 = s_2",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 2, c_public=low["u1"]),
        "round_bad_key_list_low_order_key",
        (CLIENT, kaf, 0),
        ["10.3.key-agreement", "6.1.refused-keys"],
        "c_2 in the key list to 0 is the point 1",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 2, c_public=top_bit(es[2].c_public)),
        "round_bad_key_list_non_canonical_key",
        (CLIENT, kaf, 0),
        ["10.3.key-agreement", "6.1.refused-keys"],
        "c_2 in the key list to 0 has bit 255 set",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(entry_with(es, 1, c_public=low["u0"]), 3, s_public=es[2].s_public),
        "round_bad_key_list_low_order_key_and_repeated_key",
        (CLIENT, iv, 0),
        [rep, "10.1.client-checks-before-agreements"],
        "c_1 is the point 0 and s_3 repeats s_2: the checks run before any agreement",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es[:2], 1, c_public=low["u0"]),
        "round_bad_key_list_low_order_key_and_below_threshold",
        (CLIENT, bt, 0),
        [thr, "10.1.client-checks-before-agreements"],
        "[0, 1] with c_1 the point 0: BELOW_THRESHOLD before any agreement",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 3, c_public=alias(es[2].c_public)),
        "round_bad_key_list_aliased_c_key",
        (CLIENT, iv, 0),
        ["10.3.agreements-distinct", "6.1.fingerprint"],
        "c_3 is 1/u of c_2: distinct bytes, equal agreements",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(es, 2, c_public=alias(es[0].c_public)),
        "round_bad_key_list_alias_of_own_c_key",
        (CLIENT, iv, 0),
        ["10.3.agreements-distinct"],
        "c_2 is an alias of 0's own c key",
    )
    kl(
        "semi5",
        0,
        lambda es: entry_with(
            entry_with(es, 1, c_public=alias(es[2].c_public)), 4, c_public=low["u1"]
        ),
        "round_bad_key_list_alias_then_low_order_key",
        (CLIENT, kaf, 0),
        ["10.3.key-agreement", "10.3.agreements-distinct"],
        "c_1 aliases c_2 and c_4 is the point 1: every agreement runs (and the one with 4 "
        "fails) before agreements are compared",
    )
    row(
        "round_bad_key_list_undecodable",
        "semi5",
        (CLIENT, A.INVALID_MESSAGE, 0),
        ["10.1.client-invalid-message"],
        "the key list to 0 loses its last byte",
        edits=lambda n: {down(SK, 0): lambda d: d[:-1]},
    )
    row(
        "round_bad_key_list_other_session",
        "semi5",
        (CLIENT, A.INVALID_MESSAGE, 0),
        ["10.1.client-invalid-message", "2.session-id"],
        "the key list to 0 comes from another session",
        edits=lambda n: {
            down(SK, 0): lambda d: wire.encode_key_list(
                other5, 0, wire.decode_key_list(d, n.cfg, 0)
            )
        },
    )
    row(
        "round_bad_key_list_misaddressed",
        "semi5",
        (CLIENT, A.INVALID_MESSAGE, 1),
        ["10.1.client-invalid-message", "4.check7-channel"],
        "client 1 is delivered the key list addressed to 0",
        edits=lambda n: {down(SK, 1): lambda d: n.seen[down(SK, 0)]},
    )
    row("round_bad_key_list_forged_key_semi_honest", "semi5", (DROP, D.PROMPT_MISMATCH, 1),
        ["5.3.echo"],
        "s_2 is substituted in the key list to 1; nothing tells 1 in the semi-honest mode, "
        "but its SHARE_KEYS echoes the altered prompt, so the server drops it",
        edits=lambda n: {down(SK, 1): n.key_list(1, lambda es: entry_with(es, 2,
                                                                         s_public=stranger))},
        completes=True)  # fmt: skip
    row(
        "round_bad_key_list_answered_twice",
        "semi5",
        (CLIENT, A.INVALID_MESSAGE, 0),
        ["10.1.client-answers-once"],
        "client 0 receives its key list a second time after answering it",
        inject=[Inject(SK, "last", SERVER, 0, lambda n: n.seen[down(SK, 0)])],
        completes=True,
    )

    row(
        "round_bad_aborted_client_stays_silent",
        "semi5",
        (CLIENT, A.INVALID_MESSAGE, 0),
        ["10.1.client-silent-after-abort", "10.1.client-invalid-message"],
        "0 aborts on a truncated key list; a forward sent to it afterwards gets no answer",
        edits=lambda n: {down(SK, 0): lambda d: d[:-1]},
        inject=[Inject(SC, "first", SERVER, 0, lambda n: n.seen[down(SC, 1)])],
        completes=True,
    )
    row(
        "round_bad_key_list_omits_peer",
        "semi5",
        (DROP, D.INVALID_CONTENT, 0),
        ["10.3.share-keys", "10.3.server-peers"],
        "the key list to 0 omits 4 (and 0's echo is put back): 0 shares among the ids it was "
        "sent, so its SHARE_KEYS has no ciphertext for 4 and the server drops it",
        edits=lambda n: {
            down(SK, 0): n.key_list(0, lambda es: [e for e in es if e.client != 4]),
            up(SK, 0): n.restore_echo(SK, 0),
        },
        completes=True,
    )

    # ------------------------------------------------------------ SHARE_KEYS (server)
    peers, holders_rule = "10.3.server-peers", "10.3.server-holders"

    def sk(
        party: str,
        u: int,
        change: Callable[[wire.ShareKeys], wire.ShareKeys],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
        **kw: Any,
    ) -> None:
        row(name, party, expect, rules, note, edits=lambda n: {up(SK, u): n.share_keys(u, change)},
            completes=True, **kw)  # fmt: skip

    def cts(change: Callable[[list[tuple[int, bytes]]], list[tuple[int, bytes]]]
            ) -> Callable[[wire.ShareKeys], wire.ShareKeys]:  # fmt: skip
        return lambda m: dataclasses.replace(
            m, ciphertexts=tuple(sorted(change(list(m.ciphertexts))))
        )

    def coms(
        change: Callable[[list[Any]], list[Any]],
    ) -> Callable[[wire.ShareKeys], wire.ShareKeys]:
        return lambda m: dataclasses.replace(
            m, commitments=tuple(sorted(change(list(m.commitments))))
        )

    ic = D.INVALID_CONTENT
    sk(
        "semi5",
        1,
        cts(lambda c: c[:-1]),
        "round_bad_share_keys_missing_peer",
        (DROP, ic, 1),
        [peers],
        "client 1 leaves out its ciphertext to 4",
    )
    sk(
        "semi5",
        0,
        cts(lambda c: [*c, (4, fill(96))]),
        "round_bad_share_keys_peer_outside_u1",
        (DROP, ic, 0),
        [peers],
        "client 0 adds a ciphertext to 4, which is not in U1",
        silent={4: AK},
    )
    sk(
        "semi5",
        1,
        cts(lambda c: [*c[:-1], (1, c[-1][1])]),
        "round_bad_share_keys_ciphertext_to_self",
        (DROP, ic, 1),
        [peers],
        "client 1 sends its ciphertext for 4 to itself instead",
    )
    sk(
        "plus8",
        0,
        cts(lambda c: [*c[:-1], (far8, c[-1][1])]),
        "round_bad_share_keys_peer_not_neighbour",
        (DROP, ic, 0),
        [peers],
        f"client 0 sends its last ciphertext to {far8}, not a neighbour",
    )
    sk(
        "semi5",
        1,
        coms(lambda c: [e for e in c if e[0] != 1]),
        "round_bad_share_keys_commitments_omit_self",
        (DROP, ic, 1),
        [holders_rule],
        "client 1 leaves out the commitments for itself",
    )
    sk(
        "plus8",
        0,
        coms(lambda c: [*c[:-1], (far8, c[-1][1], c[-1][2])]),
        "round_bad_share_keys_commitment_not_holder",
        (DROP, ic, 0),
        [holders_rule],
        f"client 0's last commitments name {far8}, not a holder",
    )
    sk(
        "semi5",
        1,
        lambda m: dataclasses.replace(cts(lambda c: c[:-1])(m), prompt=flip(m.prompt, 0)),
        "round_bad_share_keys_wrong_peers_and_prompt",
        (DROP, D.PROMPT_MISMATCH, 1),
        ["5.3.echo-before-content", "5.3.echo"],
        "a missing ciphertext and a wrong echo: the echo is compared before the content rules",
    )
    row(
        "round_bad_share_keys_undecodable_and_prompt",
        "semi5",
        (DROP, D.DECODE_FAILED, 1),
        ["10.1.receive-order", "5.6.share-keys-decode"],
        "a wrong echo in a body whose ciphertext count is off by one: decoding comes first",
        edits=lambda n: {
            up(SK, 1): lambda d: (
                lambda e: with_body(
                    e,
                    body_of(e)[:64]
                    + u32(int.from_bytes(body_of(e)[64:68], "big") + 1)
                    + body_of(e)[68:],
                )
            )(n.echo(SK, 1, lambda p: flip(p, 0))(d) or b"")
        },
        completes=True,
    )
    row(
        "round_bad_share_keys_prompt_of_other_client",
        "semi5",
        (DROP, D.PROMPT_MISMATCH, 1),
        ["5.3.echo"],
        "client 1's SHARE_KEYS echoes the key list sent to 0",
        edits=lambda n: {up(SK, 1): n.echo(SK, 1, n.echo_of(SK, 0))},
        completes=True,
    )
    row(
        "round_bad_share_keys_replayed_advertise",
        "semi5",
        (DROP, D.UNEXPECTED_MESSAGE, 0),
        ["4.check6-type"],
        "client 0's advertisement is replayed in place of its SHARE_KEYS",
        edits=lambda n: {up(SK, 0): lambda d: n.seen[up(AK, 0)]},
        completes=True,
    )
    row(
        "round_bad_share_keys_other_session",
        "semi5",
        (DROP, D.WRONG_SESSION, 2),
        ["4.check5-session", "2.session-id"],
        "client 2's SHARE_KEYS comes from another session",
        edits=lambda n: {up(SK, 2): n.other_session(SK, 2, other5)},
        completes=True,
    )
    later_rounds(tb, ps)
    checks = outcome_checks()
    for sc in tb.rows:
        if sc.name in checks:
            assert sc.check is None
            sc.check = checks.pop(sc.name)
    assert not checks, sorted(checks)
    return tb.rows


def outcome_checks() -> dict[str, Callable[[Json], None]]:
    """What some cases exist to show, beyond the expected reason: the full drop or abort list,
    or the accusations a client made."""
    ic, to, sr, uk = D.INVALID_CONTENT, D.TIMED_OUT, D.SHARES_REJECTED, D.UNKNOWN_CLIENT

    def unknown_64(outcome: Json) -> None:
        assert [d["reason"] for d in outcome["drops"]] == [uk.name] * 64

    return {
        "round_bad_advertise_repeated_key": drops_are((1, ic), (3, ic)),
        "round_bad_advertise_aliased_key": drops_are((1, ic), (3, ic)),
        "round_bad_advertise_aliased_across_kinds": drops_are((1, ic), (3, ic)),
        "round_bad_advertise_corrupt_client_signs_alias": drops_are((1, ic), (3, ic)),
        "round_bad_advertise_repeated_key_below_threshold": drops_are((1, ic), (2, ic)),
        "round_bad_unknown_client": drops_are((3, uk), (SERVER, uk)),
        "round_bad_unknown_client_recorded_64_times": unknown_64,
        "round_ignores_messages_after_completion": drops_are(),
        "round_bad_ignores_messages_after_abort": drops_are((1, to), (2, to)),
        "round_bad_dropped_client_cannot_rejoin": drops_are((1, D.DECODE_FAILED)),
        "round_bad_timed_out_client_cannot_rejoin": drops_are((2, to)),
        "round_bad_never_prompted_client_ignored": drops_are((4, to)),
        "round_first_message_stands": drops_are(),
        "round_first_message_stands_over_garbage": drops_are(),
        "round_bad_timeouts_in_id_order": drops_are((1, to), (3, to)),
        "round_bad_key_list_answered_twice": both(drops_are((0, to)),
                                                  aborts_are((0, A.INVALID_MESSAGE))),
        "round_accuses_undecryptable_ciphertext": accusations(0, [4]),
        "round_accuses_plaintext_with_other_ids": accusations(0, [4]),
        "round_accuses_plaintext_limb_not_field_element": accusations(0, [4]),
        "round_accuses_key_commitment_mismatch": accusations(0, [4]),
        "round_accuses_mask_commitment_mismatch": accusations(0, [4]),
        "round_bad_garbage_ciphertexts_excluded_semi5": drops_are((2, sr)),
        "round_bad_garbage_ciphertexts_excluded_mal5": drops_are((2, sr)),
        "round_bad_commitments_differ_excluded": drops_are((2, sr)),
        "round_bad_exclusion_fixed_point": drops_are((0, sr), (1, sr)),
        "round_bad_exclusion_counts_accepted_holders_only": drops_are((4, to), (1, sr)),
        "round_bad_split_view_too_few_signatures": both(
            drops_are((1, D.PROMPT_MISMATCH), (2, D.PROMPT_MISMATCH)),
            aborts_are((1, A.CONSISTENCY_CHECK_FAILED), (2, A.CONSISTENCY_CHECK_FAILED))),
        "round_bad_holder_choice_after_bad_share_drop": drops_are((0, D.BAD_SHARE)),
        "round_bad_unmask_response_bad_share": drops_are((0, D.BAD_SHARE)),
    }  # fmt: skip


def later_rounds(tb: Table, ps: dict[str, Party]) -> None:
    row = tb.row
    iv, bt, kaf, bs = (A.INCONSISTENT_VIEW, A.BELOW_THRESHOLD, A.KEY_AGREEMENT_FAILED,
                       A.BAD_SIGNATURE)  # fmt: skip
    ic, pm, ccf, im = (
        D.INVALID_CONTENT,
        D.PROMPT_MISMATCH,
        A.CONSISTENCY_CHECK_FAILED,
        A.INVALID_MESSAGE,
    )
    g8 = graph_for(ps["plus8"].cfg)
    gm8 = graph_for(ps["plusmal8"].cfg)
    far8 = next(w for w in range(8) if w not in g8.holders(0))
    low = LOW_ORDER_POINTS
    all5 = [0, 1, 2, 3, 4]
    keep = g8.neighbors(0)[0]

    # ------------------------------------------------------------ SHARE_FORWARD (client)
    def fw(
        party: str,
        v: int,
        change: Callable[[list[wire.ForwardEntry]], list[Any]],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
        **kw: Any,
    ) -> None:
        row(name, party, expect, rules, note,
            edits=lambda n: {down(SC, v): n.forward(v, lambda es: sorted_entries(change(es),
                                                                                 "sender"))},
            **kw)  # fmt: skip

    def as_sender(e: wire.ForwardEntry, u: int) -> wire.ForwardEntry:
        return dataclasses.replace(e, sender=u)

    senders, fthr, forder = ("10.4.client-check-senders", "10.4.client-check-threshold",
                             "10.4.client-check-order")  # fmt: skip
    fw(
        "semi5",
        0,
        lambda es: [*es[:-1], as_sender(es[-1], 0)],
        "round_bad_forward_from_self",
        (CLIENT, iv, 0),
        [senders],
        "the forward to 0 holds an entry 'from' 0",
    )
    fw(
        "semi5",
        0,
        lambda es: [*es, as_sender(es[-1], 4)],
        "round_bad_forward_from_client_not_in_key_list",
        (CLIENT, iv, 0),
        [senders],
        "the forward to 0 holds an entry from 4, which 0 never sent shares to (4 is not in U1)",
        silent={4: AK},
    )
    fw(
        "plus8",
        0,
        lambda es: [*es[:-1], as_sender(es[-1], far8)],
        "round_bad_forward_from_non_neighbour",
        (CLIENT, iv, 0),
        [senders],
        f"the forward to 0 holds an entry from {far8}, not a neighbour",
    )
    fw(
        "semi3",
        0,
        lambda es: [],
        "round_bad_forward_below_threshold",
        (CLIENT, bt, 0),
        [fthr],
        "the forward to 0 is empty: 0 + 1 < t",
    )
    fw(
        "semi5",
        0,
        lambda es: [as_sender(es[0], 0)],
        "round_bad_forward_unknown_sender_and_below_threshold",
        (CLIENT, iv, 0),
        [senders, forder],
        "the forward to 0 is one entry 'from' 0: check 1 before check 2",
    )
    row(
        "round_bad_forward_undecodable",
        "semi5",
        (CLIENT, im, 0),
        ["10.1.client-invalid-message"],
        "the forward to 0 loses its last byte",
        edits=lambda n: {down(SC, 0): lambda d: d[:-1]},
    )
    fw(
        "semi5",
        0,
        lambda es: [
            dataclasses.replace(e, ciphertext=flip(e.ciphertext, 3)) if e.sender == 2 else e
            for e in es
        ],
        "round_bad_forward_ciphertext_altered",
        (DROP, pm, 0),
        ["5.3.echo", "10.4.accusation"],
        "the server corrupts 2's ciphertext in the forward to 0: 0 accuses 2, and its echo of "
        "the altered prompt gets 0 dropped",
        completes=True,
    )

    # ------------------------------------------------------------ accusations and exclusion
    acc = ("10.4.accusation", "10.4.valid-holders", "10.7.response", "10.7.server-owners",
           "10.8.holders-used")  # fmt: skip
    row(
        "round_accuses_undecryptable_ciphertext",
        "semi5",
        (CLEAN, None, None),
        list(acc),
        "4's ciphertext to 0 does not authenticate: 0 accuses 4 and holds none of its shares; "
        "4 keeps t valid holders and stays",
        edits=lambda n: {up(SK, 4): n.garbage_ciphertexts(4, [0])},
        completes=True,
    )
    row(
        "round_accuses_plaintext_with_other_ids",
        "semi5",
        (CLEAN, None, None),
        [*acc, "6.4.decryption-failures"],
        "4 encrypts for 0 a plaintext that names recipient 1: 0 accuses 4",
        edits=lambda n: {up(SK, 4): n.plaintext(4, 0, lambda t: t[:4] + u32(1) + t[8:])},
        completes=True,
    )
    row(
        "round_accuses_plaintext_limb_not_field_element",
        "semi5",
        (CLEAN, None, None),
        [*acc, "6.4.decryption-failures", "8.2.share-decode"],
        "4's plaintext for 0 holds a limb equal to p: 0 accuses 4",
        edits=lambda n: {up(SK, 4): n.plaintext(4, 0, lambda t: t[:8] + u32(P) + t[12:])},
        completes=True,
    )

    def commitment_mismatch(kind: int) -> EditsOf:
        return lambda n: {up(SK, 4): n.dishonest_owner(4, {(0, kind): (0, 1)}, send=False)}

    for kind, what in ((0, "key"), (1, "mask")):
        row(f"round_accuses_{what}_commitment_mismatch", "semi5", (CLEAN, None, None),
            [*acc, "8.3.commitments"],
            f"4 sends 0 its {what} share but commits to another: 0 accuses 4",
            edits=commitment_mismatch(kind),
            completes=True)  # fmt: skip
    rej = D.SHARES_REJECTED
    for party in ("semi5", "mal5"):
        row(
            f"round_bad_garbage_ciphertexts_excluded_{party}",
            party,
            (DROP, rej, 2),
            ["10.4.exclusion", "10.4.accusation"],
            "client 2's ciphertexts all fail: every holder accuses it, it is excluded before "
            "masking and the aggregate of the others is exact",
            edits=lambda n: {up(SK, 2): n.garbage_ciphertexts(2, [0, 1, 3, 4])},
            completes=True,
        )
    row(
        "round_bad_garbage_ciphertexts_excluded_plus8",
        "plus8",
        (DROP, rej, 0),
        ["10.4.exclusion", "10.4.accusation"],
        "SecAgg+: client 0's ciphertexts all fail; its neighbours accuse it",
        edits=lambda n: {up(SK, 0): n.garbage_ciphertexts(0, g8.neighbors(0))},
        completes=True,
    )
    row(
        "round_bad_commitments_differ_excluded",
        "semi5",
        (DROP, rej, 2),
        ["10.4.exclusion", "10.4.accusation", "8.3.commitments"],
        "client 2 commits to other shares than it sends, for every holder: excluded",
        edits=lambda n: {
            up(SK, 2): n.dishonest_owner(2, {(h, 0): (3, 5) for h in (0, 1, 3, 4)}, send=False)
        },
        completes=True,
    )
    row(
        "round_bad_exclusion_fixed_point",
        "semi5",
        (DROP, rej, 1),
        ["10.4.exclusion"],
        "0's ciphertexts all fail (excluded first); 1's fail at 2 and 3, leaving V(1) = {1, 0, "
        "4}: t until 0 goes, so the second pass excludes 1",
        edits=lambda n: {
            up(SK, 0): n.garbage_ciphertexts(0, [1, 2, 3, 4]),
            up(SK, 1): n.garbage_ciphertexts(1, [2, 3]),
        },
        completes=True,
    )
    row(
        "round_bad_exclusion_counts_accepted_holders_only",
        "semi5",
        (DROP, rej, 1),
        ["10.4.valid-holders", "10.4.exclusion"],
        "2 and 3 accuse 1 and holder 4 misses share_check: V(1) = {1, 0} < t",
        edits=lambda n: {up(SK, 1): n.garbage_ciphertexts(1, [2, 3])},
        silent={4: SC},
        completes=True,
    )
    row(
        "round_bad_exclusion_below_threshold",
        "semi3",
        (SERVER_ABORT, bt, None),
        ["10.4.u2-threshold", "10.4.exclusion"],
        "1 and 2 are both excluded: |U2| = 1 < t",
        edits=lambda n: {
            up(SK, 1): n.garbage_ciphertexts(1, [0, 2]),
            up(SK, 2): n.garbage_ciphertexts(2, [0, 1]),
        },
        completes=False,
    )

    # ------------------------------------------------------------ SHARE_CHECK (server)
    acc_rule = "10.4.server-accused"

    def sc_(
        party: str,
        u: int,
        accused: Sequence[int],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
        flip_echo: bool = False,
        **kw: Any,
    ) -> None:
        def edit(n: Net) -> dict[tuple[str, int, int], Edit]:
            def change(m: wire.ShareCheck) -> wire.ShareCheck:
                prompt = flip(m.prompt, 0) if flip_echo else m.prompt
                return wire.ShareCheck(tuple(accused), prompt)

            return {up(SC, u): n.reply(SC, u, change)}

        row(name, party, expect, rules, note, edits=edit, completes=True, **kw)

    sc_(
        "semi5",
        0,
        [4],
        "round_bad_share_check_accuses_non_sender",
        (DROP, ic, 0),
        [acc_rule],
        "0 accuses 4, whose shares were never forwarded (4 missed share_keys)",
        silent={4: SK},
    )
    sc_(
        "semi5",
        0,
        [0],
        "round_bad_share_check_accuses_self",
        (DROP, ic, 0),
        [acc_rule],
        "0 accuses itself",
    )
    sc_(
        "plus8",
        0,
        [far8],
        "round_bad_share_check_accuses_non_neighbour",
        (DROP, ic, 0),
        [acc_rule],
        f"0 accuses {far8}, not a neighbour",
    )
    sc_(
        "semi5",
        0,
        [0],
        "round_bad_share_check_bad_accusation_and_prompt",
        (DROP, pm, 0),
        ["5.3.echo-before-content", "5.3.echo"],
        "0 accuses itself and echoes a wrong digest: PROMPT_MISMATCH first",
        flip_echo=True,
    )
    row(
        "round_bad_share_check_prompt_of_other_client",
        "semi5",
        (DROP, pm, 1),
        ["5.3.echo"],
        "1's SHARE_CHECK echoes the forward sent to 0",
        edits=lambda n: {up(SC, 1): n.echo(SC, 1, n.echo_of(SC, 0))},
        completes=True,
    )
    row(
        "round_bad_share_check_undecodable",
        "semi5",
        (DROP, D.DECODE_FAILED, 3),
        ["4.check4-digest"],
        "3's SHARE_CHECK loses its last byte",
        edits=lambda n: {up(SC, 3): lambda d: d[:-1]},
        completes=True,
    )

    # ------------------------------------------------------------ MASK_REQUEST (client)
    member, fwd, mthr, morder = (
        "10.5.client-check-member",
        "10.5.client-check-forwarded",
        "10.5.client-check-threshold",
        "10.5.client-check-order",
    )

    def mr(
        party: str,
        v: int,
        u2: Sequence[int],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
        extra: EditsOf | None = None,
        **kw: Any,
    ) -> None:
        def edits(n: Net) -> dict[tuple[str, int, int], Edit]:
            out = {down(MI, v): n.mask_request(v, u2)}
            if extra is not None:
                out.update(extra(n))
            return out

        row(name, party, expect, rules, note, edits=edits, **kw)

    mr(
        "semi5",
        0,
        [1, 2, 3, 4],
        "round_bad_mask_request_omits_client",
        (CLIENT, iv, 0),
        [member],
        "U2 sent to 0 omits 0",
    )
    mr(
        "semi5",
        0,
        all5,
        "round_bad_mask_request_unknown_peer",
        (CLIENT, iv, 0),
        [fwd],
        "U2 sent to 0 holds 4, whose shares 0 never got (4 missed share_keys)",
        silent={4: SK},
    )
    mr(
        "semi5",
        0,
        [0, 1],
        "round_bad_mask_request_below_threshold",
        (CLIENT, bt, 0),
        [mthr],
        "U2 sent to 0 is {0, 1}: |P| + 1 < t",
    )
    mr(
        "semi5",
        0,
        [1],
        "round_bad_mask_request_omits_client_and_below_threshold",
        (CLIENT, iv, 0),
        [member, morder],
        "U2 sent to 0 is {1}: check 1 before check 3",
    )
    mr(
        "semi5",
        0,
        [0, 4],
        "round_bad_mask_request_unknown_peer_and_below_threshold",
        (CLIENT, iv, 0),
        [fwd, morder],
        "U2 sent to 0 is {0, 4} and 4 never shared: check 2 before check 3",
        silent={4: SK},
    )
    mr(
        "plus8",
        0,
        [w for w in range(8) if w not in g8.neighbors(0) or w == keep],
        "round_bad_mask_request_below_threshold_in_neighbourhood",
        (CLIENT, bt, 0),
        [mthr],
        "U2 sent to 0 holds every non-neighbour but only one neighbour: P = N(0) ∩ U2 counts",
    )
    row(
        "round_bad_mask_request_padding_bit",
        "semi5",
        (CLIENT, im, 0),
        ["10.1.client-invalid-message", "3.id-set-padding"],
        "U2 sent to 0 sets the bit of id 7 (n = 5)",
        edits=lambda n: {down(MI, 0): lambda d: with_body(d, bytes([body_of(d)[0] | 1]))},
    )
    row(
        "round_bad_mask_request_two_bytes",
        "semi5",
        (CLIENT, im, 0),
        ["10.1.client-invalid-message", "3.id-set-padding"],
        "U2 sent to 0 is 2 bytes long",
        edits=lambda n: {down(MI, 0): lambda d: with_body(d, body_of(d) + b"\x00")},
    )

    def s_key(change: Callable[[Net, list[wire.KeyEntry]], list[wire.KeyEntry]]) -> EditsOf:
        """A key list to 0 whose s keys the server altered, and 0's echo put back: nothing
        shows until 0 masks."""
        return lambda n: {
            down(SK, 0): n.key_list(0, lambda es: change(n, es)),
            up(SK, 0): n.restore_echo(SK, 0),
        }

    agreements = "10.5.agreements"
    row(
        "round_bad_mask_request_low_order_s_key",
        "semi5",
        (CLIENT, kaf, 0),
        [agreements, "6.1.refused-keys"],
        "the key list to 0 carried s_2 = the point 1 (and 0's echo was put back): 0 fails the "
        "agreement when it masks",
        edits=s_key(lambda n, es: entry_with(es, 2, s_public=low["u1"])),
    )
    mr(
        "semi5",
        0,
        [1, 2, 3, 4],
        "round_bad_mask_request_low_order_s_key_and_omits_client",
        (CLIENT, iv, 0),
        [member, "10.1.client-checks-before-agreements"],
        "as above, and U2 omits 0: the check runs before the agreements",
        extra=s_key(lambda n, es: entry_with(es, 2, s_public=low["u1"])),
    )
    row(
        "round_bad_mask_request_aliased_s_key",
        "semi5",
        (CLIENT, iv, 0),
        [agreements],
        "the key list to 0 carried s_3 = 1/u of s_2: equal agreements when 0 masks",
        edits=s_key(lambda n, es: entry_with(es, 3, s_public=alias(es[2].s_public))),
    )
    row(
        "round_bad_mask_request_alias_of_own_s_key",
        "semi5",
        (CLIENT, iv, 0),
        [agreements],
        "the key list to 0 carried s_2 = an alias of 0's own s key",
        edits=s_key(lambda n, es: entry_with(es, 2, s_public=alias(es[0].s_public))),
    )
    mr(
        "semi5",
        0,
        [0, 1, 2, 3],
        "round_bad_mask_request_altered",
        (DROP, pm, 0),
        ["5.3.echo"],
        "the server tells 0 that U2 = {0, 1, 2, 3}: 0 masks without 4, and its echo gets it "
        "dropped; the aggregate of the others is exact",
        completes=True,
    )

    # ------------------------------------------------------------ MASKED_INPUT (server)
    def mi(
        u: int,
        edit: Callable[[Net], Edit],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
    ) -> None:
        row(
            name, "semi5", expect, rules, note, edits=lambda n: {up(MI, u): edit(n)}, completes=True
        )

    mi(
        1,
        lambda n: n.masked(1, lambda y: y.__setitem__(0, 1 << 16)),
        "round_bad_masked_input_out_of_range",
        (DROP, ic, 1),
        ["5.10.masked-input-range"],
        "client 1's first element is 2^16 (b = 16)",
    )
    mi(
        1,
        lambda n: lambda d: flip(d, len(d) - 1),
        "round_bad_masked_input_flipped_digest",
        (DROP, D.DECODE_FAILED, 1),
        ["4.check4-digest"],
        "a bit of 1's digest flips",
    )
    mi(
        2,
        lambda n: n.other_session(MI, 2, variant(n.cfg, session_nonce=bytes(32))),
        "round_bad_masked_input_other_session",
        (DROP, D.WRONG_SESSION, 2),
        ["4.check5-session", "2.session-id"],
        "2's masked input comes from another session",
    )
    mi(
        1,
        lambda n: lambda d: n.seen[up(MI, 0)],
        "round_bad_masked_input_misaddressed",
        (DROP, D.MISADDRESSED, 1),
        ["4.check7-channel"],
        "client 0's masked input arrives on client 1's channel",
    )
    mi(
        2,
        lambda n: lambda d: None,
        "round_bad_masked_input_lost",
        (DROP, D.TIMED_OUT, 2),
        ["10.1.close-timeouts"],
        "2's masked input is lost",
    )
    mi(
        1,
        lambda n: n.echo(MI, 1, lambda p: flip(p, 0)),
        "round_bad_masked_input_prompt_mismatch",
        (DROP, pm, 1),
        ["5.3.echo", "5.3.echo-nothing-used"],
        "1's echo is wrong: its masked input is not added (the aggregate is exact without it)",
    )
    mi(
        1,
        lambda n: n.echo(MI, 1, n.echo_of(SC, 1)),
        "round_bad_masked_input_stale_prompt",
        (DROP, pm, 1),
        ["5.3.echo"],
        "1 echoes the previous prompt (its forward)",
    )
    mi(
        1,
        lambda n: (
            lambda d: n.masked(1, lambda y: y.__setitem__(0, 1 << 16))(
                n.echo(MI, 1, lambda p: flip(p, 0))(d) or b""
            )
        ),
        "round_bad_masked_input_out_of_range_and_prompt",
        (DROP, ic, 1),
        ["5.10.masked-input-range", "10.1.receive-order"],
        "an element out of range and a wrong echo: the range is a decoding rule (5.10), so it "
        "comes first",
    )

    # ------------------------------------------------------------ consistency_check (malicious)
    smem, ssub, sthr, sord = (
        "10.6.survivor-member",
        "10.6.survivor-subset",
        "10.6.survivor-threshold",
        "10.6.survivor-order",
    )

    def cr(
        u3: Sequence[int], name: str, expect: Expect, rules: Sequence[str], note: str, **kw: Any
    ) -> None:
        row(
            name,
            "mal5",
            expect,
            rules,
            note,
            edits=lambda n: {down(CC, 0): n.consistency_request(0, u3)},
            **kw,
        )

    cr(
        [1, 2, 3, 4],
        "round_bad_consistency_request_omits_client",
        (CLIENT, iv, 0),
        [smem],
        "U3 sent to 0 omits 0",
    )
    cr(
        all5,
        "round_bad_consistency_request_outside_u2",
        (CLIENT, iv, 0),
        [ssub],
        "U3 sent to 0 holds 4, which is not in U2",
        silent={4: SC},
    )
    cr(
        [0, 1],
        "round_bad_consistency_request_below_threshold",
        (CLIENT, bt, 0),
        [sthr],
        "U3 sent to 0 is {0, 1}",
    )
    cr(
        [1],
        "round_bad_consistency_request_omits_client_and_below_threshold",
        (CLIENT, iv, 0),
        [smem, sord],
        "U3 sent to 0 is {1}: rule 1 before rule 3",
    )
    cr(
        [0, 4],
        "round_bad_consistency_request_outside_u2_and_below_threshold",
        (CLIENT, iv, 0),
        [ssub, sord],
        "U3 sent to 0 is {0, 4}, 4 not in U2: rule 2 before rule 3",
        silent={4: SC},
    )
    keep_m8 = gm8.neighbors(0)[0]
    row(
        "round_bad_consistency_request_below_threshold_in_neighbourhood",
        "plusmal8",
        (CLIENT, bt, 0),
        [sthr],
        "U3 sent to 0 holds every non-neighbour but one neighbour: |U3 ∩ H(0)| < t although "
        "|U3| >= t",
        edits=lambda n: {
            down(CC, 0): n.consistency_request(
                0, [w for w in range(8) if w not in gm8.neighbors(0) or w == keep_m8]
            )
        },
    )
    row(
        "round_bad_consistency_request_padding_bit",
        "mal5",
        (CLIENT, im, 0),
        ["10.1.client-invalid-message", "3.id-set-padding"],
        "U3 sent to 0 sets a padding bit",
        edits=lambda n: {down(CC, 0): lambda d: with_body(d, bytes([body_of(d)[0] | 1]))},
    )
    row(
        "round_bad_consistency_request_answered_twice",
        "mal5",
        (CLIENT, im, 0),
        ["10.6.sign-once", "10.1.client-answers-once"],
        "0 is sent a second CONSISTENCY_REQUEST after signing: it signs nothing more",
        inject=[Inject(CC, "last", SERVER, 0, lambda n: n.seen[down(CC, 0)])],
        completes=True,
    )
    ssig = "10.6.server-signature"

    def consistency_signature(signature: Callable[[Net], Callable[[bytes], bytes]]) -> EditsOf:
        return lambda n: {up(CC, 1): n.consistency_signature(1, signature(n))}

    for name, signature, note in (
        (
            "other_u3",
            lambda n: lambda s: n.u3_signature(1, [1, 2, 3]),
            "1's signature is over another U3",
        ),
        ("flipped", lambda n: lambda s: flip(s, 0), "1's signature has a flipped bit"),
        (
            "of_other_client",
            lambda n: lambda s: n.u3_signature(2, all5),
            "1 sends 2's signature over U3",
        ),
    ):
        row(f"round_bad_consistency_signature_{name}", "mal5", (DROP, D.BAD_SIGNATURE, 1),
            [ssig, "6.3.signature-invalid"], note,
            edits=consistency_signature(signature),
            completes=True)  # fmt: skip
    row(
        "round_bad_consistency_bad_signature_and_prompt",
        "mal5",
        (DROP, pm, 1),
        ["5.3.echo-before-content", "5.3.echo"],
        "1's signature and echo are both wrong: PROMPT_MISMATCH first",
        edits=lambda n: {
            up(CC, 1): n.reply(
                CC, 1, lambda m: wire.ConsistencyResponse(flip(m.signature, 0), flip(m.prompt, 0))
            )
        },
        completes=True,
    )
    row(
        "round_bad_consistency_response_undecodable",
        "mal5",
        (DROP, D.DECODE_FAILED, 1),
        ["5.11.consistency"],
        "1's response body is 95 bytes",
        edits=lambda n: {up(CC, 1): lambda d: with_body(d, body_of(d)[:95])},
        completes=True,
    )

    # ------------------------------------------------------------ UNMASK_REQUEST (semi-honest)
    semi_rules = "10.7.semi-survivor-rules"

    def ur(
        u3: Sequence[int],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
        party: str = "semi5",
        v: int = 0,
        **kw: Any,
    ) -> None:
        row(
            name,
            party,
            expect,
            [semi_rules, *rules],
            note,
            edits=lambda n: {down(UN, v): n.unmask_request(v, u3)},
            **kw,
        )

    ur(
        [1, 2, 3, 4],
        "round_bad_unmask_request_omits_client",
        (CLIENT, iv, 0),
        [smem],
        "U3 sent to 0 omits 0",
    )
    ur(
        all5,
        "round_bad_unmask_request_outside_u2",
        (CLIENT, iv, 0),
        [ssub],
        "U3 sent to 0 holds 4, which is not in U2",
        silent={4: SC},
    )
    ur(
        [0, 1],
        "round_bad_unmask_request_below_threshold",
        (CLIENT, bt, 0),
        [sthr],
        "U3 sent to 0 is {0, 1}",
    )
    ur(
        [1],
        "round_bad_unmask_request_omits_client_and_below_threshold",
        (CLIENT, iv, 0),
        [smem, sord],
        "U3 sent to 0 is {1}: rule 1 before rule 3",
    )
    ur(
        [0, 4],
        "round_bad_unmask_request_outside_u2_and_below_threshold",
        (CLIENT, iv, 0),
        [ssub, sord],
        "U3 sent to 0 is {0, 4}, 4 not in U2: rule 2 before rule 3",
        silent={4: SC},
    )
    ur(
        [w for w in range(8) if w not in g8.neighbors(0) or w == keep],
        "round_bad_unmask_request_below_threshold_in_neighbourhood",
        (CLIENT, bt, 0),
        [sthr],
        "U3 sent to 0 holds every non-neighbour but one neighbour: |U3 ∩ H(0)| < t",
        party="plus8",
    )
    row(
        "round_bad_unmask_request_padding_bit",
        "semi5",
        (CLIENT, im, 0),
        ["10.1.client-invalid-message", "3.id-set-padding"],
        "U3 sent to 0 sets a padding bit",
        edits=lambda n: {down(UN, 0): lambda d: with_body(d, bytes([body_of(d)[0] | 2]))},
    )
    ur(
        [0, 1, 2, 3],
        "round_bad_unmask_request_altered",
        (DROP, pm, 0),
        ["5.3.echo", "5.3.echo-nothing-used"],
        "the server tells 0 that 4 dropped: 0 reveals its KEY share of 4, but its echo gets it "
        "dropped and the share is never used; the aggregate is exact",
        completes=True,
    )

    # ------------------------------------------------------------ UNMASK_REQUEST (malicious)
    def um(
        edit: Callable[[Net], Edit],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
        v: int = 0,
        party: str = "mal5",
        **kw: Any,
    ) -> None:
        row(name, party, expect, rules, note, edits=lambda n: {down(UN, v): edit(n)}, **kw)

    def sigs(
        change: Callable[[Net, list[tuple[int, bytes]]], list[tuple[int, bytes]]],
        v: int = 0,
        u3: Sequence[int] | None = None,
    ) -> Callable[[Net], Edit]:
        return lambda n: n.unmask_request(v, u3, lambda ss: change(n, ss))

    def flip_sig(ss: list[tuple[int, bytes]], i: int) -> list[tuple[int, bytes]]:
        return [(s, flip(sig, 5) if j == i else sig) for j, (s, sig) in enumerate(ss)]

    eq, inu3, ver, sorder, count = ("10.7.u3-equals-signed", "10.7.signer-in-u3",
                                    "10.7.signature-verifies", "10.7.signature-entry-order",
                                    "10.7.consistency-count")  # fmt: skip
    um(
        lambda n: n.unmask_request(0, [0, 1, 2, 3]),
        "round_bad_unmask_request_u3_not_signed",
        (CLIENT, iv, 0),
        [eq],
        "U3 in the unmask request to 0 is not the set 0 signed",
    )
    um(
        sigs(lambda n, ss: flip_sig(ss, 0), u3=[0, 1, 2, 3]),
        "round_bad_unmask_request_u3_not_signed_and_bad_signature",
        (CLIENT, iv, 0),
        [eq, sorder],
        "another U3 and a bad signature: the U3 comparison comes first",
    )
    um(
        sigs(lambda n, ss: [*ss, (4, n.u3_signature(4, [0, 1, 2, 3]))]),
        "round_bad_unmask_request_signer_not_in_u3",
        (CLIENT, iv, 0),
        [inu3],
        "the request to 0 adds a (valid) signature of 4, which is not in U3",
        silent={4: MI},
    )
    um(
        sigs(lambda n, ss: flip_sig(ss, 1)),
        "round_bad_unmask_request_bad_signature",
        (CLIENT, bs, 0),
        [ver, "6.3.signature-invalid"],
        "the second signature has a flipped bit",
    )
    um(
        sigs(lambda n, ss: [*flip_sig(ss, 1), (4, n.u3_signature(4, [0, 1, 2, 3]))]),
        "round_bad_unmask_request_bad_signature_then_signer_not_in_u3",
        (CLIENT, bs, 0),
        [sorder, ver, inu3],
        "entry 1 does not verify and entry 4 is not in U3: entries are checked in order",
        silent={4: MI},
    )
    um(
        sigs(lambda n, ss: [(0, n.u3_signature(0, [1, 2, 3, 4])), *flip_sig(ss, 0)], v=2),
        "round_bad_unmask_request_signer_not_in_u3_then_bad_signature",
        (CLIENT, iv, 2),
        [sorder, inu3, ver],
        "entry 0 is not in U3 and entry 1 does not verify: entries are checked in order",
        v=2,
        silent={0: MI},
    )
    um(
        sigs(lambda n, ss: ss[:-1]),
        "round_bad_unmask_request_too_few_signatures",
        (CLIENT, ccf, 0),
        [count],
        "the request to 0 carries t - 1 signatures",
    )
    um(
        sigs(lambda n, ss: flip_sig(ss[:-1], 0)),
        "round_bad_unmask_request_bad_signature_and_too_few",
        (CLIENT, bs, 0),
        [ver, count],
        "t - 1 signatures, one of them bad: signatures are verified before they are counted",
    )
    um(
        sigs(lambda n, ss: [(s, n.u3_signature(s, [0, 1, 2])) for s, _ in ss]),
        "round_bad_unmask_request_signatures_over_other_u3",
        (CLIENT, bs, 0),
        [ver, "6.3.signature-invalid"],
        "every signature is over another U3",
    )
    um(
        lambda n: lambda d: d[:-1],
        "round_bad_unmask_request_undecodable",
        (CLIENT, im, 0),
        ["10.1.client-invalid-message"],
        "the request to 0 loses its last byte",
    )
    outside = [w for w in range(8) if w not in gm8.holders(0)][:3]
    um(
        lambda n: n.unmask_request(
            0, None, lambda ss: [(w, n.u3_signature(w, range(8))) for w in outside]
        ),
        "round_bad_unmask_request_signers_outside_neighbourhood",
        (CLIENT, ccf, 0),
        [count],
        f"the request to 0 carries t valid signatures, all from {outside}, none in H(0)",
        party="plusmal8",
    )

    # ---- a split view: the server shows 1 and 2 a U3 without 0 (so they would reveal 0's
    # KEY share) and 0, 3, 4 the true U3 (so they reveal 0's SELF_MASK share).
    view_a, view_b = [1, 2, 3, 4], all5

    def split(n: Net) -> dict[tuple[str, int, int], Edit]:
        return {
            down(CC, 1): n.consistency_request(1, view_a),
            down(CC, 2): n.consistency_request(2, view_a),
        }

    def view_a_sigs(n: Net) -> list[tuple[int, bytes]]:
        return [(s, wire.decode_consistency_response(n.seen[up(CC, s)], n.cfg, s).signature)
                for s in (1, 2)]  # fmt: skip

    def request(n: Net, v: int, u3: Sequence[int], ss: list[tuple[int, bytes]]) -> bytes:
        return wire.encode_unmask_request(n.cfg, v, wire.UnmaskRequest(n.ids(u3), tuple(ss)))

    def view_a_request(v: int) -> Callable[[Net], bytes]:
        return lambda n: request(n, v, view_a, view_a_sigs(n))

    split_rules = ["10.7.consistency-count", "5.3.echo"]
    row("round_bad_split_view_too_few_signatures", "mal5", (CLIENT, ccf, 1), split_rules,
        "the server shows 1 and 2 U3 = {1, 2, 3, 4}; they sign it (and are dropped for their "
        "echo); it then sends them that U3 with the two signatures it has: fewer than t "
        "holders of 0 signed, so neither reveals 0's KEY share; 0, 3, 4 finish the round",
        edits=split, completes=True,
        inject=[Inject(UN, "first", SERVER, v, view_a_request(v)) for v in (1, 2)])  # fmt: skip
    row(
        "round_bad_split_view_forged_signature",
        "mal5",
        (CLIENT, bs, 1),
        ["10.7.signature-verifies", "6.3.signature-invalid", "5.3.echo"],
        "as above, and the server adds 3's signature (over the true U3) as a third signer",
        edits=split,
        completes=True,
        inject=[
            Inject(
                UN,
                "first",
                SERVER,
                1,
                lambda n: request(
                    n,
                    1,
                    view_a,
                    [
                        *view_a_sigs(n),
                        (
                            3,
                            wire.decode_consistency_response(n.seen[up(CC, 3)], n.cfg, 3).signature,
                        ),
                    ],
                ),
            )
        ],
    )
    row("round_bad_split_view_other_u3", "mal5", (CLIENT, iv, 1),
        ["10.7.u3-equals-signed", "5.3.echo"],
        "as above, but the server sends 1 the true U3 with the signatures of 0, 3 and 4",
        edits=split, completes=True,
        inject=[Inject(UN, "first", SERVER, 1, lambda n: request(
            n, 1, view_b, list(wire.decode_unmask_request(n.seen[down(UN, 0)], n.cfg,
                                                          0).signatures)))])  # fmt: skip

    # ------------------------------------------------------------ UNMASK_RESPONSE (server)
    owners, kinds, commits, eorder = (
        "10.7.server-owners",
        "10.7.server-kind",
        "10.7.server-commitment",
        "10.7.server-entry-order",
    )

    def us(
        change: Callable[[list[Any]], list[Any]],
        name: str,
        expect: Expect,
        rules: Sequence[str],
        note: str,
        extra: EditsOf | None = None,
        u: int = 0,
        **kw: Any,
    ) -> None:
        def edits(n: Net) -> dict[tuple[str, int, int], Edit]:
            out = {up(UN, u): n.response(u, change)}
            if extra is not None:
                out.update(extra(n))
            return out

        row(name, kw.pop("party", "semi5"), expect, rules, note, edits=edits, completes=True, **kw)

    def entry(
        i: int, *, kind: bool = False, share: bool = False
    ) -> Callable[[list[Any]], list[Any]]:
        def change(ss: list[Any]) -> list[Any]:
            z, k, value = ss[i]
            ss[i] = (z, other_kind(k) if kind else k, bump(value) if share else value)
            return ss

        return change

    us(
        lambda ss: ss[:-1],
        "round_bad_unmask_response_omits_owner",
        (DROP, ic, 0),
        [owners],
        "0 withholds its share of 4",
    )
    us(
        lambda ss: [*ss, (4, KIND.KEY, field_share(4))],
        "round_bad_unmask_response_owner_outside_u2",
        (DROP, ic, 0),
        [owners],
        "0 adds a share of 4, which is not in U2",
        silent={4: SC},
    )
    us(
        lambda ss: [*ss, (4, KIND.SELF_MASK, field_share(4))],
        "round_bad_unmask_response_owner_it_accused",
        (DROP, ic, 0),
        [owners],
        "0 accused 4 at share_check, then sends a share of 4",
        extra=lambda n: {up(SK, 4): n.garbage_ciphertexts(4, [0])},
    )
    us(
        entry(0, kind=True),
        "round_bad_unmask_response_wrong_kind",
        (DROP, ic, 0),
        [kinds],
        "0's share of itself is sent as a KEY share (0 is in U3)",
    )
    us(
        entry(4, share=True),
        "round_bad_unmask_response_bad_share",
        (DROP, D.BAD_SHARE, 0),
        [commits],
        "0's share of 4 is off by one in limb 0: it fails the commitment; the "
        "aggregate is exact from the others",
    )
    us(
        lambda ss: entry(1, kind=True)(entry(0, share=True)(ss)),
        "round_bad_unmask_response_bad_share_then_wrong_kind",
        (DROP, D.BAD_SHARE, 0),
        [eorder, commits, kinds],
        "entry 0 fails its commitment, entry 1 has the wrong kind: entries are checked in order",
    )
    us(
        lambda ss: entry(1, share=True)(entry(0, kind=True)(ss)),
        "round_bad_unmask_response_wrong_kind_then_bad_share",
        (DROP, ic, 0),
        [eorder, commits, kinds],
        "entry 0 has the wrong kind, entry 1 fails its commitment",
    )
    row(
        "round_bad_unmask_response_wrong_owners_and_prompt",
        "semi5",
        (DROP, pm, 0),
        ["5.3.echo-before-content", "5.3.echo"],
        "0 withholds a share and echoes a wrong digest",
        edits=lambda n: {
            up(UN, 0): n.reply(
                UN, 0, lambda m: wire.UnmaskResponse(m.shares[:-1], flip(m.prompt, 0))
            )
        },
        completes=True,
    )
    row(
        "round_bad_unmask_response_stale_prompt",
        "semi5",
        (DROP, pm, 0),
        ["5.3.echo"],
        "0 echoes the previous prompt (its MASK_REQUEST)",
        edits=lambda n: {up(UN, 0): n.echo(UN, 0, n.echo_of(MI, 0))},
        completes=True,
    )
    row(
        "round_bad_unmask_response_limb_not_field_element",
        "semi5",
        (DROP, D.DECODE_FAILED, 0),
        ["5.13.unmask-response", "8.2.share-decode"],
        "limb 0 of 0's first share is p",
        edits=lambda n: {
            up(UN, 0): lambda d: with_body(d, body_of(d)[:41] + u32(P) + body_of(d)[45:])
        },
        completes=True,
    )

    # ------------------------------------------------------------ which holders rebuild (10.8)
    used, reverse = "10.8.holders-used", {UN: [6, 5, 4, 3, 2, 1, 0]}
    row(
        "round_holder_choice_skips_off_polynomial_share",
        "semi7",
        (CLEAN, None, None),
        [used],
        "owner 6 gives holder 5 a share off its polynomial (committed, so it passes every "
        "check); all 7 answer, in reverse id order; the t = 4 lowest ids rebuild b_6, so the "
        "bad share is never used and the aggregate is exact",
        edits=lambda n: {up(SK, 6): n.dishonest_owner(6, {(5, 1): (8, 1 << 10)})},
        order=reverse,
        completes=True,
    )
    row(
        "round_bad_holder_choice_used_bad_share",
        "semi7",
        (SERVER_ABORT, A.INCONSISTENT_SHARES, 6),
        [used, "10.8.limbs", "10.8.culprit"],
        "as above, but the bad share is holder 2's, one of the t lowest: limb 8 of b_6 "
        "rebuilds out of range",
        order=reverse,
        edits=lambda n: {
            up(SK, 6): n.dishonest_owner(6, {(2, 1): (8, delta_for([0, 1, 2, 3], 2, 1 << 16))})
        },
        completes=False,
    )
    row(
        "round_bad_holder_choice_after_bad_share_drop",
        "semi7",
        (SERVER_ABORT, A.INCONSISTENT_SHARES, 6),
        [used, "10.8.culprit"],
        "holder 0 returns a wrong share of 1 (BAD_SHARE, so 0 is not in U4); the holders "
        "used for 6 are then 1, 2, 3, 4, and owner 6 gave 4 a share off its polynomial",
        edits=lambda n: {
            up(UN, 0): n.response(0, entry(1, share=True)),
            up(SK, 6): n.dishonest_owner(6, {(4, 1): (8, delta_for([1, 2, 3, 4], 4, 1 << 16))}),
        },
        order=reverse,
        completes=False,
    )

    # ------------------------------------------------------------ closing unmasking (10.8)
    ins, lim, cb, keys_, step, culp = (
        "10.8.insufficient",
        "10.8.limbs",
        "10.8.self-mask-commitment",
        "10.8.key-shares",
        "10.8.step-order",
        "10.8.culprit",
    )
    inc = A.INCONSISTENT_SHARES
    rest = bytes(range(32))  # another seed
    row(
        "round_bad_insufficient_shares",
        "semi5",
        (SERVER_ABORT, A.INSUFFICIENT_SHARES, None),
        [ins, "10.4.valid-holders"],
        "0 and 1 accuse 4 (its ciphertexts to them fail), then 3 and 4 miss the unmasking: "
        "V(4) ∩ U4 = {2} < t",
        edits=lambda n: {up(SK, 4): n.garbage_ciphertexts(4, [0, 1])},
        silent={3: UN, 4: UN},
        completes=False,
    )
    row(
        "round_bad_insufficient_before_out_of_range",
        "semi5",
        (SERVER_ABORT, A.INSUFFICIENT_SHARES, None),
        [ins, step],
        "as above, and owner 2's shares rebuild out of range: step 1 (every owner of U3) "
        "comes before step 2",
        edits=lambda n: {
            up(SK, 4): n.garbage_ciphertexts(4, [0, 1]),
            up(SK, 2): n.dishonest_owner(2, {(1, 1): (8, delta_for([0, 1, 2], 1, 1 << 16))}),
        },
        silent={3: UN, 4: UN},
        completes=False,
    )
    row(
        "round_bad_out_of_range_before_commitment",
        "semi5",
        (SERVER_ABORT, inc, 3),
        [lim, cb, step, culp],
        "owner 1 committed to another b_1 (step 3) and owner 3's b shares rebuild out of "
        "range (step 2): the culprit is 3",
        edits=lambda n: {
            up(SK, 1): n.self_mask_commitment(1, rest),
            up(SK, 3): n.dishonest_owner(3, {(0, 1): (8, delta_for([0, 1, 2], 0, 1 << 16))}),
        },
        completes=False,
    )
    row(
        "round_bad_self_mask_commitment",
        "semi5",
        (SERVER_ABORT, inc, 2),
        [cb, culp],
        "owner 2 committed to another b_2 than the one it shared",
        edits=lambda n: {up(SK, 2): n.self_mask_commitment(2, rest)},
        completes=False,
    )
    row(
        "round_bad_inconsistent_self_mask_shares",
        "semi5",
        (SERVER_ABORT, inc, 2),
        [cb, culp],
        "owner 2's share for holder 0 is off its polynomial (and committed as such): every "
        "share passes its commitment, b_2 rebuilds in range but wrong, and fails C_b",
        edits=lambda n: {
            up(SK, 2): n.dishonest_owner(2, {(0, 1): (0, delta_for([0, 1, 2], 0, 1))})
        },
        completes=False,
    )
    row(
        "round_bad_two_inconsistent_owners",
        "semi5",
        (SERVER_ABORT, inc, 1),
        [cb, step, culp],
        "owners 1 and 3 both committed to another b: the lower id is the culprit",
        edits=lambda n: {
            up(SK, 1): n.self_mask_commitment(1, rest),
            up(SK, 3): n.self_mask_commitment(3, rest),
        },
        completes=False,
    )
    row(
        "round_bad_commitment_before_insufficient_key_shares",
        "semi5",
        (SERVER_ABORT, inc, 1),
        [cb, ins, step, culp],
        "owner 1 committed to another b_1 (step 3); owner 3 missed masked_input and only 2 "
        "of its valid holders answer (step 4): step 3 comes first",
        edits=lambda n: {
            up(SK, 1): n.self_mask_commitment(1, rest),
            up(SK, 3): n.garbage_ciphertexts(3, [0, 1]),
        },
        silent={3: MI, 4: UN},
        completes=False,
    )
    row(
        "round_bad_inconsistent_key_shares",
        "semi5",
        (SERVER_ABORT, inc, 3),
        [keys_, culp],
        "owner 3 missed masked_input; its KEY share for holder 0 is off its polynomial "
        "(committed): s_3^SK rebuilds in range but X25519(s_3^SK, 9) is not s_3^PK",
        edits=lambda n: {
            up(SK, 3): n.dishonest_owner(3, {(0, 0): (0, delta_for([0, 1, 2], 0, 1))})
        },
        silent={3: MI},
        completes=False,
    )
    row(
        "round_bad_inconsistent_key_secret",
        "semi5",
        (SERVER_ABORT, inc, 3),
        [keys_, culp],
        "owner 3 shares another s^SK than the one behind its s^PK, consistently",
        edits=lambda n: {up(SK, 3): n.dishonest_owner(3, {}, secret=(0, rest))},
        silent={3: MI},
        completes=False,
    )
    row(
        "round_bad_key_shares_out_of_range_before_public_key",
        "semi5",
        (SERVER_ABORT, inc, 3),
        [keys_, lim, step, culp],
        "owners 2 and 3 missed masked_input; 2's KEY shares rebuild a wrong key, 3's rebuild "
        "out of range: the range check of every owner comes before the key comparison",
        edits=lambda n: {
            up(SK, 2): n.dishonest_owner(2, {(0, 0): (0, delta_for([0, 1, 4], 0, 1))}),
            up(SK, 3): n.dishonest_owner(3, {(0, 0): (8, delta_for([0, 1, 4], 0, 1 << 16))}),
        },
        silent={2: MI, 3: MI},
        completes=False,
    )
    row(
        "round_bad_insufficient_key_shares",
        "semi5",
        (SERVER_ABORT, A.INSUFFICIENT_SHARES, None),
        [ins, keys_],
        "owner 3 missed masked_input; 0 and 1 accused it and 4 misses the "
        "unmasking: V(3) ∩ U4 = {2} < t",
        edits=lambda n: {up(SK, 3): n.garbage_ciphertexts(3, [0, 1])},
        silent={3: MI, 4: UN},
        completes=False,
    )


def round_file() -> Json:
    ps = parties()
    cases = [round_case(sc) for sc in round_table(ps)]
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names))
    # Each distinct message is stored once, under its SHA-256; transcripts name it.
    messages: dict[str, str] = {}

    def ref(data: str) -> str:
        digest = plain_sha256(bytes.fromhex(data))
        messages[digest] = data
        return digest

    for case in cases:
        for event in case["transcript"]:
            if event["step"] != "message":
                continue
            event["message_sha256"] = ref(event.pop("message"))
            if "delivered" in event:
                arrived = event.pop("delivered")
                event["delivered_sha256"] = None if arrived is None else ref(arrived)
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Complete rounds between real clients and a server (SPEC.md sections 9 and 10). "
            "parties: a configuration and, per client, rand (all the randomness it consumes: "
            "c_u^SK | s_u^SK | b_u | the Shamir coefficients of (s_u^SK, b_u)), its input x_u "
            "(input, or input_key: x_u = elements [0, m) of the PRG stream of that key at b "
            "bits) and in the malicious mode signing_secret (its Ed25519 key d_u^SK). A case "
            "runs the clients of its party and one server: in each round the clients that "
            "are not silent (silent_from), not aborted and hold a prompt act in id order (or "
            "'order'), then the server closes the round. transcript, in order: 'message' "
            "(round, type, sender, recipient, bytes as sent; 'delivered' when the network "
            "altered it, null when it was lost; 'injected' for bytes no party of the round "
            "sent - to the server, or to a client, which handles it at once; the bytes are in "
            "'messages' under the SHA-256 that message_sha256 and delivered_sha256 give), "
            "'client_silent' (a prompt reached an aborted client, which sends nothing), "
            "'advance' (the "
            "server closes the round; its prompts follow as messages, in the order it sends "
            "them), 'client_abort' and 'server_abort' (with the culprit of "
            "INCONSISTENT_SHARES). drops: the server's DropReason records in order; result: "
            "U3, U4 and the aggregate (or, when m > 64, the SHA-256 of its elements encoded "
            "w-byte little-endian); abort: the server's "
            "AbortReason. *_bad_* cases name the failure they exist for (error, reason, "
            "client or culprit); note says what happens. Honest rounds carry intermediates: "
            "keys, shares, commitments, ciphertexts, mask keys, masks, masked inputs, and the "
            "rebuilt secrets in this order: b_z for z in U3 by increasing id, then s_z^SK for "
            "z in U2 \\ U3 by increasing id, each with the holders used (the t lowest ids of "
            "V(z) ∩ U4), their Lagrange coefficients and shares."
        ),
        "parties": {name: p.to_json() for name, p in ps.items()},
        "messages": messages,
        "cases": cases,
    }


# --------------------------------------------------------------------------- README.md

FILES: dict[str, Callable[[], Json]] = {
    "kdf.json": kdf_file,
    "prg.json": prg_file,
    "graph.json": graph_file,
    "shamir.json": shamir_file,
    "commit.json": commit_file,
    "aead.json": aead_file,
    "sign.json": sign_file,
    "wire.json": wire_file,
    "quantize.json": quantize_file,
    "round.json": round_file,
}

FILE_NOTES = {
    "kdf.json": "SPEC 1, 2, 6.1, 6.2: configurations (both modes, complete and SecAgg+, with "
    "rosters; the same nonce with one parameter changed), the 83-byte configuration as a "
    "client decodes it (ranges, roster digest, the client's own policy), labeled SHA-256, "
    "X25519 key pairs and agreements, refused keys, fingerprints and aliases, the three HKDF "
    "derivations",
    "prg.json": "SPEC 7.1: prg_key for the labels graph, rounding and drbg/..., streams at "
    "widths 4 and 8 from unaligned start offsets",
    "graph.json": "SPEC 7.2: ring draws, ring order and neighbourhoods for several (n, k, session)",
    "shamir.json": "SPEC 8.1, 8.2: limb split, coefficients from the rand layout, shares, "
    "reconstructions from several t-subsets with their Lagrange coefficients, share decoding, "
    "limbs that rebuild out of range (boundaries included)",
    "commit.json": "SPEC 8.3: share commitments and self-mask commitments with their hashed "
    "inputs; the server's check of a returned share",
    "aead.json": "SPEC 6.4: share ciphertexts from key, associated data and plaintext; "
    "ciphertexts that must not open; plaintexts whose ids or limbs make the recipient accuse",
    "sign.json": "SPEC 2, 5.4, 5.11, 6.3: Ed25519 keys, the two labeled messages and their "
    "signatures, invalid signatures (S + L included), rosters and digests",
    "wire.json": "SPEC 3, 4, 5: a message of every type in both modes and graphs with its "
    "decoded fields; rejections for every envelope check, for two checks broken at once, at "
    "the size limit of every type (both sides of it), and for every body rule",
    "quantize.json": "SPEC 12: float configurations (default modulus, the overflow refusal), "
    "quantization step by step with its rounding draws, NaN, dequantization and its "
    "out-of-range refusal",
    "round.json": "SPEC 9, 10, 11: complete rounds between real clients and a server - honest "
    "rounds in both modes and graphs with intermediates, and one row per rule: what is "
    "altered, lost, injected or refused, and the drop or abort that must follow",
}


def case_lists(data: Json) -> dict[str, list[Json]]:
    return {
        key: value
        for key, value in data.items()
        if isinstance(value, list) and value and isinstance(value[0], dict) and "name" in value[0]
    }


FAMILIES: dict[str, list[tuple[str, str]]] = {
    "kdf.json": [
        ("config_", "a RoundConfig: fields, 83-byte encoding, roster digest, session id"),
        ("config_same_nonce_", "one nonce, one parameter changed each: seven session ids"),
        ("config_decode_", "the encoding a client receives, decoded with its trusted roster"),
        ("config_decode_bad_", "encodings a client must refuse (ranges, version, mode, roster)"),
        ("config_decode_bad_policy_", "refused by the client's own threshold policy"),
        ("config_decode_policy_", "accepted once the client opts out of its policy"),
        ("labeled_sha256_", "labeled SHA-256 with its framed input"),
        ("x25519_keypair_", "X25519 public keys of raw secrets"),
        ("x25519_agree_", "X25519 agreements"),
        ("x25519_bad_", "peer keys that must be refused: low order, non-canonical, lengths"),
        ("x25519_fingerprint_", "fingerprints, 1/u aliases, refused keys"),
        ("pair_mask_key_", "HKDF pair-mask keys K_{u,v} (both id orders)"),
        ("share_encryption_keys_", "HKDF share encryption keys k_{min->max} || k_{max->min}"),
        ("self_mask_key_", "HKDF self-mask keys K_u"),
    ],
    "prg.json": [
        ("prg_key_", "prg_key(seed, label) for graph, rounding, drbg/..., empty"),
        ("stream_", "stream elements at widths 4 and 8 from start offsets"),
    ],
    "graph.json": [("graph_", "draws, ring order and neighbourhoods of H_{n,k}")],
    "shamir.json": [
        ("limbs_", "the 9-limb split of a 32-byte secret"),
        ("sharing_", "coefficients from rand, shares, reconstructions with Lagrange coefficients"),
        ("share_decode_", "36-byte shares: limbs < p"),
        ("reconstruct_", "rebuilt limbs at and beyond the range boundaries"),
    ],
    "commit.json": [
        ("commit_", "share commitments with their hashed input"),
        ("self_mask_commit_", "C_b with its hashed input"),
        ("verify_", "the server's unmasking check of a returned share (BAD_SHARE)"),
    ],
    "aead.json": [
        ("seal_", "share ciphertexts from the c agreement, key, associated data and plaintext"),
        ("open_bad_", "ciphertexts that must not open"),
        ("plaintext_", "the recipient's plaintext checks (ids, length, limbs)"),
    ],
    "sign.json": [
        ("ed25519_key_", "Ed25519 public keys of raw secrets"),
        ("advertise_", "the advertisement's labeled message and signature"),
        ("consistency_", "the consistency message over a U3 bitmap and its signature"),
        ("signature_bad_", "signatures that must be invalid (S + L, other key, label, ...)"),
        ("roster_", "rosters and their digests; rosters that must be refused"),
    ],
    "wire.json": [
        ("semi_", "every semi-honest type, complete graph, n = 4"),
        ("plus_", "SecAgg+ (k = 4, n = 12): caps at h = 5, 2-byte id sets"),
        ("mal_", "every malicious type, complete graph, with signatures"),
        ("mal_plus_", "malicious SecAgg+ (k = 4, n = 10)"),
        ("b40_", "b = 40: 8-byte elements"),
        ("b1_", "b = 1"),
        ("b64_", "b = 64: every value in range"),
        ("envelope_bad_", "each envelope check, and two checks broken at once"),
        (
            "size_",
            "the largest message of each type per mode and graph (passes checks 1-4), "
            "and one byte more (fails check 2)",
        ),
        ("advertise_keys_bad_", "ADVERTISE_KEYS bodies"),
        ("key_list_bad_", "KEY_LIST bodies and list rules"),
        ("share_keys_bad_", "SHARE_KEYS bodies: prompt, C_b, both lists"),
        ("share_forward_bad_", "SHARE_FORWARD bodies"),
        ("share_check_bad_", "SHARE_CHECK bodies"),
        ("mask_request_bad_", "MASK_REQUEST id sets"),
        ("masked_input_bad_", "MASKED_INPUT lengths and the ring range"),
        ("consistency_request_bad_", "CONSISTENCY_REQUEST id sets"),
        ("consistency_response_bad_", "CONSISTENCY_RESPONSE lengths"),
        ("unmask_request_bad_", "UNMASK_REQUEST id sets and signer lists"),
        ("unmask_response_bad_", "UNMASK_RESPONSE lists, kinds and limbs"),
    ],
    "quantize.json": [
        ("qconfig_", "float configurations: b, the default modulus, refusals"),
        ("quantize_", "quantization step by step; NaN refused"),
        ("dequantize_", "dequantization; sums above count * L refused"),
    ],
    "round.json": [
        ("round_semi_", "honest rounds (semi-honest), with intermediates"),
        ("round_malicious_", "honest rounds (malicious), with intermediates"),
        ("round_large_", "an honest SecAgg+ round with n = 24, m = 1000"),
        ("round_weak_", "n = t = 1"),
        ("round_bad_advertise_", "advertise_keys: refused and repeated keys, signatures"),
        ("round_bad_unknown_client", "the server's ignore rules: ids outside [0, n)"),
        ("round_ignores_", "the server's ignore rules: after completion"),
        ("round_bad_ignores_", "the server's ignore rules: after an abort"),
        ("round_bad_dropped_", "the server's ignore rules: no rejoining"),
        ("round_bad_timed_out_", "the server's ignore rules: no rejoining"),
        ("round_bad_never_prompted_", "the server's ignore rules: not expected in the phase"),
        ("round_first_message_", "the server's ignore rules: the first message stands"),
        ("round_bad_timeouts_", "closing a phase: TIMED_OUT in id order"),
        (
            "round_bad_below_threshold_",
            "closing a phase: BELOW_THRESHOLD in every phase, and before the closing step",
        ),
        ("round_bad_key_list_", "the client's key-list checks, their order, agreements"),
        ("round_bad_aborted_", "an aborted client stays silent"),
        ("round_bad_share_keys_", "the server's SHARE_KEYS rules, echo precedence, replays"),
        ("round_bad_forward_", "the client's forward checks and their order"),
        ("round_accuses_", "accusations that leave the owner with t valid holders"),
        ("round_bad_garbage_", "exclusion (SHARES_REJECTED) in both modes and graphs"),
        (
            "round_bad_commitments_",
            "exclusion of an owner whose shares differ from its commitments",
        ),
        ("round_bad_exclusion_", "the exclusion fixed point, valid holders, |U2| < t"),
        ("round_bad_share_check_", "the server's SHARE_CHECK rules"),
        ("round_bad_mask_request_", "the client's mask-request checks, their order, s agreements"),
        ("round_bad_masked_input_", "the server's MASKED_INPUT rules and echo"),
        (
            "round_bad_consistency_",
            "consistency_check: survivor rules, signing once, the server's signature check",
        ),
        (
            "round_bad_unmask_request_",
            "the client's unmasking checks (both modes), signature entry order, counts in H(z)",
        ),
        ("round_bad_split_view_", "a malicious server showing two U3: what honest clients do"),
        ("round_bad_unmask_response_", "the server's UNMASK_RESPONSE rules and entry order"),
        ("round_holder_choice_", "which holders rebuild a secret"),
        ("round_bad_holder_choice_", "which holders rebuild a secret"),
        ("round_bad_insufficient_", "closing unmasking: INSUFFICIENT_SHARES and step order"),
        ("round_bad_out_of_range_", "closing unmasking: step 2 before step 3"),
        ("round_bad_self_mask_", "closing unmasking: C_b"),
        ("round_bad_inconsistent_", "closing unmasking: inconsistent sharings (culprit)"),
        ("round_bad_two_", "closing unmasking: the lowest culprit"),
        ("round_bad_commitment_before_", "closing unmasking: step 3 before step 4"),
        ("round_bad_key_shares_", "closing unmasking: ranges before public keys"),
    ],
}


def family(file_name: str, name: str) -> str:
    """The longest family prefix of FAMILIES[file_name] that ``name`` starts with."""
    matches = [prefix for prefix, _ in FAMILIES[file_name] if name.startswith(prefix)]
    assert matches, (file_name, name)
    return max(matches, key=len)


def cell(text: str) -> str:
    """Text for a Markdown table cell."""
    return text.replace("|", "\\|")


def readme(built: dict[str, Json]) -> str:
    cases: dict[str, list[tuple[str, Json]]] = {rule: [] for rule in RULE_IDS}
    total = 0
    for file_name, data in built.items():
        for items in case_lists(data).values():
            for case in items:
                total += 1
                for rule in case.get("rules", []):
                    cases[rule].append((file_name, case))
    lines = [
        "# Known-answer vectors, protocol version 2",
        "",
        "Generated by `protocol/gen_vectors.py` (run `.venv/bin/python protocol/gen_vectors.py` "
        "from the repository root; a re-run rewrites identical files, this one included) and "
        "replayed by `tests/test_vectors.py`. The vectors are the library run on a table of "
        "cases from fixed seeds; SPEC.md section 15 states their status: where SPEC.md and the "
        "code disagree, these files decide until the disagreement is fixed.",
        "",
        "Conventions: every file has `version` (2) and `description`; keys are sorted; byte "
        "strings are lower-case hex; ring and field elements and ids are JSON integers "
        '(`4294967295` is the server). A case named `*_bad_*` has `"success": false`, the '
        "error it must raise and, for protocol errors, `reason` and `reason_code` (SPEC 11). "
        "Every case lists in `rules` the rules of SPEC.md it pins (the table below); round "
        "cases also say in `note` what happens.",
        "",
        "## Files",
        "",
        "| file | what | case lists (count) |",
        "|---|---|---|",
    ]
    for file_name, data in built.items():
        lists = ", ".join(f"`{k}` ({len(v)})" for k, v in case_lists(data).items())
        lines.append(f"| `{file_name}` | {FILE_NOTES[file_name]} | {lists} |")
    lines += [
        "",
        f"{total} cases in all.",
        "",
        "## Replaying a round",
        "",
        "A round case names a party of `round.json`: the configuration (build it from its "
        "fields; it must encode to `encoded` and hash to `session_id`) and, per client, its "
        "randomness `rand`, its input and, in the malicious mode, its Ed25519 "
        "`signing_secret`. Walk the transcript in order: a `message` from a client is what "
        "that client must send (from `start` in advertise_keys, else in answer to the last "
        "prompt it was delivered); hand the server the delivered bytes (`delivered_sha256`, "
        "else the message itself; nothing when it is null). After an `advance`, the "
        "server's prompts are the next `message` steps, in order; each client is delivered "
        "its prompt. An `injected` message goes straight to the server (recipient "
        "4294967295) or to a client, which handles it at once. `client_abort` is the reason "
        "a client must refuse the prompt it holds, `client_silent` a prompt an aborted "
        "client must not answer, `server_abort` the reason (and culprit) `advance` must "
        "raise. At the end compare the server's drops, the aborts and the result. Message "
        "bytes are in `messages`, under their SHA-256.",
        "",
        "## Case families",
        "",
    ]
    for file_name, data in built.items():
        counts: dict[str, int] = {}
        for items in case_lists(data).values():
            for case in items:
                prefix = family(file_name, case["name"])
                counts[prefix] = counts.get(prefix, 0) + 1
        lines.append(f"`{file_name}`:")
        lines.append("")
        for prefix, what in FAMILIES[file_name]:
            if prefix in counts:
                lines.append(f"- `{prefix}*` ({counts[prefix]}): {what}")
        lines.append("")
    lines += [
        "### Round cases",
        "",
        "| case | outcome | what happens |",
        "|---|---|---|",
    ]
    for case in built["round.json"]["cases"]:
        if case["success"]:
            outcome = "completes"
        else:
            who = case.get("client", case.get("culprit"))
            outcome = f"{case['error']} {case['reason']}" + ("" if who is None else f" ({who})")
        lines.append(f"| `{case['name']}` | {outcome} | {cell(case['note'])} |")
    lines += [
        "",
        "## SPEC rules and the cases that pin them",
        "",
        "Built by going through SPEC.md paragraph by paragraph. `MUST` rules carry the "
        "keyword in SPEC.md; `rule` rules are normative text without it (orders of checks, "
        "byte layouts, reasons); `unobservable` rules leave no trace on the wire. For each "
        "rule, the cases listed first are the most specific: an implementation that breaks "
        "only that rule fails them (a different reason, another order of drops or aborts, "
        "other bytes, or an aggregate where none is due).",
        "",
        "| rule | kind | SPEC says | cases |",
        "|---|---|---|---|",
    ]
    for rule_id, kind, text in RULES:
        pinned = sorted(cases[rule_id], key=lambda fc: (len(fc[1].get("rules", [])),
                                                        fc[1]["name"]))  # fmt: skip
        if kind.endswith("unobservable"):
            assert not pinned, rule_id
            shown = "- (not observable on the wire)"
        else:
            assert pinned, f"rule {rule_id} has no case"
            names = [f"`{fc[1]['name']}`" for fc in pinned[:6]]
            more = len(pinned) - len(names)
            shown = ", ".join(names) + (f" and {more} more" if more else "")
        lines.append(f"| {rule_id} | {kind} | {cell(text)} | {shown} |")
    must = [kind for _, kind, _ in RULES if kind.startswith("MUST")]
    hidden = [kind for _, kind, _ in RULES if kind.endswith("unobservable")]
    lines += [
        "",
        f"{len(RULES)} rules: {len(must)} MUST ({sum(k == 'MUST' for k in must)} observable, "
        f"{len(must) - sum(k == 'MUST' for k in must)} not), {len(RULES) - len(must)} other "
        f"normative rules; {len(hidden)} rules in all are not observable on the wire: "
        "requirements on a deployment (SPEC section 13, the randomness of section 9) or orders "
        "and memory rules the SPEC words as SHOULD. Every observable rule has at least one "
        "case.",
        "",
    ]
    return "\n".join(lines)


def build_all() -> dict[str, str]:
    """File name -> exact file text, for every vector file and the README."""
    built = {name: build() for name, build in FILES.items()}
    out = {name: write_json(data) for name, data in built.items()}
    out["README.md"] = readme(built)
    return out


def main() -> None:
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in build_all().items():
        (VECTOR_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {VECTOR_DIR / name} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
