"""Write the known-answer vectors of protocol/vectors/*.json (described in protocol/SPEC.md).

Run from the repository root::

    .venv/bin/python protocol/gen_vectors.py

Every random byte comes from :class:`secagg.crypto.drbg.Drbg` with a fixed seed, one stream per
vector family, so a re-run rewrites identical files. Byte strings are lower-case hex, ring
elements are JSON integers, JSON keys are sorted. Negative cases are named ``*_bad_*`` and carry
``"success": false`` with the error class and reason they must fail with.

The rounds drive :class:`~secagg.core.client.Client` and :class:`~secagg.core.server.Server`
directly, so
the recorded ``rand`` of each client is exactly the randomness that client consumed. While it
builds the files this script re-derives the intermediate values from the primitives the way
SPEC.md describes them and asserts that they match the bytes on the wire: a generator that runs
to the end is also a check of the specification.

``tests/test_vectors.py`` replays every file against the library and checks that
:func:`build_all` still yields the committed files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from secagg.config import PROTOCOL_VERSION, RoundConfig
from secagg.core import wire
from secagg.core.client import Client, rand_size
from secagg.core.server import Server, ServerPhase
from secagg.crypto import aead, kdf, prg, shamir
from secagg.crypto.commit import COMMITMENT_SIZE, share_commitment
from secagg.crypto.drbg import Drbg
from secagg.crypto.hashing import sha256
from secagg.crypto.keys import KeyAgreementError, KeyPair, agree, fingerprint, is_valid_public
from secagg.errors import AbortReason, ClientAbort, DecodeError, DropReason, ProtocolAbort

Json = dict[str, Any]

VECTOR_DIR = Path(__file__).resolve().parent / "vectors"
MASTER_SEED = b"secagg/known-answer-vectors"
SERVER = wire.SERVER_ID
P = shamir.PRIME
COMMIT_LABEL = b"secagg/v%d/share-commit" % PROTOCOL_VERSION
KIND = wire.ShareKind
P25519 = 2**255 - 19

ROUNDS = ("advertise_keys", "share_keys", "masked_input", "unmasking")
"""Round names, which are also the server's phase names (``ServerPhase`` values)."""
assert tuple(p.value for p in ServerPhase)[:4] == ROUNDS

LOW_ORDER_POINTS = {
    "u0": bytes(32),
    "u1": b"\x01" + bytes(31),
    "order8": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
}
"""X25519 public keys whose agreement result is all zero; every party must refuse them."""


# --------------------------------------------------------------------------- small helpers


def rng(name: str) -> Drbg:
    """The deterministic stream of one vector family (independent of every other family)."""
    return Drbg(MASTER_SEED, name.encode())


def hexs(items: Sequence[bytes]) -> list[str]:
    return [item.hex() for item in items]


def ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def plain_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def field_hex(value: int) -> str:
    """A field element of GF(p) as its 33-byte big-endian encoding."""
    return shamir.encode_share(value).hex()


def ring_vector(r: Drbg, length: int, bits: int) -> list[int]:
    raw = np.frombuffer(r(8 * length), dtype="<u8")
    return ints(raw & np.uint64((1 << bits) - 1))


def config_json(cfg: RoundConfig) -> Json:
    return {
        "num_clients": cfg.num_clients,
        "threshold": cfg.threshold,
        "dim": cfg.dim,
        "bits": cfg.bits,
        "session_nonce": cfg.session_nonce.hex(),
        "encoded": cfg.encode().hex(),
        "session_id": cfg.session_id.hex(),
    }


def make_config(r: Drbg, n: int, t: int, m: int, b: int) -> RoundConfig:
    return RoundConfig(num_clients=n, threshold=t, dim=m, bits=b, session_nonce=r(32))


def reason_json(reason: DropReason | AbortReason) -> Json:
    return {"reason": reason.name, "reason_code": int(reason)}


def redigest(data: bytes) -> bytes:
    """Recompute the envelope digest after a deliberate edit of header or body bytes."""
    head, body = data[: wire.HEADER_SIZE], data[wire.HEADER_SIZE : -wire.DIGEST_SIZE]
    return head + body + sha256(b"secagg/v%d/digest" % PROTOCOL_VERSION, head, body)


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def message_type(data: bytes) -> str:
    return wire.MessageType(data[5]).name


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
            return "[" + ", ".join(json.dumps(item) for item in value) + "]"
        return (
            "[\n"
            + ",\n".join(inner + _render(item, depth + 1) for item in value)
            + "\n"
            + pad
            + "]"
        )
    return json.dumps(value)


# --------------------------------------------------------------------------- kdf.json


def kdf_file() -> Json:
    r = rng("kdf")
    sessions = []
    for n, t, m, b in ((1, 1, 1, 1), (3, 2, 4, 8), (7, 4, 8, 16), (1000, 501, 100000, 32)):
        cfg = make_config(r, n, t, m, b)
        sessions.append({"name": f"session_n{n}_t{t}_m{m}_b{b}", "config": config_json(cfg)})
    # The same nonce with another threshold is another session.
    base = make_config(r, 5, 3, 10, 64)
    other = RoundConfig(
        num_clients=5, threshold=4, dim=10, bits=64, session_nonce=base.session_nonce
    )
    assert base.session_id != other.session_id
    sessions.append({"name": "session_n5_t3_m10_b64", "config": config_json(base)})
    sessions.append({"name": "session_n5_t4_m10_b64_same_nonce", "config": config_json(other)})

    labeled = []
    for name, label, parts in (
        ("labeled_sha256_empty", b"", []),
        ("labeled_sha256_digest_label", b"secagg/v1/digest", [b"abc", b"", r(40)]),
        ("labeled_sha256_session_label", b"secagg/v1/session", [r(46)]),
    ):
        labeled.append(
            {
                "name": name,
                "label": label.hex(),
                "parts": hexs(parts),
                "output": sha256(label, *parts).hex(),
            }
        )

    secrets = [r(32) for _ in range(3)] + [bytes(32), b"\xff" * 32]
    pairs = [KeyPair.from_secret(s) for s in secrets]
    keypairs = [
        {"name": f"x25519_keypair_{i}", "secret": p.secret.hex(), "public": p.public.hex()}
        for i, p in enumerate(pairs)
    ]
    agreements: list[Json] = []
    for i, j in ((0, 1), (1, 0), (0, 2), (2, 1), (3, 4), (4, 0)):
        shared = pairs[i].agree(pairs[j].public)
        assert shared == pairs[j].agree(pairs[i].public)
        agreements.append(
            {
                "name": f"x25519_agree_{i}_{j}",
                "secret": secrets[i].hex(),
                "peer_public": pairs[j].public.hex(),
                "shared_secret": shared.hex(),
                "success": True,
            }
        )
    bad_peers = [(f"x25519_bad_low_order_{k}", v) for k, v in LOW_ORDER_POINTS.items()]
    bad_peers.append(("x25519_bad_short_public", pairs[1].public[:31]))
    # A valid key with bit 255 set, and u + p for a valid u small enough: both name the same
    # point as the canonical key, and both must be refused (SPEC 6.1).
    top = bytearray(pairs[1].public)
    top[31] |= 0x80
    bad_peers.append(("x25519_bad_top_bit_set", bytes(top)))
    bad_peers.append(("x25519_bad_u_plus_p", (9 + P25519).to_bytes(32, "little")))
    for name, peer in bad_peers:
        assert not is_valid_public(peer)
        try:
            agree(secrets[0], peer)
        except KeyAgreementError:
            pass
        else:  # pragma: no cover - the generator refuses to record a wrong expectation
            raise AssertionError(name)
        agreements.append(
            {
                "name": name,
                "secret": secrets[0].hex(),
                "peer_public": peer.hex(),
                "success": False,
                "error": "KeyAgreementError",
            }
        )

    # Fingerprints (SPEC 6.1): u -> 1/u mod p adds the point of order 2, an alias X25519 treats
    # as the same key; it has the original's fingerprint and must count as a repeated key.
    fingerprints: list[Json] = []
    for i, pair in enumerate(pairs[:3]):
        u = int.from_bytes(pair.public, "little")
        alias = pow(u, P25519 - 2, P25519).to_bytes(32, "little")
        assert is_valid_public(alias) and agree(secrets[(i + 1) % 3], alias) == agree(
            secrets[(i + 1) % 3], pair.public
        )
        for name, public in (
            (f"x25519_fingerprint_{i}", pair.public),
            (f"x25519_fingerprint_{i}_inverse_alias", alias),
        ):
            fingerprints.append(
                {
                    "name": name,
                    "public": public.hex(),
                    "fingerprint": _hex_or_none(public),
                    "success": True,
                }
            )
    for name, public in (
        ("x25519_fingerprint_bad_low_order_u1", LOW_ORDER_POINTS["u1"]),
        ("x25519_fingerprint_bad_top_bit_set", bytes(top)),
    ):
        fingerprints.append(
            {
                "name": name,
                "public": public.hex(),
                "fingerprint": None,
                "success": False,
                "error": "KeyAgreementError",
            }
        )

    cfg = make_config(r, 7, 4, 8, 16)
    hkdf: list[Json] = []
    for u, v in ((0, 1), (1, 0), (2, 6), (6, 2), (3, 5)):
        shared = r(32)
        seed = kdf.pair_mask_seed(shared, session_id=cfg.session_id, u=u, v=v)
        assert seed == kdf.pair_mask_seed(shared, session_id=cfg.session_id, u=v, v=u)
        hkdf.append(
            {
                "name": f"pair_mask_seed_{u}_{v}",
                "function": "pair_mask_seed",
                "shared_secret": shared.hex(),
                "salt": cfg.session_id.hex(),
                "u": u,
                "v": v,
                "info": kdf.info(kdf.PURPOSE_MASK, min(u, v), max(u, v)).hex(),
                "output": seed.hex(),
            }
        )
        key = kdf.share_encryption_key(shared, session_id=cfg.session_id, sender=u, recipient=v)
        assert key != kdf.share_encryption_key(
            shared, session_id=cfg.session_id, sender=v, recipient=u
        )
        hkdf.append(
            {
                "name": f"share_encryption_key_{u}_to_{v}",
                "function": "share_encryption_key",
                "shared_secret": shared.hex(),
                "salt": cfg.session_id.hex(),
                "sender": u,
                "recipient": v,
                "info": kdf.info(kdf.PURPOSE_SHARE_ENC, u, v).hex(),
                "output": key.hex(),
            }
        )
    # One chained case: the seed two clients derive from their X25519 keys.
    shared = pairs[0].agree(pairs[1].public)
    hkdf.append(
        {
            "name": "pair_mask_seed_from_x25519_0_1",
            "function": "pair_mask_seed",
            "shared_secret": shared.hex(),
            "salt": cfg.session_id.hex(),
            "u": 0,
            "v": 1,
            "info": kdf.info(kdf.PURPOSE_MASK, 0, 1).hex(),
            "output": kdf.pair_mask_seed(shared, session_id=cfg.session_id, u=0, v=1).hex(),
        }
    )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Session ids, labeled SHA-256, X25519 and the two HKDF-SHA256 derivations "
            "(SPEC.md sections 2, 3 and 6). session: config.encoded is RoundConfig.encode() and "
            "config.session_id = labeled_sha256('secagg/v1/session', encoded). labeled_sha256: "
            "SHA-256(u16be(len(label)) || label || parts...). x25519: raw 32-byte secrets and "
            "publics, shared_secret = X25519(secret, peer_public); *_bad_* peers are low-order, "
            "non-canonical (u >= 2^255 - 19 as a little-endian integer) or malformed and must be "
            "refused. x25519_fingerprints: fingerprint = X25519(01 02 .. 20, public), null for a "
            "key that must be refused; *_inverse_alias is 1/u mod p, the same key to X25519, so "
            "its fingerprint equals the original's (SPEC 6.1). "
            "hkdf: HKDF-SHA256(ikm=shared_secret, salt, info) "
            "with 32 bytes of output; pair_mask_seed passes (min(u,v), max(u,v)), "
            "share_encryption_key passes (sender, recipient)."
        ),
        "sessions": sessions,
        "labeled_sha256": labeled,
        "x25519_keypairs": keypairs,
        "x25519_agreements": agreements,
        "x25519_fingerprints": fingerprints,
        "hkdf": hkdf,
    }


def _hex_or_none(public: bytes) -> str | None:
    value = fingerprint(public)
    return None if value is None else value.hex()


# --------------------------------------------------------------------------- prg.json


def prg_file() -> Json:
    r = rng("prg")
    seeds = [r(32) for _ in range(4)]
    specs: list[tuple[int, bytes, int, int, int]] = [
        (0, prg.LABEL_SELF_MASK, 1, 0, 1000),
        (0, prg.LABEL_PAIR_MASK, 1, 0, 1000),
        (0, prg.LABEL_SELF_MASK, 7, 0, 1000),
        (0, prg.LABEL_SELF_MASK, 7, 3, 997),
        (1, prg.LABEL_PAIR_MASK, 16, 0, 1000),
        (1, prg.LABEL_PAIR_MASK, 16, 5, 64),
        (1, prg.LABEL_PAIR_MASK, 32, 0, 1000),
        (1, prg.LABEL_PAIR_MASK, 32, 1_000_003, 64),
        (2, prg.LABEL_SELF_MASK, 33, 0, 1000),
        (2, prg.LABEL_SELF_MASK, 33, 1, 17),
        (2, prg.LABEL_ROUNDING, 48, 0, 500),
        (3, prg.LABEL_SELF_MASK, 64, 0, 1000),
        (3, prg.LABEL_SELF_MASK, 64, 3, 1),
        (3, b"", 64, 0, 8),
    ]
    cases = []
    for seed_index, label, bits, start, length in specs:
        seed = seeds[seed_index]
        out = prg.expand(seed, length, bits, label=label, start=start)
        whole = prg.expand(seed, start + length, bits, label=label) if start < 4096 else None
        if whole is not None:
            assert np.array_equal(whole[start:], out)
        name = f"prg_seed{seed_index}_{label.decode() or 'empty'}_b{bits}_start{start}"
        cases.append(
            {
                "name": name,
                "seed": seed.hex(),
                "label": label.decode(),
                "bits": bits,
                "start": start,
                "length": length,
                "key": prg.prg_key(seed, label).hex(),
                "first": ints(out[:16]),
                "sha256": plain_sha256(out.tobytes()),
            }
        )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "PRG(seed) for several seeds, labels and ring sizes (SPEC.md section 7). key = "
            "HKDF-SHA256(ikm=seed, no salt, info='secagg/v1/prg/' || label), 32 bytes; the "
            "keystream is AES-256-CTR under key with a 128-bit big-endian counter starting at 0; "
            "element i is the little-endian uint32 (bits <= 32) or uint64 (bits > 32) at byte "
            "offset i*width, reduced mod 2^bits. Each case lists elements [start, start+length): "
            "the first (up to) 16 as integers, and the plain SHA-256 of all of them encoded "
            "little-endian at the same width."
        ),
        "cases": cases,
    }


# --------------------------------------------------------------------------- shamir.json


def coefficients(secret: bytes, rand: bytes, threshold: int) -> list[int]:
    """a_0 = secret, a_i = int(48-byte chunk i-1, big-endian) mod p, as SPEC.md states."""
    step = shamir.COEFFICIENT_RAND_SIZE
    return [int.from_bytes(secret, "big")] + [
        int.from_bytes(rand[i * step : (i + 1) * step], "big") % P for i in range(threshold - 1)
    ]


def evaluate(coeffs: list[int], x: int) -> int:
    return sum(c * pow(x, i, P) for i, c in enumerate(coeffs)) % P


def shamir_file() -> Json:
    r = rng("shamir")
    specs: list[tuple[str, list[bytes], int, list[int], list[list[int]]]] = [
        ("shamir_t1", [r(32)], 1, [1, 2, 3], [[2], [3]]),
        ("shamir_t2_zero_secret", [bytes(32)], 2, [1, 2, 1 << 20], [[1, 2], [1 << 20, 1]]),
        ("shamir_t3_two_secrets", [r(32), r(32)], 3, [1, 2, 3, 4, 5], [[1, 2, 3], [5, 2, 4]]),
        (
            "shamir_t4_max_secret",
            [b"\xff" * 32],
            4,
            list(range(1, 8)),
            [[1, 2, 3, 4], [4, 5, 6, 7]],
        ),
        ("shamir_t5", [r(32)], 5, [3, 5, 8, 13, 21, 34], [[3, 5, 8, 13, 21], [34, 21, 13, 8, 5]]),
    ]
    cases = []
    for name, secrets, t, xs, subsets in specs:
        rand = r(len(secrets) * shamir.rand_size(t))
        shares = shamir.share(secrets, xs, t, rand)
        coeffs = [
            coefficients(s, rand[k * shamir.rand_size(t) :], t) for k, s in enumerate(secrets)
        ]
        for k in range(len(secrets)):
            assert shares[k] == [evaluate(coeffs[k], x) for x in xs]
        reconstructions = []
        for subset in subsets:
            lagrange = shamir.lagrange_at_zero(tuple(subset))
            values = []
            for k, secret in enumerate(secrets):
                points = [(x, shares[k][xs.index(x)]) for x in subset]
                value = shamir.reconstruct(points)
                assert shamir.secret_bytes(value) == secret
                values.append(secret.hex())
            reconstructions.append(
                {"xs": subset, "lagrange": [field_hex(c) for c in lagrange], "secrets": values}
            )
        cases.append(
            {
                "name": name,
                "secrets": hexs(secrets),
                "threshold": t,
                "xs": xs,
                "rand": rand.hex(),
                "coefficients": [[field_hex(c) for c in cs] for cs in coeffs],
                "shares": [[field_hex(v) for v in row] for row in shares],
                "reconstructions": reconstructions,
            }
        )

    decode: list[Json] = [
        {"name": "decode_share_zero", "share": bytes(33).hex(), "success": True, "value": "0" * 66},
        {
            "name": "decode_share_p_minus_1",
            "share": field_hex(P - 1),
            "success": True,
            "value": field_hex(P - 1),
        },
    ]
    for name, raw in (
        ("decode_share_bad_equal_to_p", (P).to_bytes(33, "big")),
        ("decode_share_bad_p_plus_1", (P + 1).to_bytes(33, "big")),
        ("decode_share_bad_all_ones", b"\xff" * 33),
        ("decode_share_bad_32_bytes", b"\x01" * 32),
        ("decode_share_bad_34_bytes", b"\x00" * 34),
    ):
        try:
            shamir.decode_share(raw)
        except ValueError:
            pass
        else:  # pragma: no cover
            raise AssertionError(name)
        decode.append({"name": name, "share": raw.hex(), "success": False, "error": "ValueError"})

    # Points that reconstruct to a field element with no 32-byte encoding.
    big = shamir.reconstruct([(1, P - 1)])
    assert big >= 1 << 256
    bad_secret = {
        "name": "secret_bytes_bad_out_of_range",
        "points": [{"x": 1, "share": field_hex(P - 1)}],
        "success": False,
        "error": "ValueError",
        "value": field_hex(big),
    }
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Shamir sharing over GF(p), p = 2^256 + 297 (SPEC.md section 8). Polynomial k uses "
            "a_0 = secrets[k] (big-endian) and a_1..a_{t-1} = int(48-byte big-endian chunk) mod "
            "p, taken in order from rand[k*(t-1)*48 : (k+1)*(t-1)*48]. shares[k][j] = "
            "f_k(xs[j]); every field element is 33 bytes big-endian. Each reconstruction lists "
            "the Lagrange coefficients at 0 of its xs and the recovered secrets. decode: a "
            "33-byte share must be < p. secret_bytes: a reconstructed value >= 2^256 is not a "
            "secret."
        ),
        "cases": cases,
        "decode": decode,
        "secret_bytes": [bad_secret],
    }


# --------------------------------------------------------------------------- commit.json


def commitment_input(session_id: bytes, owner: int, holder: int, kind: int, share: int) -> bytes:
    """What a share commitment hashes after its label (SPEC.md section 8.2)."""
    return session_id + struct.pack(">IIB", owner, holder, kind) + shamir.encode_share(share)


def commitment_json(session_id: bytes, owner: int, holder: int, kind: int, share: int) -> Json:
    preimage = commitment_input(session_id, owner, holder, kind, share)
    out = share_commitment(session_id, owner, holder, kind, share)
    assert out == sha256(COMMIT_LABEL, preimage) and len(out) == COMMITMENT_SIZE
    return {
        "session_id": session_id.hex(),
        "owner": owner,
        "holder": holder,
        "kind": KIND(kind).name,
        "share": field_hex(share),
        "input": preimage.hex(),
        "commitment": out.hex(),
    }


def commit_file() -> Json:
    r = rng("commit")
    cfg = make_config(r, 4, 3, 4, 8)
    other = make_config(r, 4, 3, 4, 8)
    sid = cfg.session_id
    share = int.from_bytes(r(48), "big") % P
    specs: list[tuple[str, bytes, int, int, int, int]] = [
        ("commit_key_share_of_0_held_by_1", sid, 0, 1, KIND.KEY, share),
        ("commit_mask_share_of_0_held_by_1", sid, 0, 1, KIND.SELF_MASK, share),
        ("commit_key_share_of_1_held_by_0", sid, 1, 0, KIND.KEY, share),
        ("commit_key_share_of_0_held_by_1_other_session", other.session_id, 0, 1, KIND.KEY, share),
        ("commit_own_mask_share_of_3", sid, 3, 3, KIND.SELF_MASK, int.from_bytes(r(48), "big") % P),
        ("commit_share_zero", sid, 2, 0, KIND.KEY, 0),
        ("commit_share_p_minus_1", sid, 2, 3, KIND.SELF_MASK, P - 1),
    ]
    cases = [
        {"name": name, **commitment_json(session_id, owner, holder, kind, value)}
        for name, session_id, owner, holder, kind, value in specs
    ]
    # Same share, other kind / ids / session: every field of the input changes the commitment.
    assert len({c["commitment"] for c in cases}) == len(cases)

    # The commitment list of one ShareKeys message (SPEC.md 10.3): owner 1 shares (s_1^SK, b_1)
    # with t = 3 among holders 0..3, itself included.
    owner, holders = 1, [0, 1, 2, 3]
    secrets = [r(32), r(32)]
    rand = r(2 * shamir.rand_size(cfg.threshold))
    key_shares, mask_shares = shamir.share(secrets, [v + 1 for v in holders], cfg.threshold, rand)
    entries = [
        (
            v,
            share_commitment(sid, owner, v, KIND.KEY, key_shares[j]),
            share_commitment(sid, owner, v, KIND.SELF_MASK, mask_shares[j]),
        )
        for j, v in enumerate(holders)
    ]
    encoded = struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">I", v) + ck + cm for v, ck, cm in entries
    )
    lists = [
        {
            "name": "share_keys_commitments_of_owner_1",
            "session_id": sid.hex(),
            "owner": owner,
            "threshold": cfg.threshold,
            "secrets": hexs(secrets),
            "rand": rand.hex(),
            "holders": holders,
            "key_shares": [field_hex(v) for v in key_shares],
            "mask_shares": [field_hex(v) for v in mask_shares],
            "commitments": [
                {"holder": v, "c_key": ck.hex(), "c_mask": cm.hex()} for v, ck, cm in entries
            ],
            "encoded": encoded.hex(),
        }
    ]

    # The server's check at Unmasking: the returned share must reproduce the commitment its
    # owner made for (owner, holder, kind). A share that does not drops its responder.
    committed = share_commitment(sid, 0, 1, KIND.KEY, share)
    verify: list[Json] = []
    for name, session_id, o, h, kind, value in (
        ("verify_matching_share", sid, 0, 1, KIND.KEY, share),
        ("verify_bad_share_plus_1", sid, 0, 1, KIND.KEY, (share + 1) % P),
        ("verify_bad_other_kind", sid, 0, 1, KIND.SELF_MASK, share),
        ("verify_bad_other_holder", sid, 0, 2, KIND.KEY, share),
        ("verify_bad_other_owner", sid, 2, 1, KIND.KEY, share),
        ("verify_bad_other_session", other.session_id, 0, 1, KIND.KEY, share),
    ):
        ok = share_commitment(session_id, o, h, kind, value) == committed
        assert ok == (name == "verify_matching_share"), name
        entry: Json = {
            "name": name,
            "commitment": committed.hex(),
            "session_id": session_id.hex(),
            "owner": o,
            "holder": h,
            "kind": KIND(kind).name,
            "share": field_hex(value),
            "success": ok,
        }
        if not ok:
            entry.update(error="Drop", **reason_json(DropReason.BAD_SHARE))
        verify.append(entry)
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Share commitments (SPEC.md section 8.2). commitment = labeled_sha256("
            "'secagg/v1/share-commit', input) with input = session_id || u32be(owner) || "
            "u32be(holder) || u8(kind: KEY 0 = share of s^SK, SELF_MASK 1 = share of b) || "
            "33-byte big-endian share. lists: the commitment list of one ShareKeys message, "
            "u32be(count) || count x (u32be(holder) || c_key || c_mask), from the owner's "
            "secrets (s^SK, b), rand and threshold as in shamir.json, holders at x = id + 1. "
            "verify: the server's check at Unmasking; *_bad_* shares do not reproduce the "
            "commitment and drop the responder with BAD_SHARE."
        ),
        "cases": cases,
        "lists": lists,
        "verify": verify,
    }


# --------------------------------------------------------------------------- aead.json


def aead_file() -> Json:
    r = rng("aead")
    cfg = make_config(r, 4, 3, 4, 8)
    other = make_config(r, 4, 3, 4, 8)
    cases: list[Json] = []
    good = []
    for sender, recipient in ((0, 1), (1, 0), (3, 2)):
        key = r(32)
        key_share = int.from_bytes(r(48), "big") % P
        mask_share = int.from_bytes(r(48), "big") % P
        plaintext = wire.encode_share_plaintext(sender, recipient, key_share, mask_share)
        ad = aead.associated_data(cfg.session_id, sender, recipient)
        ciphertext = aead.seal(key, plaintext, ad)
        good.append((key, sender, recipient, ciphertext))
        cases.append(
            {
                "name": f"seal_{sender}_to_{recipient}",
                "key": key.hex(),
                "nonce": bytes(12).hex(),
                "session_id": cfg.session_id.hex(),
                "sender": sender,
                "recipient": recipient,
                "associated_data": ad.hex(),
                "plaintext": plaintext.hex(),
                "ciphertext": ciphertext.hex(),
                "success": True,
            }
        )
    key, sender, recipient, ciphertext = good[0]
    ad = aead.associated_data(cfg.session_id, sender, recipient)
    bad = [
        ("open_bad_flipped_tag", key, ad, flip(ciphertext, len(ciphertext) - 1)),
        ("open_bad_flipped_ciphertext", key, ad, flip(ciphertext, 0)),
        ("open_bad_truncated", key, ad, ciphertext[:-1]),
        (
            "open_bad_swapped_ids",
            key,
            aead.associated_data(cfg.session_id, recipient, sender),
            ciphertext,
        ),
        (
            "open_bad_other_session",
            key,
            aead.associated_data(other.session_id, sender, recipient),
            ciphertext,
        ),
        ("open_bad_wrong_key", good[1][0], ad, ciphertext),
    ]
    for name, k, a, c in bad:
        try:
            aead.open_(k, c, a)
        except aead.AuthenticationError:
            pass
        else:  # pragma: no cover
            raise AssertionError(name)
        cases.append(
            {
                "name": name,
                "key": k.hex(),
                "nonce": bytes(12).hex(),
                "associated_data": a.hex(),
                "ciphertext": c.hex(),
                "success": False,
                "error": "AuthenticationError",
            }
        )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "AES-256-GCM share ciphertexts (SPEC.md section 6). nonce = 12 zero bytes; "
            "associated_data = 'secagg/v1/share' || session_id || u32be(sender) || "
            "u32be(recipient); plaintext = u32be(sender) || u32be(recipient) || 33-byte share of "
            "s^SK || 33-byte share of b; ciphertext = AES-GCM output || 16-byte tag. *_bad_* "
            "cases must fail to authenticate."
        ),
        "cases": cases,
    }


# --------------------------------------------------------------------------- wire.json


def decoded_json(msg: Any) -> Json:
    """The language-neutral fields of a decoded message (what wire-schema.json names)."""
    if isinstance(msg, wire.AdvertiseKeys):
        return {"c_public": msg.c_public.hex(), "s_public": msg.s_public.hex()}
    if isinstance(msg, wire.KeyList):
        return {
            "entries": [
                {"client": e.client, "c_public": e.c_public.hex(), "s_public": e.s_public.hex()}
                for e in msg.entries
            ]
        }
    if isinstance(msg, wire.ShareKeys):
        return {
            "prompt": msg.prompt.hex(),
            "ciphertexts": [{"peer": peer, "ciphertext": ct.hex()} for peer, ct in msg.ciphertexts],
            "commitments": [
                {"holder": v, "c_key": ck.hex(), "c_mask": cm.hex()}
                for v, ck, cm in msg.commitments
            ],
        }
    if isinstance(msg, wire.ShareForward):
        return {
            "ciphertexts": [{"peer": peer, "ciphertext": ct.hex()} for peer, ct in msg.ciphertexts]
        }
    if isinstance(msg, wire.MaskedInput):
        return {"prompt": msg.prompt.hex(), "vector": ints(msg.vector)}
    if isinstance(msg, wire.UnmaskRequest):
        return {"survivors": list(msg.survivors)}
    if isinstance(msg, wire.UnmaskResponse):
        return {
            "prompt": msg.prompt.hex(),
            "shares": [
                {"peer": peer, "kind": kind.name, "share": field_hex(value)}
                for peer, kind, value in msg.shares
            ],
        }
    raise TypeError(type(msg).__name__)


def decode(type_name: str, data: bytes, cfg: RoundConfig, sender: int, recipient: int) -> Any:
    """Decode ``data`` as the message type ``type_name`` arriving on channel sender->recipient."""
    if type_name == "ADVERTISE_KEYS":
        return wire.decode_advertise_keys(data, cfg, sender)
    if type_name == "KEY_LIST":
        return wire.decode_key_list(data, cfg, recipient)
    if type_name == "SHARE_KEYS":
        return wire.decode_share_keys(data, cfg, sender)
    if type_name == "SHARE_FORWARD":
        return wire.decode_share_forward(data, cfg, recipient)
    if type_name == "MASKED_INPUT":
        return wire.decode_masked_input(data, cfg, sender)
    if type_name == "UNMASK_REQUEST":
        return wire.decode_unmask_request(data, cfg, recipient)
    if type_name == "UNMASK_RESPONSE":
        return wire.decode_unmask_response(data, cfg, sender)
    raise ValueError(type_name)


def wire_file() -> Json:
    r = rng("wire")
    small = make_config(r, 4, 3, 4, 8)
    wide = make_config(r, 3, 2, 3, 40)
    full = make_config(r, 2, 1, 2, 32)
    configs = {"small": small, "wide": wide, "full32": full}
    other_nonce = make_config(r, 4, 3, 4, 8)
    same_nonce_other_t = RoundConfig(
        num_clients=4, threshold=2, dim=4, bits=8, session_nonce=small.session_nonce
    )
    keys = [r(32) for _ in range(8)]
    cts = [r(wire.SHARE_CIPHERTEXT_SIZE) for _ in range(4)]

    # One well-formed message of each type: (name, config, type, sender, recipient, bytes).
    adv = wire.encode_advertise_keys(small, 2, wire.AdvertiseKeys(keys[0], keys[1]))
    entries = tuple(wire.KeyEntry(c, keys[2 * i], keys[2 * i + 1]) for i, c in enumerate((0, 1, 3)))
    key_list = wire.encode_key_list(small, 1, wire.KeyList(entries))
    # Every reply starts with the digest of the prompt it answers (SPEC.md 5.7). The prompts the
    # replies below answer are cases of their own (a reply's "echoes" names it), built from
    # values drawn above, so the random values of every other case stay what they were.
    everyone = tuple(wire.KeyEntry(c, keys[2 * c], keys[2 * c + 1]) for c in range(4))
    key_list_0 = wire.encode_key_list(small, 0, wire.KeyList(everyone))
    forward_1 = wire.encode_share_forward(
        small, 1, wire.ShareForward(((0, cts[0]), (2, cts[3]), (3, cts[2])))
    )
    forward_wide = wire.encode_share_forward(wide, 2, wire.ShareForward(((0, cts[1]), (1, cts[2]))))
    forward_full = wire.encode_share_forward(full, 0, wire.ShareForward(((1, cts[3]),)))
    request_3 = wire.encode_unmask_request(small, 3, wire.UnmaskRequest((0, 1, 3)))
    request_1 = wire.encode_unmask_request(small, 1, wire.UnmaskRequest((0, 1, 3)))
    echo = wire.prompt_digest
    # Commitments are opaque 32-byte strings to a decoder; their own stream keeps every other
    # value of this file what it was before ShareKeys carried them.
    rc = rng("wire/commitments")
    commitments = tuple((v, rc(32), rc(32)) for v in (0, 1, 2, 3))
    share_keys = wire.encode_share_keys(
        small,
        0,
        wire.ShareKeys(((1, cts[0]), (2, cts[1]), (3, cts[2])), commitments, echo(key_list_0)),
    )
    # Decodes: that the holders are exactly {sender} and the recipients is the server's content
    # rule (SPEC.md 10.3), which needs U1; round.json has the rounds where it fails.
    share_keys_other_holders = wire.encode_share_keys(
        small,
        0,
        wire.ShareKeys(((1, cts[0]), (2, cts[1]), (3, cts[2])), commitments[1:], echo(key_list_0)),
    )
    forward = wire.encode_share_forward(small, 3, wire.ShareForward(((0, cts[3]), (2, cts[1]))))
    y_small = np.array([0, 1, 200, 255], dtype=np.uint32)
    masked = wire.encode_masked_input(small, 1, wire.MaskedInput(y_small, echo(forward_1)))
    # Decodes too: a decoder does not compare the echo with anything; the server does (SPEC.md
    # 5.7), and would drop client 1 for this one.
    masked_other_prompt = wire.encode_masked_input(
        small, 1, wire.MaskedInput(y_small, echo(forward))
    )
    masked_wide = wire.encode_masked_input(
        wide,
        2,
        wire.MaskedInput(np.array([0, (1 << 40) - 1, 12345], dtype=np.uint64), echo(forward_wide)),
    )
    masked_full = wire.encode_masked_input(
        full,
        0,
        wire.MaskedInput(np.array([0xFFFFFFFF, 0], dtype=np.uint32), echo(forward_full)),
    )
    request = wire.encode_unmask_request(small, 0, wire.UnmaskRequest((0, 1, 3)))
    response = wire.encode_unmask_response(
        small,
        3,
        wire.UnmaskResponse(
            (
                (0, wire.ShareKind.SELF_MASK, 5),
                (2, wire.ShareKind.KEY, P - 1),
                (3, wire.ShareKind.SELF_MASK, int.from_bytes(r(32), "big")),
            ),
            echo(request_3),
        ),
    )
    empty_response = wire.encode_unmask_response(small, 1, wire.UnmaskResponse((), echo(request_1)))
    good: list[tuple[str, str, str, int, int, bytes]] = [
        ("advertise_keys", "small", "ADVERTISE_KEYS", 2, SERVER, adv),
        ("key_list", "small", "KEY_LIST", SERVER, 1, key_list),
        ("key_list_to_0", "small", "KEY_LIST", SERVER, 0, key_list_0),
        ("share_keys", "small", "SHARE_KEYS", 0, SERVER, share_keys),
        (
            "share_keys_commitments_omit_sender",
            "small",
            "SHARE_KEYS",
            0,
            SERVER,
            share_keys_other_holders,
        ),
        ("share_forward", "small", "SHARE_FORWARD", SERVER, 3, forward),
        ("share_forward_to_1", "small", "SHARE_FORWARD", SERVER, 1, forward_1),
        ("share_forward_b40_to_2", "wide", "SHARE_FORWARD", SERVER, 2, forward_wide),
        ("share_forward_b32_to_0", "full32", "SHARE_FORWARD", SERVER, 0, forward_full),
        ("masked_input_b8", "small", "MASKED_INPUT", 1, SERVER, masked),
        (
            "masked_input_b8_prompt_of_other_client",
            "small",
            "MASKED_INPUT",
            1,
            SERVER,
            masked_other_prompt,
        ),
        ("masked_input_b40", "wide", "MASKED_INPUT", 2, SERVER, masked_wide),
        ("masked_input_b32_all_ones", "full32", "MASKED_INPUT", 0, SERVER, masked_full),
        ("unmask_request", "small", "UNMASK_REQUEST", SERVER, 0, request),
        ("unmask_request_to_3", "small", "UNMASK_REQUEST", SERVER, 3, request_3),
        ("unmask_request_to_1", "small", "UNMASK_REQUEST", SERVER, 1, request_1),
        ("unmask_response", "small", "UNMASK_RESPONSE", 3, SERVER, response),
        ("unmask_response_empty", "small", "UNMASK_RESPONSE", 1, SERVER, empty_response),
    ]
    # reply case -> the prompt case whose digest its prompt field carries.
    echoes = {
        "share_keys": "key_list_to_0",
        "share_keys_commitments_omit_sender": "key_list_to_0",
        "masked_input_b8": "share_forward_to_1",
        "masked_input_b8_prompt_of_other_client": "share_forward",
        "masked_input_b40": "share_forward_b40_to_2",
        "masked_input_b32_all_ones": "share_forward_b32_to_0",
        "unmask_response": "unmask_request_to_3",
        "unmask_response_empty": "unmask_request_to_1",
    }

    def body_patch(data: bytes, offset: int, new: bytes) -> bytes:
        """Replace body bytes at ``offset`` and recompute the digest."""
        start = wire.HEADER_SIZE + offset
        return redigest(data[:start] + new + data[start + len(new) :])

    def with_body(data: bytes, body: bytes) -> bytes:
        return redigest(data[: wire.HEADER_SIZE] + body + bytes(wire.DIGEST_SIZE))

    too_long_body = bytes(wire.max_message_size(small) - wire.HEADER_SIZE - wire.DIGEST_SIZE + 1)
    u32 = struct.Struct(">I").pack
    kl_body = key_list[wire.HEADER_SIZE : -wire.DIGEST_SIZE]

    def kl_ids(ids: Sequence[int]) -> bytes:
        body = u32(len(ids)) + b"".join(u32(c) + bytes(64) for c in ids)
        return with_body(key_list, body)

    # A reply body is prompt (32) || the rest; the edits below keep the prompt and change the rest.
    pr = wire.DIGEST_SIZE
    sk_body = share_keys[wire.HEADER_SIZE : -wire.DIGEST_SIZE]
    sk_prompt, sk_lists = sk_body[:pr], sk_body[pr:]
    mi_body = masked[wire.HEADER_SIZE : -wire.DIGEST_SIZE]
    resp_body = response[wire.HEADER_SIZE : -wire.DIGEST_SIZE]
    resp_prompt, resp_list = resp_body[:pr], resp_body[pr:]
    good_bytes = {name: data for name, _, _, _, _, data in good}
    cases: list[Json] = []

    def case(name: str, cfg: str, kind: str, sender: int, recipient: int, data: bytes) -> Json:
        entry: Json = {"name": name, "config": cfg, "type": kind, "sender": sender}
        entry.update(recipient=recipient, message=data.hex())
        cases.append(entry)
        return entry

    for name, cfg_name, type_name, sender, recipient, data in good:
        msg = decode(type_name, data, configs[cfg_name], sender, recipient)
        entry = case(name, cfg_name, type_name, sender, recipient, data)
        entry.update(success=True, decoded=decoded_json(msg))
        if name in echoes:
            # The prompt field is the last 32 bytes (the digest) of the named prompt.
            assert msg.prompt == good_bytes[echoes[name]][-wire.DIGEST_SIZE :]
            entry["echoes"] = echoes[name]
        if data is share_keys_other_holders:
            entry["note"] = (
                "decodes, but the server drops the sender with INVALID_CONTENT: the commitment "
                "holders must be exactly {sender} and the ciphertext recipients"
            )
        if data is masked_other_prompt:
            entry["note"] = (
                "decodes (a decoder does not check the echo), but the server drops the sender "
                "with PROMPT_MISMATCH: it echoes the SHARE_FORWARD the server sent client 3, not "
                "the one it sent client 1 (share_forward_to_1)"
            )

    def bad(
        name: str, kind: str, sender: int, recipient: int, data: bytes, reason: DropReason, cfg: str
    ) -> None:
        try:
            decode(kind, data, configs[cfg], sender, recipient)
        except DecodeError as exc:
            assert exc.reason is reason, (name, exc)
        else:  # pragma: no cover - never record an expectation the library does not meet
            raise AssertionError(name)
        entry = case(name, cfg, kind, sender, recipient, data)
        entry.update(success=False, error="DecodeError", **reason_json(reason))

    failed = DropReason.DECODE_FAILED

    def up(name: str, kind: str, sender: int, data: bytes, reason: DropReason = failed) -> None:
        """A client -> server message of the "small" config that must be rejected."""
        bad(name, kind, sender, SERVER, data, reason, "small")

    def down(
        name: str, kind: str, recipient: int, data: bytes, reason: DropReason = failed
    ) -> None:
        """A server -> client message of the "small" config that must be rejected."""
        bad(name, kind, SERVER, recipient, data, reason, "small")

    adv_keys = wire.AdvertiseKeys(keys[0], keys[1])
    ak, kl, mi = "ADVERTISE_KEYS", "KEY_LIST", "MASKED_INPUT"
    # The envelope, checked in the order SPEC.md gives.
    up("envelope_bad_empty", ak, 2, b"")
    up("envelope_bad_too_short", ak, 2, adv[:79])
    up("envelope_bad_too_long", ak, 2, with_body(adv, too_long_body))
    up("envelope_bad_magic", ak, 2, redigest(b"SAGH" + adv[4:]))
    up("envelope_bad_version", ak, 2, redigest(adv[:4] + b"\x02" + adv[5:]))
    up("envelope_bad_flags", ak, 2, redigest(adv[:7] + b"\x01" + adv[8:]))
    up("envelope_bad_truncated", ak, 2, adv[:-1])
    up("envelope_bad_flipped_digest", ak, 2, flip(adv, len(adv) - 1))
    up("envelope_bad_flipped_body", ak, 2, flip(adv, 60))
    up("envelope_bad_flipped_header", ak, 2, flip(adv, 20))
    wrong_session = DropReason.WRONG_SESSION
    up(
        "envelope_bad_other_session",
        ak,
        2,
        wire.encode_advertise_keys(other_nonce, 2, adv_keys),
        wrong_session,
    )
    up(
        "envelope_bad_same_nonce_other_threshold",
        ak,
        2,
        wire.encode_advertise_keys(same_nonce_other_t, 2, adv_keys),
        wrong_session,
    )
    unexpected = DropReason.UNEXPECTED_MESSAGE
    up("envelope_bad_wrong_type", ak, 0, share_keys, unexpected)
    up(
        "envelope_bad_reserved_type_8",
        mi,
        1,
        redigest(masked[:5] + b"\x08" + masked[6:]),
        unexpected,
    )
    up(
        "envelope_bad_unknown_type_0",
        mi,
        1,
        redigest(masked[:5] + b"\x00" + masked[6:]),
        unexpected,
    )
    misaddressed = DropReason.MISADDRESSED
    up("envelope_bad_misaddressed_sender", ak, 1, adv, misaddressed)
    down("envelope_bad_misaddressed_recipient", kl, 0, key_list, misaddressed)
    up(
        "envelope_bad_recipient_not_server",
        ak,
        2,
        redigest(adv[:44] + u32(3) + adv[48:]),
        misaddressed,
    )
    # Bodies.
    up("advertise_keys_bad_body_63_bytes", ak, 2, with_body(adv, bytes(63)))
    up("advertise_keys_bad_body_65_bytes", ak, 2, with_body(adv, bytes(65)))
    down("key_list_bad_empty_body", kl, 1, with_body(key_list, b""))
    down("key_list_bad_count_exceeds_n", kl, 1, kl_ids([0, 1, 2, 3, 4]))
    down("key_list_bad_count_above_entries", kl, 1, with_body(key_list, u32(4) + kl_body[4:]))
    down("key_list_bad_count_below_entries", kl, 1, with_body(key_list, u32(2) + kl_body[4:]))
    down("key_list_bad_ids_not_increasing", kl, 1, kl_ids([0, 3, 1]))
    down("key_list_bad_duplicate_id", kl, 1, kl_ids([1, 1]))
    down("key_list_bad_id_out_of_range", kl, 1, kl_ids([0, 4]))
    down("key_list_bad_id_is_server", kl, 1, kl_ids([0, SERVER]))
    swapped = sk_prompt + sk_lists[:4] + sk_lists[98:192] + sk_lists[4:98] + sk_lists[192:]
    up("share_keys_bad_ids_not_increasing", "SHARE_KEYS", 0, with_body(share_keys, swapped))
    short_ct = with_body(share_keys, sk_prompt + u32(1) + sk_lists[4:97])
    up("share_keys_bad_short_ciphertext", "SHARE_KEYS", 0, short_ct)
    # The commitment list after the ciphertexts (the first list's count says where it starts).
    sk, split = "SHARE_KEYS", pr + 4 + 3 * 94
    cts_part, commit_entries = sk_body[:split], sk_body[split + 4 :]
    assert len(commit_entries) == 4 * 68 and sk_body[split : split + 4] == u32(4)
    entry_of = [commit_entries[68 * i : 68 * (i + 1)] for i in range(4)]

    def commit_list(count: int, items: Sequence[bytes], extra: bytes = b"") -> bytes:
        return with_body(share_keys, cts_part + u32(count) + b"".join(items) + extra)

    def holder(i: int, v: int) -> bytes:
        return u32(v) + entry_of[i][4:]

    up("share_keys_bad_no_commitment_list", sk, 0, with_body(share_keys, cts_part))
    up("share_keys_bad_commitment_count_above_entries", sk, 0, commit_list(4, entry_of[:3]))
    up("share_keys_bad_commitment_count_below_entries", sk, 0, commit_list(3, entry_of))
    five = [*entry_of, holder(3, 4)]
    up("share_keys_bad_commitment_count_exceeds_n", sk, 0, commit_list(5, five))
    up("share_keys_bad_commitment_trailing_byte", sk, 0, commit_list(4, entry_of, b"\x00"))
    swapped_holders = [entry_of[0], entry_of[2], entry_of[1], entry_of[3]]
    up("share_keys_bad_commitment_holders_not_increasing", sk, 0, commit_list(4, swapped_holders))
    duplicate = [entry_of[0], entry_of[1], holder(2, 1), entry_of[3]]
    up("share_keys_bad_commitment_duplicate_holder", sk, 0, commit_list(4, duplicate))
    far_holder = [*entry_of[:3], holder(3, 4)]
    up("share_keys_bad_commitment_holder_out_of_range", sk, 0, commit_list(4, far_holder))
    up(
        "share_keys_bad_ciphertext_count_above_entries",
        sk,
        0,
        with_body(share_keys, sk_prompt + u32(4) + sk_lists[4:]),
    )
    # The prompt echo: a decoder only needs its 32 bytes to be there (SPEC.md 5.7). A body in
    # the layout without the echo is read as one whose first 32 bytes are the echo.
    up("share_keys_bad_no_prompt", sk, 0, with_body(share_keys, sk_lists))
    up("share_keys_bad_prompt_only", sk, 0, with_body(share_keys, sk_prompt))
    far_peer = wire.ShareForward(((0, cts[0]), (9, cts[1])))
    far = wire.encode_share_forward(small, 3, far_peer)
    down("share_forward_bad_peer_out_of_range", "SHARE_FORWARD", 3, far)
    invalid = DropReason.INVALID_CONTENT
    up(
        "masked_input_bad_element_out_of_range",
        mi,
        1,
        body_patch(masked, pr + 4, (256).to_bytes(4, "little")),
        invalid,
    )
    up("masked_input_bad_short", mi, 1, with_body(masked, mi_body[:pr] + bytes(12)))
    up("masked_input_bad_long", mi, 1, with_body(masked, mi_body[:pr] + bytes(20)))
    up("masked_input_bad_no_prompt", mi, 1, with_body(masked, mi_body[pr:]))
    up("masked_input_bad_prompt_only", mi, 1, with_body(masked, mi_body[:pr]))
    big = body_patch(masked_wide, pr + 16, (1 << 40).to_bytes(8, "little"))
    bad("masked_input_bad_element_out_of_range_b40", mi, 2, SERVER, big, invalid, "wide")
    wide_prompt = masked_wide[wire.HEADER_SIZE : wire.HEADER_SIZE + pr]
    narrow = with_body(masked_wide, wide_prompt + bytes(12))
    bad("masked_input_bad_b40_with_4_byte_elements", mi, 2, SERVER, narrow, failed, "wide")
    ur = "UNMASK_REQUEST"
    down(
        "unmask_request_bad_ids_not_increasing",
        ur,
        0,
        with_body(request, u32(3) + u32(1) + u32(0) + u32(3)),
    )
    down(
        "unmask_request_bad_count_exceeds_n",
        ur,
        0,
        with_body(request, u32(5) + b"".join(u32(i) for i in range(5))),
    )
    down("unmask_request_bad_odd_length", ur, 0, with_body(request, u32(1) + u32(0) + b"\x00"))
    us = "UNMASK_RESPONSE"
    up("unmask_response_bad_unknown_kind", us, 3, body_patch(response, pr + 8, b"\x02"))
    up(
        "unmask_response_bad_share_equal_to_p",
        us,
        3,
        body_patch(response, pr + 9, P.to_bytes(33, "big")),
    )
    far_share = body_patch(response, pr + 4 + 2 * 38, u32(4))
    up("unmask_response_bad_peer_out_of_range", us, 3, far_share)
    up(
        "unmask_response_bad_duplicate_peer",
        us,
        3,
        with_body(response, resp_prompt + u32(2) + resp_list[4:42] * 2),
    )
    up("unmask_response_bad_no_prompt", us, 3, with_body(response, resp_list))
    up("unmask_response_bad_short_prompt", us, 1, with_body(empty_response, resp_prompt[:31]))

    # The plaintext inside a share ciphertext (decoded by the recipient after AES-GCM).
    key_share = int.from_bytes(r(32), "big")
    mask_share = P - 1
    plaintext = wire.encode_share_plaintext(2, 0, key_share, mask_share)
    plaintexts: list[Json] = [
        {
            "name": "share_plaintext",
            "sender": 2,
            "recipient": 0,
            "plaintext": plaintext.hex(),
            "success": True,
            "key_share": field_hex(key_share),
            "mask_share": field_hex(mask_share),
        }
    ]
    for name, data, s, v in (
        ("share_plaintext_bad_other_sender", plaintext, 1, 0),
        ("share_plaintext_bad_swapped_ids", plaintext, 0, 2),
        ("share_plaintext_bad_short", plaintext[:-1], 2, 0),
        (
            "share_plaintext_bad_key_share_equal_to_p",
            plaintext[:8] + P.to_bytes(33, "big") + plaintext[41:],
            2,
            0,
        ),
        ("share_plaintext_bad_mask_share_all_ones", plaintext[:41] + b"\xff" * 33, 2, 0),
    ):
        try:
            wire.decode_share_plaintext(data, s, v)
        except DecodeError as exc:
            assert exc.reason is DropReason.BAD_CIPHERTEXT
        else:  # pragma: no cover
            raise AssertionError(name)
        plaintexts.append(
            {
                "name": name,
                "sender": s,
                "recipient": v,
                "plaintext": data.hex(),
                "success": False,
                "error": "DecodeError",
                **reason_json(DropReason.BAD_CIPHERTEXT),
            }
        )
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Message encodings and the decode rules of SPEC.md sections 4 and 5. Each case is "
            "decoded as message type `type` by a party that expects it on the channel "
            "sender -> recipient (4294967295 is the server) under the named config. Good cases "
            "list the decoded fields (ring elements as integers, shares as 33-byte hex); "
            "*_bad_* cases must be rejected with the DropReason given. Every client reply to a "
            "server prompt (SHARE_KEYS, MASKED_INPUT, UNMASK_RESPONSE) starts its body with "
            "prompt, the 32-byte digest field (last 32 bytes) of the prompt envelope it answers; "
            "a reply's 'echoes' names the case whose digest it carries. A decoder only requires "
            "the 32 bytes to be present; comparing them with what was sent is the server's check "
            "(PROMPT_MISMATCH, a case with a note shows this; round.json has the rounds). A "
            "SHARE_KEYS body continues with the ciphertext list and then the commitment list "
            "(holder, c_key, c_mask); a decoder treats commitments as opaque 32-byte strings and "
            "does not compare the holders with the recipients (a case with a note shows this; "
            "the server's content rule is in round.json). share_plaintexts are decrypted "
            "ShareKeys plaintexts checked against the expected (sender, recipient)."
        ),
        "configs": {name: config_json(cfg) for name, cfg in configs.items()},
        "cases": cases,
        "share_plaintexts": plaintexts,
    }


# --------------------------------------------------------------------------- round.json

Intercept = Callable[[str, int, int, bytes], bytes | None]
"""``(round, sender, recipient, data) -> bytes to deliver | None to lose it``."""


def run_round(
    cfg: RoundConfig,
    inputs: list[list[int]],
    rands: list[bytes],
    silent_from: dict[int, str],
    intercept: Intercept | None = None,
) -> Json:
    """Drive real clients and a server through one round and record everything on the wire.

    Order of events: in each round the clients act in id order (a client acts when it is not
    silent, has not aborted, and - after the first round - received a prompt), then the server
    closes the round and its prompts for the next round go out in recipient order.
    """
    dtype = prg.ring_dtype(cfg.bits)
    clients = [
        Client(cfg, u, np.array(inputs[u], dtype=dtype), rands[u]) for u in range(len(rands))
    ]
    server = Server(cfg)
    transcript: list[Json] = []
    prompts: dict[int, bytes] = {}
    client_aborts: list[Json] = []
    aborted: set[int] = set()
    abort: Json | None = None

    def record(name: str, sender: int, recipient: int, data: bytes) -> bytes | None:
        delivered = data if intercept is None else intercept(name, sender, recipient, data)
        event: Json = {
            "step": "message",
            "round": name,
            "type": message_type(data),
            "sender": sender,
            "recipient": recipient,
            "message": data.hex(),
        }
        if delivered != data:
            event["delivered"] = None if delivered is None else delivered.hex()
        transcript.append(event)
        return delivered

    for r, name in enumerate(ROUNDS):
        for u, client in enumerate(clients):
            if u in aborted or (u in silent_from and ROUNDS.index(silent_from[u]) <= r):
                continue
            if r > 0 and u not in prompts:
                continue
            try:
                data = client.start() if r == 0 else client.handle(prompts.pop(u))
            except ClientAbort as exc:
                aborted.add(u)
                client_aborts.append({"client": u, "round": name, **reason_json(exc.reason)})
                transcript.append(
                    {"step": "client_abort", "round": name, "client": u, **reason_json(exc.reason)}
                )
                continue
            delivered = record(name, u, SERVER, data)
            if delivered is not None:
                server.receive(u, delivered)
        transcript.append({"step": "advance", "round": name})
        try:
            outgoing = server.advance()
        except ProtocolAbort as exc:
            abort = {"round": name, **reason_json(exc.reason)}
            transcript.append({"step": "server_abort", "round": name, **reason_json(exc.reason)})
            break
        prompts = {}
        for v, data in outgoing:
            delivered = record(ROUNDS[r + 1], SERVER, v, data)
            if delivered is not None:
                prompts[v] = delivered

    result: Json | None = None
    if server.result is not None:
        survivors = list(server.result.survivors)
        total = np.zeros(cfg.dim, dtype=object)
        for u in survivors:
            total = total + np.array(inputs[u], dtype=object)
        assert ints(total % cfg.modulus) == ints(server.result.vector), "wrong aggregate"
        result = {
            "survivors": survivors,
            "responders": list(server.result.responders),
            "aggregate": ints(server.result.vector),
        }
    return {
        "transcript": transcript,
        "drops": [
            {"client": d.client, "phase": d.phase.value, **reason_json(d.reason)}
            for d in server.drops
        ],
        "client_aborts": client_aborts,
        "result": result,
        "abort": abort,
    }


def round_setup(
    r: Drbg, n: int, t: int, m: int, b: int
) -> tuple[RoundConfig, list[list[int]], list[bytes]]:
    cfg = make_config(r, n, t, m, b)
    inputs = [ring_vector(r, m, b) for _ in range(n)]
    rands = [r(rand_size(cfg)) for _ in range(n)]
    return cfg, inputs, rands


def round_case(
    name: str,
    cfg: RoundConfig,
    inputs: list[list[int]],
    rands: list[bytes],
    silent_from: dict[int, str],
    intercept: Intercept | None = None,
) -> Json:
    outcome = run_round(cfg, inputs, rands, silent_from, intercept)
    return {
        "name": name,
        "config": config_json(cfg),
        "clients": [
            {"id": u, "input": inputs[u], "rand": rands[u].hex()} for u in range(len(rands))
        ],
        "silent_from": [{"client": u, "round": silent_from[u]} for u in sorted(silent_from)],
        **outcome,
    }


def client_shares(rand: bytes, holders: Sequence[int], t: int) -> list[list[int]]:
    """Client u's Shamir shares [of s_u^SK, of b_u] for ``holders``, from its randomness
    ``rand`` (SPEC.md 9): the polynomials that ShareKeys distributes."""
    return shamir.share([rand[32:64], rand[64:96]], [v + 1 for v in holders], t, rand[96:])


def share_channel(
    sid: bytes, c_u: KeyPair, c_v_public: bytes, u: int, v: int
) -> tuple[bytes, bytes, bytes]:
    """(KA.agree(c_u^SK, c_v^PK), the AES-GCM key k_{u->v}, the associated data) of e_{u,v}."""
    shared = c_u.agree(c_v_public)
    key = kdf.share_encryption_key(shared, session_id=sid, sender=u, recipient=v)
    return shared, key, aead.associated_data(sid, u, v)


def messages_of(case: Json, type_name: str) -> dict[tuple[int, int], bytes]:
    """(sender, recipient) -> delivered bytes of every message of one type in a transcript."""
    out = {}
    for ev in case["transcript"]:
        if ev["step"] == "message" and ev["type"] == type_name:
            delivered = ev.get("delivered", ev["message"])
            if delivered is not None:
                out[(ev["sender"], ev["recipient"])] = bytes.fromhex(delivered)
    return out


def intermediates(
    case: Json, cfg: RoundConfig, inputs: list[list[int]], rands: list[bytes]
) -> Json:
    """Recompute a completed honest round from the primitives, as SPEC.md describes it, and
    assert that every value matches the recorded wire bytes."""
    t, bits = cfg.threshold, cfg.bits
    mod = cfg.modulus
    sid = cfg.session_id
    c_pairs = [KeyPair.from_secret(rand[0:32]) for rand in rands]
    s_pairs = [KeyPair.from_secret(rand[32:64]) for rand in rands]
    adverts = messages_of(case, "ADVERTISE_KEYS")
    key_lists = messages_of(case, "KEY_LIST")
    share_keys = messages_of(case, "SHARE_KEYS")
    masked = messages_of(case, "MASKED_INPUT")
    responses = messages_of(case, "UNMASK_RESPONSE")
    # Every reply starts with the digest of the prompt it answers (SPEC.md 5.7).
    for prompts, replies, reply_type in (
        (key_lists, share_keys, "SHARE_KEYS"),
        (messages_of(case, "SHARE_FORWARD"), masked, "MASKED_INPUT"),
        (messages_of(case, "UNMASK_REQUEST"), responses, "UNMASK_RESPONSE"),
    ):
        for (u, _), data in replies.items():
            echoed = decode(reply_type, data, cfg, u, SERVER).prompt
            assert echoed == prompts[(SERVER, u)][-wire.DIGEST_SIZE :]
    u1 = sorted(v for (_, v) in key_lists)
    u2 = sorted(u for (u, _) in share_keys)
    result = case["result"]
    u3 = result["survivors"]
    u4 = result["responders"]
    assert sorted(u for (u, _) in masked) == u3

    clients: list[Json] = []
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
        assert adverts[(u, SERVER)][wire.HEADER_SIZE : -wire.DIGEST_SIZE] == (
            c_pairs[u].public + s_pairs[u].public
        )
        if u in u1:
            shares = client_shares(rand, u1, t)
            entry["share_holders"] = u1
            entry["key_shares"] = [field_hex(v) for v in shares[0]]
            entry["mask_shares"] = [field_hex(v) for v in shares[1]]
            # C(owner u, holder v, kind, share), in the order of share_holders.
            entry["key_commitments"] = [
                share_commitment(sid, u, v, KIND.KEY, shares[0][j]).hex() for j, v in enumerate(u1)
            ]
            entry["mask_commitments"] = [
                share_commitment(sid, u, v, KIND.SELF_MASK, shares[1][j]).hex()
                for j, v in enumerate(u1)
            ]
        clients.append(entry)
    by_id = {entry["id"]: entry for entry in clients}

    ciphertexts: list[Json] = []
    for u in u2:
        sent = wire.decode_share_keys(share_keys[(u, SERVER)], cfg, u)
        shares = client_shares(rands[u], u1, t)
        expected = []
        for j, v in enumerate(u1):
            if v == u:
                continue
            shared, key, ad = share_channel(sid, c_pairs[u], c_pairs[v].public, u, v)
            plaintext = wire.encode_share_plaintext(u, v, shares[0][j], shares[1][j])
            ct = aead.seal(key, plaintext, ad)
            expected.append((v, ct))
            ciphertexts.append(
                {
                    "sender": u,
                    "recipient": v,
                    "c_shared_secret": shared.hex(),
                    "key": key.hex(),
                    "associated_data": ad.hex(),
                    "plaintext": plaintext.hex(),
                    "ciphertext": ct.hex(),
                }
            )
        assert tuple(expected) == sent.ciphertexts, "ShareKeys ciphertexts differ from the spec"
        listed = zip(u1, by_id[u]["key_commitments"], by_id[u]["mask_commitments"], strict=True)
        assert list(listed) == [(v, ck.hex(), cm.hex()) for v, ck, cm in sent.commitments]

    pair_masks: list[Json] = []
    pair_vectors: dict[tuple[int, int], np.ndarray[Any, Any]] = {}
    for i, u in enumerate(u2):
        for v in u2[i + 1 :]:
            shared = s_pairs[u].agree(s_pairs[v].public)
            seed = kdf.pair_mask_seed(shared, session_id=sid, u=u, v=v)
            vector = prg.expand(seed, cfg.dim, bits, label=prg.LABEL_PAIR_MASK)
            pair_vectors[(u, v)] = vector.astype(object)
            pair_masks.append(
                {
                    "u": u,
                    "v": v,
                    "s_shared_secret": shared.hex(),
                    "seed": seed.hex(),
                    "mask": ints(vector),
                }
            )

    def pair(u: int, v: int) -> Any:
        return pair_vectors[(min(u, v), max(u, v))]

    self_masks = {
        u: prg.expand(rands[u][64:96], cfg.dim, bits, label=prg.LABEL_SELF_MASK).astype(object)
        for u in u2
    }
    masked_sum = np.zeros(cfg.dim, dtype=object)
    for entry in clients:
        u = entry["id"]
        if u not in u3:
            continue
        y = np.array(inputs[u], dtype=object) + self_masks[u]
        for v in u2:
            if v != u:
                y = y + (pair(u, v) if u < v else -pair(u, v))
        y = y % mod
        assert ints(y) == ints(wire.decode_masked_input(masked[(u, SERVER)], cfg, u).vector)
        entry["self_mask"] = ints(self_masks[u])
        entry["masked_input"] = ints(y)
        masked_sum = masked_sum + y

    # The server: t lowest-id holders of each needed secret, from the UnmaskResponse messages.
    book: dict[tuple[int, str], dict[int, int]] = {}
    for (v, _), data in responses.items():
        for peer, kind, value in wire.decode_unmask_response(data, cfg, v).shares:
            # Every returned share reproduces the commitment its owner made for holder v.
            column = "key_commitments" if kind is KIND.KEY else "mask_commitments"
            committed = by_id[peer][column][u1.index(v)]
            assert share_commitment(sid, peer, v, kind, value).hex() == committed
            book.setdefault((peer, kind.name), {})[v] = value
    recovered: list[Json] = []
    unmasked = masked_sum.copy()
    for u in u2:
        wanted = "SELF_MASK" if u in u3 else "KEY"
        held = book[(u, wanted)]
        holders = sorted(held)[:t]
        secret = shamir.secret_bytes(shamir.reconstruct([(h + 1, held[h]) for h in holders]))
        recovered.append({"client": u, "kind": wanted, "holders": holders, "secret": secret.hex()})
        if wanted == "SELF_MASK":
            assert secret == rands[u][64:96]
            unmasked = unmasked - self_masks[u]
        else:
            assert secret == rands[u][32:64]
            for v in u3:
                unmasked = unmasked - (pair(v, u) if v < u else -pair(v, u))
    assert ints(unmasked % mod) == result["aggregate"]
    assert set(u4) <= set(u3)
    return {
        "u1": u1,
        "u2": u2,
        "u3": u3,
        "u4": u4,
        "clients": clients,
        "share_ciphertexts": ciphertexts,
        "pair_masks": pair_masks,
        "masked_sum": ints(masked_sum % mod),
        "reconstructed": recovered,
    }


Shares = list[tuple[int, wire.ShareKind, int]]
Commitments = list[tuple[int, bytes, bytes]]
Edit = Callable[[bytes], bytes | None]
NegativeSpec = tuple[
    str, dict[int, str], Intercept | None, str, DropReason | AbortReason, int | None
]
"""(name, silent_from, intercept, error class, reason, client) of one negative round."""


REPLY_CODECS: dict[str, tuple[Callable[..., Any], Callable[..., bytes]]] = {
    "share_keys": (wire.decode_share_keys, wire.encode_share_keys),
    "masked_input": (wire.decode_masked_input, wire.encode_masked_input),
    "unmasking": (wire.decode_unmask_response, wire.encode_unmask_response),
}
"""(decode, encode) of the client's reply in each round that answers a server prompt."""


class Tamper:
    """Alters one message of a negative round; remembers every message it saw."""

    def __init__(self, cfg: RoundConfig, rands: list[bytes]) -> None:
        self.cfg = cfg
        self.rands = rands
        self.seen: dict[tuple[str, int, int], bytes] = {}

    def on(self, round_name: str, sender: int, recipient: int, edit: Edit) -> Intercept:
        def intercept(name: str, s: int, v: int, data: bytes) -> bytes | None:
            self.seen[(name, s, v)] = data
            return edit(data) if (name, s, v) == (round_name, sender, recipient) else data

        return intercept

    # ---- client -> server edits

    def advertise(
        self, u: int, *, c_public: bytes | None = None, copy_of: int | None = None
    ) -> Edit:
        def edit(data: bytes) -> bytes:
            msg = wire.decode_advertise_keys(data, self.cfg, u)
            if copy_of is not None:
                source = self.seen[("advertise_keys", copy_of, SERVER)]
                msg = wire.decode_advertise_keys(source, self.cfg, copy_of)
            if c_public is not None:
                msg = wire.AdvertiseKeys(c_public, msg.s_public)
            return wire.encode_advertise_keys(self.cfg, u, msg)

        return edit

    def reply(self, round_name: str, u: int, change: Callable[[Any], Any]) -> Edit:
        """Client u's reply in ``round_name``, decoded, passed through ``change`` (a message in,
        a message out) and encoded again."""
        decode_reply, encode_reply = REPLY_CODECS[round_name]
        return lambda data: encode_reply(self.cfg, u, change(decode_reply(data, self.cfg, u)))

    def drop_last_ciphertext(self, u: int) -> Edit:
        return self.reply(
            "share_keys", u, lambda m: dataclasses.replace(m, ciphertexts=m.ciphertexts[:-1])
        )

    def commitments(self, u: int, change: Callable[[Commitments], Commitments]) -> Edit:
        return self.reply(
            "share_keys",
            u,
            lambda m: dataclasses.replace(m, commitments=tuple(change(list(m.commitments)))),
        )

    def owner_share(self, u: int, holder: int, kind: wire.ShareKind, *, send: bool) -> Edit:
        """Client u's ShareKeys as a dishonest owner would write it: its ``kind`` share for
        ``holder`` becomes share + 1 in the commitment, and also in the ciphertext to ``holder``
        if ``send``; everything else is what the honest client sent."""
        cfg, rand = self.cfg, self.rands[u]

        def change(msg: wire.ShareKeys) -> wire.ShareKeys:
            holders = [v for v, _, _ in msg.commitments]
            shares = client_shares(rand, holders, cfg.threshold)
            j = holders.index(holder)
            pair = [shares[0][j], shares[1][j]]
            pair[kind] = (pair[kind] + 1) % P
            commitments = list(msg.commitments)
            v, ck, cm = commitments[j]
            new = share_commitment(cfg.session_id, u, holder, kind, pair[kind])
            commitments[j] = (v, new, cm) if kind is KIND.KEY else (v, ck, new)
            ciphertexts = list(msg.ciphertexts)
            if send:
                c_holder = KeyPair.from_secret(self.rands[holder][0:32]).public
                _, key, ad = share_channel(
                    cfg.session_id, KeyPair.from_secret(rand[0:32]), c_holder, u, holder
                )
                i = [v for v, _ in ciphertexts].index(holder)
                honest = wire.encode_share_plaintext(u, holder, shares[0][j], shares[1][j])
                assert aead.seal(key, honest, ad) == ciphertexts[i][1]
                plaintext = wire.encode_share_plaintext(u, holder, pair[0], pair[1])
                ciphertexts[i] = (holder, aead.seal(key, plaintext, ad))
            return wire.ShareKeys(tuple(ciphertexts), tuple(commitments), msg.prompt)

        return self.reply("share_keys", u, change)

    def ciphertext(self, u: int, peer: int) -> Edit:
        """Client u's ShareKeys with a bit of e_{u,peer} flipped (the tag no longer matches)."""

        def change(msg: wire.ShareKeys) -> wire.ShareKeys:
            items = tuple((v, flip(ct, 0) if v == peer else ct) for v, ct in msg.ciphertexts)
            return dataclasses.replace(msg, ciphertexts=items)

        return self.reply("share_keys", u, change)

    def replay(self, round_name: str, sender: int) -> Edit:
        return lambda data: self.seen[(round_name, sender, SERVER)]

    def prompt(self, round_name: str, u: int, change: Callable[[bytes], bytes]) -> Edit:
        """Client u's reply in ``round_name`` with its prompt echo replaced by ``change(echo)``;
        everything else is what the client sent (SPEC.md 5.7)."""
        return self.reply(round_name, u, lambda m: dataclasses.replace(m, prompt=change(m.prompt)))

    def prompt_sent(self, round_name: str, v: int) -> Callable[[bytes], bytes]:
        """An echo of the digest of the prompt the server sent ``v`` in ``round_name``."""
        return lambda _: wire.prompt_digest(self.seen[(round_name, SERVER, v)])

    def masked_element(self, u: int, value: int) -> Edit:
        def change(msg: wire.MaskedInput) -> wire.MaskedInput:
            vector = msg.vector.copy()
            vector[0] = value
            return dataclasses.replace(msg, vector=vector)

        return self.reply("masked_input", u, change)

    def masked_session(self, u: int, other: RoundConfig) -> Edit:
        def edit(data: bytes) -> bytes:
            return wire.encode_masked_input(other, u, wire.decode_masked_input(data, self.cfg, u))

        return edit

    def response(self, u: int, change: Callable[[Shares], Shares]) -> Edit:
        return self.reply(
            "unmasking", u, lambda m: dataclasses.replace(m, shares=tuple(change(list(m.shares))))
        )

    # ---- server -> client edits

    def key_list(
        self, v: int, change: Callable[[list[wire.KeyEntry]], list[wire.KeyEntry]]
    ) -> Edit:
        def edit(data: bytes) -> bytes:
            entries = list(wire.decode_key_list(data, self.cfg, v).entries)
            return wire.encode_key_list(self.cfg, v, wire.KeyList(tuple(change(entries))))

        return edit

    def forward(
        self, v: int, change: Callable[[list[tuple[int, bytes]]], list[tuple[int, bytes]]]
    ) -> Edit:
        def edit(data: bytes) -> bytes:
            items = list(wire.decode_share_forward(data, self.cfg, v).ciphertexts)
            return wire.encode_share_forward(self.cfg, v, wire.ShareForward(tuple(change(items))))

        return edit

    def request(self, v: int, survivors: tuple[int, ...]) -> Edit:
        return lambda data: wire.encode_unmask_request(self.cfg, v, wire.UnmaskRequest(survivors))


def flip_first_kind(shares: Shares) -> Shares:
    peer, kind, value = shares[0]
    swapped = wire.ShareKind.KEY if kind is wire.ShareKind.SELF_MASK else wire.ShareKind.SELF_MASK
    return [(peer, swapped, value), *shares[1:]]


def bump_last_share(shares: Shares) -> Shares:
    """The last share + 1: a well-formed field element that is not the committed share."""
    peer, kind, value = shares[-1]
    return [*shares[:-1], (peer, kind, (value + 1) % P)]


def first_share_equal_to_p(data: bytes) -> bytes:
    """Overwrite the first UnmaskResponse share with p (not a field element), re-digested."""
    start = wire.HEADER_SIZE + wire.DIGEST_SIZE + 4 + 5
    return redigest(data[:start] + P.to_bytes(33, "big") + data[start + 33 :])


def with_entry(
    entries: list[wire.KeyEntry], client: int, *, c: bytes | None = None, s: bytes | None = None
) -> list[wire.KeyEntry]:
    """``entries`` with the keys of ``client`` replaced."""
    return [
        wire.KeyEntry(e.client, e.c_public if c is None else c, e.s_public if s is None else s)
        if e.client == client
        else e
        for e in entries
    ]


def negative_cases() -> list[Json]:
    """Rounds in which one message is altered, lost or refused (n=3, t=2, m=4, b=8)."""
    r = rng("round/negative")
    cfg, inputs, rands = round_setup(r, 3, 2, 4, 8)
    other = make_config(r, 3, 2, 4, 8)
    # A valid X25519 public key that is nobody's: what a forged key-list entry carries.
    forged = KeyPair.from_secret(r(32)).public
    assert is_valid_public(forged)
    tm = Tamper(cfg, rands)
    low = LOW_ORDER_POINTS
    kind_key = wire.ShareKind.KEY
    drop, client_abort, server_abort = "Drop", "ClientAbort", "ProtocolAbort"
    d, a = DropReason, AbortReason
    quiet: dict[int, str] = {}
    specs: list[NegativeSpec] = [
        # The server drops one client (and goes on, or aborts if fewer than t remain).
        ("round_bad_advertise_low_order_key", quiet,
         tm.on("advertise_keys", 2, SERVER, tm.advertise(2, c_public=low["u0"])),
         drop, d.INVALID_CONTENT, 2),
        ("round_bad_advertise_repeated_key", quiet,
         tm.on("advertise_keys", 2, SERVER, tm.advertise(2, copy_of=1)),
         server_abort, a.BELOW_THRESHOLD, None),
        ("round_bad_share_keys_missing_recipient", quiet,
         tm.on("share_keys", 2, SERVER, tm.drop_last_ciphertext(2)),
         drop, d.INVALID_CONTENT, 2),
        ("round_bad_share_keys_commitments_omit_sender", quiet,
         tm.on("share_keys", 0, SERVER, tm.commitments(0, lambda cs: cs[1:])),
         drop, d.INVALID_CONTENT, 0),
        ("round_bad_share_keys_commitments_omit_recipient", quiet,
         tm.on("share_keys", 1, SERVER, tm.commitments(1, lambda cs: cs[:-1])),
         drop, d.INVALID_CONTENT, 1),
        ("round_bad_share_keys_truncated", quiet,
         tm.on("share_keys", 1, SERVER, lambda data: data[:-1]),
         drop, d.DECODE_FAILED, 1),
        ("round_bad_replayed_advertise_keys", quiet,
         tm.on("share_keys", 0, SERVER, tm.replay("advertise_keys", 0)),
         drop, d.UNEXPECTED_MESSAGE, 0),
        ("round_bad_masked_input_flipped_digest", quiet,
         tm.on("masked_input", 1, SERVER, lambda data: flip(data, len(data) - 1)),
         drop, d.DECODE_FAILED, 1),
        ("round_bad_masked_input_out_of_range", quiet,
         tm.on("masked_input", 0, SERVER, tm.masked_element(0, 256)),
         drop, d.INVALID_CONTENT, 0),
        ("round_bad_masked_input_other_session", quiet,
         tm.on("masked_input", 2, SERVER, tm.masked_session(2, other)),
         drop, d.WRONG_SESSION, 2),
        ("round_bad_masked_input_misaddressed", quiet,
         tm.on("masked_input", 1, SERVER, tm.replay("masked_input", 0)),
         drop, d.MISADDRESSED, 1),
        ("round_bad_masked_input_lost", quiet,
         tm.on("masked_input", 2, SERVER, lambda data: None),
         drop, d.TIMED_OUT, 2),
        ("round_bad_unmask_wrong_kind", quiet,
         tm.on("unmasking", 0, SERVER, tm.response(0, flip_first_kind)),
         drop, d.INVALID_CONTENT, 0),
        ("round_bad_unmask_share_not_field_element", quiet,
         tm.on("unmasking", 0, SERVER, first_share_equal_to_p),
         drop, d.DECODE_FAILED, 0),
        ("round_bad_unmask_unexpected_peer", {2: "share_keys"},
         tm.on("unmasking", 0, SERVER, tm.response(0, lambda s: [*s, (2, kind_key, 1)])),
         drop, d.INVALID_CONTENT, 0),
        # A share that fails its commitment drops the responder; the aggregate stays exact.
        ("round_bad_unmask_bad_share", quiet,
         tm.on("unmasking", 0, SERVER, tm.response(0, bump_last_share)),
         drop, d.BAD_SHARE, 0),
        # ... even when the owner lied in its commitment: then the honest holder is dropped.
        ("round_bad_owner_commitment_mismatch", quiet,
         tm.on("share_keys", 2, SERVER,
               tm.owner_share(2, 0, KIND.SELF_MASK, send=False)),
         drop, d.BAD_SHARE, 0),
        # A reply that echoes another prompt than the one the server sent its sender: the server
        # drops the sender (SPEC.md 5.7), and the aggregate of the others stays exact.
        ("round_bad_share_keys_prompt_of_other_client", quiet,
         tm.on("share_keys", 1, SERVER,
               tm.prompt("share_keys", 1, tm.prompt_sent("share_keys", 0))),
         drop, d.PROMPT_MISMATCH, 1),
        ("round_bad_masked_input_flipped_prompt", quiet,
         tm.on("masked_input", 2, SERVER, tm.prompt("masked_input", 2, lambda p: flip(p, 0))),
         drop, d.PROMPT_MISMATCH, 2),
        ("round_bad_unmask_stale_prompt", quiet,
         tm.on("unmasking", 0, SERVER,
               tm.prompt("unmasking", 0, tm.prompt_sent("masked_input", 0))),
         drop, d.PROMPT_MISMATCH, 0),
        # ... which is how a prompt altered on its way to a client shows: the client answers what
        # it got, and its echo gives it away. Without the echo the first two made the server
        # release a wrong aggregate (client 1 masks with a pair seed client 2 never derives;
        # client 0 leaves out its mask with 2), the third went unnoticed (0 skipped e_{1,0}),
        # and the last dropped 0 for INVALID_CONTENT (a KEY share of the survivor 2).
        ("round_bad_key_list_forged_key", quiet,
         tm.on("share_keys", SERVER, 1, tm.key_list(1, lambda es: with_entry(es, 2, s=forged))),
         drop, d.PROMPT_MISMATCH, 1),
        ("round_bad_forward_ciphertext_removed", quiet,
         tm.on("masked_input", SERVER, 0, tm.forward(0, lambda its: its[:-1])),
         drop, d.PROMPT_MISMATCH, 0),
        ("round_bad_forward_corrupt_ciphertext", quiet,
         tm.on("masked_input", SERVER, 0,
               tm.forward(0, lambda its: [(its[0][0], flip(its[0][1], 0)), *its[1:]])),
         drop, d.PROMPT_MISMATCH, 0),
        ("round_bad_unmask_request_altered", quiet,
         tm.on("unmasking", SERVER, 0, tm.request(0, (0, 1))),
         drop, d.PROMPT_MISMATCH, 0),
        # The server aborts the session.
        ("round_bad_owner_inconsistent_key_shares", {2: "masked_input"},
         tm.on("share_keys", 2, SERVER, tm.owner_share(2, 0, KIND.KEY, send=True)),
         server_abort, a.INCONSISTENT_SHARES, None),
        ("round_bad_insufficient_shares", {2: "unmasking"},
         tm.on("unmasking", 0, SERVER, tm.response(0, lambda s: [])),
         server_abort, a.INSUFFICIENT_SHARES, None),
        ("round_bad_below_threshold", {1: "masked_input", 2: "masked_input"}, None,
         server_abort, a.BELOW_THRESHOLD, None),
        # A client refuses a server prompt (and goes silent).
        ("round_bad_key_list_omits_client", quiet,
         tm.on("share_keys", SERVER, 0, tm.key_list(0, lambda es: es[1:])),
         client_abort, a.INCONSISTENT_VIEW, 0),
        ("round_bad_key_list_alters_client_key", quiet,
         tm.on("share_keys", SERVER, 0,
               tm.key_list(0, lambda es: with_entry(es, 0, s=es[1].s_public))),
         client_abort, a.INCONSISTENT_VIEW, 0),
        ("round_bad_key_list_below_threshold", quiet,
         tm.on("share_keys", SERVER, 1, tm.key_list(1, lambda es: es[1:2])),
         client_abort, a.BELOW_THRESHOLD, 1),
        ("round_bad_key_list_repeated_key", quiet,
         tm.on("share_keys", SERVER, 1,
               tm.key_list(1, lambda es: with_entry(es, 2, s=es[0].s_public))),
         client_abort, a.INCONSISTENT_VIEW, 1),
        ("round_bad_key_list_low_order_key", quiet,
         tm.on("share_keys", SERVER, 1, tm.key_list(1, lambda es: with_entry(es, 2, c=low["u1"]))),
         client_abort, a.KEY_AGREEMENT_FAILED, 1),
        ("round_bad_key_list_truncated", quiet,
         tm.on("share_keys", SERVER, 2, lambda data: data[:-1]),
         client_abort, a.INVALID_MESSAGE, 2),
        ("round_bad_forward_from_self", quiet,
         tm.on("masked_input", SERVER, 0, tm.forward(0, lambda its: [(0, its[0][1]), *its])),
         client_abort, a.INCONSISTENT_VIEW, 0),
        ("round_bad_forward_below_threshold", quiet,
         tm.on("masked_input", SERVER, 0, tm.forward(0, lambda its: [])),
         client_abort, a.BELOW_THRESHOLD, 0),
        ("round_bad_unmask_request_omits_client", quiet,
         tm.on("unmasking", SERVER, 0, tm.request(0, (1, 2))),
         client_abort, a.INCONSISTENT_VIEW, 0),
        ("round_bad_unmask_request_below_threshold", quiet,
         tm.on("unmasking", SERVER, 0, tm.request(0, (0,))),
         client_abort, a.BELOW_THRESHOLD, 0),
        ("round_bad_unmask_request_unknown_peer", {2: "share_keys"},
         tm.on("unmasking", SERVER, 0, tm.request(0, (0, 1, 2))),
         client_abort, a.INCONSISTENT_VIEW, 0),
    ]  # fmt: skip
    cases = []
    for name, silent, intercept, error, reason, client in specs:
        tm.seen.clear()
        case = round_case(name, cfg, inputs, rands, silent, intercept)
        case.update(success=False, error=error, **reason_json(reason))
        if client is not None:
            case["client"] = client
        if error == drop:
            assert any(x["client"] == client and x["reason"] == reason.name for x in case["drops"])
            if reason in (d.BAD_SHARE, d.PROMPT_MISMATCH):
                # That client goes and the round completes (run_round checked the sum) ...
                assert case["result"] is not None and client not in case["result"]["responders"]
            if reason is d.PROMPT_MISMATCH:  # ... and it is the only one dropped
                assert [(x["client"], x["reason"]) for x in case["drops"]] == [
                    (client, reason.name)
                ]
        elif error == client_abort:
            assert any(
                x["client"] == client and x["reason"] == reason.name for x in case["client_aborts"]
            )
        else:
            assert case["abort"] is not None and case["abort"]["reason"] == reason.name, name
        if name == "round_bad_owner_inconsistent_key_shares":
            # Every share matched its commitment: only the silent owner was dropped.
            assert [x["reason"] for x in case["drops"]] == [d.TIMED_OUT.name]
        cases.append(case)

    # Not a failure: a share ciphertext that does not authenticate is skipped by its recipient,
    # which still masks with the sender; the round completes. The ciphertext is corrupt before
    # the server (in the ShareKeys of client 1), so the ShareForward to 0 is what the server sent
    # and the echo matches; round_bad_forward_corrupt_ciphertext alters the ShareForward instead.
    tm.seen.clear()
    corrupt = tm.on("share_keys", 1, SERVER, tm.ciphertext(1, 0))
    case = round_case("round_corrupt_share_ciphertext_skipped", cfg, inputs, rands, quiet, corrupt)
    assert case["result"] is not None and not case["drops"] and not case["client_aborts"]
    case["success"] = True
    cases.append(case)
    return cases


def round_file() -> Json:
    cases: list[Json] = []
    honest: list[tuple[str, tuple[int, int, int, int], dict[int, str]]] = [
        (
            "round_n7_t4_m8_b16_dropouts",
            (7, 4, 8, 16),
            {1: "share_keys", 2: "masked_input", 5: "unmasking"},
        ),
        ("round_n5_t3_m5_b40_dropouts", (5, 3, 5, 40), {0: "advertise_keys", 3: "masked_input"}),
        ("round_n3_t3_m4_b1", (3, 3, 4, 1), {}),
        ("round_n1_t1_m3_b64", (1, 1, 3, 64), {}),
    ]
    for name, (n, t, m, b), silent in honest:
        cfg, inputs, rands = round_setup(rng("round/" + name), n, t, m, b)
        case = round_case(name, cfg, inputs, rands, silent)
        assert case["result"] is not None and not case["client_aborts"]
        case["success"] = True
        case["intermediates"] = intermediates(case, cfg, inputs, rands)
        cases.append(case)
    cases.extend(negative_cases())
    return {
        "version": PROTOCOL_VERSION,
        "description": (
            "Complete rounds between real clients and a server (SPEC.md sections 9 and 10). "
            "clients[u].rand is all the randomness client u consumed (c_sk | s_sk | b | "
            "Shamir coefficients) and clients[u].input its x_u. silent_from: a client that "
            "sends nothing from that round on. transcript, in order: 'message' (round, type, "
            "sender, recipient, bytes as sent; 'delivered' when the network altered it, null "
            "when it was lost), 'advance' (the server closes that round; its prompts follow as "
            "messages), 'client_abort' and 'server_abort' with their AbortReason. drops are the "
            "server's DropReason records in order; result holds U3 (survivors), U4 (responders) "
            "and the aggregate. Honest rounds carry intermediates (keys, shares, share "
            "commitments, ciphertexts, masks, masked inputs, reconstructed secrets). Every "
            "ShareKeys, MaskedInput and UnmaskResponse starts with the digest (last 32 bytes) of "
            "the prompt its sender was delivered in that round; the server drops a sender whose "
            "delivered reply echoes anything but the digest of the prompt it sent that client "
            "(PROMPT_MISMATCH). *_bad_* cases name the failure they exist for in "
            "error/reason/client; in round_bad_owner_* cases the altered ShareKeys ('delivered') "
            "stands for a dishonest owner that commits to (and sends) a share off its "
            "polynomial."
        ),
        "cases": cases,
    }


# --------------------------------------------------------------------------- entry point

FILES: dict[str, Callable[[], Json]] = {
    "kdf.json": kdf_file,
    "prg.json": prg_file,
    "shamir.json": shamir_file,
    "commit.json": commit_file,
    "aead.json": aead_file,
    "wire.json": wire_file,
    "round.json": round_file,
}


def build_all() -> dict[str, str]:
    """File name -> exact file text, for every vector file."""
    return {name: write_json(build()) for name, build in FILES.items()}


def main() -> None:
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in build_all().items():
        (VECTOR_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {VECTOR_DIR / name} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
