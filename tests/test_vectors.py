"""Replay protocol/vectors/*.json (protocol version 2) against the library.

Each primitive is checked twice: through the library's API, and from its definition in
protocol/SPEC.md written out here with `cryptography` and `hashlib` directly (X25519, HKDF,
AES-CTR, AES-GCM, Ed25519, SHA-256, the limb polynomials), so a change that breaks the
specification fails even if the library and the vectors were regenerated together. Rounds are
replayed message by message through real Client and Server objects built from the recorded
configuration, randomness and inputs; every message, drop, abort and result is compared, and
the honest rounds' intermediates are recomputed from the definitions. The last test checks
that the generator still writes the committed files byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from secagg.config import PROTOCOL_VERSION, RoundConfig
from secagg.core import wire
from secagg.core.client import Client, rand_size
from secagg.core.graph import graph_for
from secagg.core.server import Server
from secagg.crypto import aead, kdf, prg, shamir
from secagg.crypto.commit import self_mask_commitment, share_commitment
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
    StateError,
)

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "protocol" / "vectors"
sys.path.insert(0, str(ROOT / "protocol"))

import gen_vectors  # noqa: E402

Json = dict[str, Any]
SERVER = wire.SERVER_ID
P = (1 << 31) - 1
V = b"secagg/v2/"
FILES = (
    "kdf.json",
    "prg.json",
    "graph.json",
    "shamir.json",
    "commit.json",
    "aead.json",
    "sign.json",
    "wire.json",
    "quantize.json",
    "round.json",
)


@cache
def load(name: str) -> Json:
    data: Json = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def cases(name: str, key: str = "cases") -> list[Json]:
    items: list[Json] = load(name)[key]
    return items


def ids(case: Json) -> str:
    name: str = case["name"]
    return name


def unhex(value: str) -> bytes:
    return bytes.fromhex(value)


def ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def every_case() -> Iterator[tuple[str, Json]]:
    for name in FILES:
        for value in load(name).values():
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and "name" in item:
                        yield name, item


# --------------------------------------------------------------------------- definitions


def labeled_sha256(label: bytes, *parts: bytes) -> bytes:
    """SPEC 1."""
    h = hashlib.sha256(len(label).to_bytes(2, "big") + label)
    for part in parts:
        h.update(part)
    return h.digest()


def hkdf(ikm: bytes, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def share_key(shared: bytes, sid: bytes, u: int, v: int) -> bytes:
    """k_{u->v} per SPEC 6.2: 64 bytes of HKDF over (min, max); the first half is the key from
    the smaller id to the larger."""
    both = hkdf(shared, sid, V + b"share-enc" + struct.pack(">II", min(u, v), max(u, v)), 64)
    return both[:32] if u < v else both[32:]


def x25519_public(secret: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(secret).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def x25519(secret: bytes, public: bytes) -> bytes:
    priv = X25519PrivateKey.from_private_bytes(secret)
    return priv.exchange(X25519PublicKey.from_public_bytes(public))


def stream(key: bytes, length: int, bits: int, start: int = 0) -> list[int]:
    """SPEC 7.1: AES-256-CTR from counter block floor(start w / 16), w-byte little-endian
    elements mod 2^b."""
    width = 4 if bits <= 32 else 8
    block, skip = divmod(start * width, 16)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(block.to_bytes(16, "big"))).encryptor()
    raw = encryptor.update(bytes(skip + length * width))[skip:]
    mask = (1 << bits) - 1
    return [int.from_bytes(raw[i : i + width], "little") & mask for i in range(0, len(raw), width)]


def prg_key(seed: bytes, label: bytes) -> bytes:
    return hkdf(seed, None, V + b"prg/" + label)


def limbs(secret: bytes) -> list[int]:
    value = int.from_bytes(secret, "big")
    return [(value >> (30 * j)) % (1 << 30) for j in range(9)]


def share_limbs(secrets: list[bytes], rand: bytes, t: int, x: int) -> list[list[int]]:
    """SPEC 8.1: limb j of secret q at x, coefficient a_{j,i} from 16-byte chunk
    (q (t-1) + (i-1)) * 9 + j of rand."""
    out = []
    for q, secret in enumerate(secrets):
        row = []
        for j, s_j in enumerate(limbs(secret)):
            value = s_j
            for i in range(1, t):
                chunk = (q * (t - 1) + (i - 1)) * 9 + j
                a = int.from_bytes(rand[16 * chunk : 16 * chunk + 16], "big") % P
                value += a * pow(x, i, P)
            row.append(value % P)
        out.append(row)
    return out


def encode_limbs(values: list[int]) -> bytes:
    return b"".join(struct.pack(">I", v) for v in values)


def lagrange(xs: list[int]) -> list[int]:
    out = []
    for i, xi in enumerate(xs):
        num = den = 1
        for j, xj in enumerate(xs):
            if j != i:
                num, den = num * xj % P, den * (xj - xi) % P
        out.append(num * pow(den, P - 2, P) % P)
    return out


def rebuild(xs: list[int], shares: list[bytes]) -> list[int]:
    lam = lagrange(xs)
    values = [[int.from_bytes(s[4 * j : 4 * j + 4], "big") for j in range(9)] for s in shares]
    return [sum(lam[i] * values[i][j] for i in range(len(xs))) % P for j in range(9)]


def secret_of(rebuilt: list[int]) -> bytes | None:
    """SPEC 8.2: the secret, or None when a limb is out of range."""
    if any(v >= 1 << 30 for v in rebuilt[:8]) or rebuilt[8] >= 1 << 16:
        return None
    return sum(v << (30 * j) for j, v in enumerate(rebuilt)).to_bytes(32, "big")


def commitment(sid: bytes, owner: int, holder: int, kind: int, share: bytes) -> bytes:
    return labeled_sha256(V + b"share-commit", sid, struct.pack(">IIB", owner, holder, kind), share)


def ed25519_ok(public: bytes, signature: bytes, message: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def config_of(data: Json) -> RoundConfig:
    roster = None if data["roster"] is None else Roster(tuple(unhex(k) for k in data["roster"]))
    cfg = RoundConfig(
        num_clients=data["num_clients"],
        threshold=data["threshold"],
        dim=data["dim"],
        bits=data["bits"],
        session_nonce=unhex(data["session_nonce"]),
        neighbors=data["neighbors"],
        security=data["security"],
        roster=roster,
        allow_weak_threshold=data["allow_weak_threshold"],
    )
    assert cfg.encode().hex() == data["encoded"]
    assert cfg.session_id.hex() == data["session_id"]
    return cfg


# --------------------------------------------------------------------------- all files


def test_files_are_versioned_and_described() -> None:
    for name in FILES:
        data = load(name)
        assert data["version"] == PROTOCOL_VERSION == 2
        assert isinstance(data["description"], str) and len(data["description"]) > 100


def test_cases_are_named_marked_and_tagged() -> None:
    names = [case["name"] for _, case in every_case()]
    assert len(names) == len(set(names)), "case names must be unique within the vectors"
    for _, case in every_case():
        if "_bad_" in case["name"]:
            assert case["success"] is False and case["error"]
            if "reason" in case:
                assert case["reason_code"] in (
                    int(DropReason[case["reason"]]) if case["error"] in ("Drop", "DecodeError")
                    else int(AbortReason[case["reason"]]),
                )  # fmt: skip
        elif "success" in case:
            assert case["success"] is True
        assert set(case.get("rules", [])) <= gen_vectors.RULE_IDS


def test_round_messages_are_all_used() -> None:
    used = set()
    for case in cases("round.json"):
        for step in case["transcript"]:
            if step["step"] == "message":
                used.add(step["message_sha256"])
                if step.get("delivered_sha256"):
                    used.add(step["delivered_sha256"])
    assert used == set(load("round.json")["messages"])


def test_every_observable_rule_has_a_case() -> None:
    tagged = {rule for _, case in every_case() for rule in case.get("rules", [])}
    for rule_id, kind, _ in gen_vectors.RULES:
        assert (rule_id in tagged) is not kind.endswith("unobservable"), rule_id


def test_generator_reproduces_committed_files() -> None:
    built = gen_vectors.build_all()
    assert sorted(built) == sorted([*FILES, "README.md"])
    on_disk = sorted(p.name for p in VECTORS.iterdir())
    assert on_disk == sorted(built)
    for name, text in built.items():
        assert text == (VECTORS / name).read_text(encoding="utf-8"), f"{name} drifted"


# --------------------------------------------------------------------------- kdf.json


@pytest.mark.parametrize("case", cases("kdf.json", "configs"), ids=ids)
def test_config(case: Json) -> None:
    data = case["config"]
    cfg = config_of(data)
    roster = b"".join(unhex(k) for k in data["roster"] or [])
    digest = labeled_sha256(V + b"roster", roster) if roster else bytes(32)
    assert digest.hex() == data["roster_digest"]
    encoded = (
        struct.pack(
            ">BBIIIBI",
            2,
            0 if data["security"] == "semi_honest" else 1,
            data["num_clients"],
            data["threshold"],
            data["dim"],
            data["bits"],
            data["neighbors"] or 0,
        )
        + digest
        + unhex(data["session_nonce"])
    )
    assert len(encoded) == 83 and encoded.hex() == data["encoded"]
    assert labeled_sha256(V + b"session", encoded) == cfg.session_id


def test_same_nonce_other_parameters_are_other_sessions() -> None:
    same = [c for c in cases("kdf.json", "configs") if c["name"].startswith("config_same_nonce")]
    assert len(same) == 7
    assert len({c["config"]["session_nonce"] for c in same}) == 1
    assert len({c["config"]["session_id"] for c in same}) == 7


@pytest.mark.parametrize("case", cases("kdf.json", "config_decode"), ids=ids)
def test_config_decode(case: Json) -> None:
    trusted = case["trusted_roster"]
    roster = None if trusted is None else Roster(tuple(unhex(k) for k in trusted))
    data = unhex(case["encoded"])
    weak = case["allow_weak_threshold"]
    if case["success"]:
        cfg = RoundConfig.decode(data, roster=roster, allow_weak_threshold=weak)
        assert cfg.encode() == data
        assert config_of(case["config"]) == cfg
    else:
        assert case["error"] == "ConfigError"
        with pytest.raises(ConfigError):
            RoundConfig.decode(data, roster=roster, allow_weak_threshold=weak)


@pytest.mark.parametrize("case", cases("kdf.json", "labeled_sha256"), ids=ids)
def test_labeled_sha256(case: Json) -> None:
    label, parts = unhex(case["label"]), [unhex(p) for p in case["parts"]]
    assert unhex(case["input"]) == len(label).to_bytes(2, "big") + label + b"".join(parts)
    assert sha256(label, *parts).hex() == case["output"]
    assert hashlib.sha256(unhex(case["input"])).hexdigest() == case["output"]


@pytest.mark.parametrize("case", cases("kdf.json", "x25519_keypairs"), ids=ids)
def test_x25519_keypair(case: Json) -> None:
    assert KeyPair.from_secret(unhex(case["secret"])).public.hex() == case["public"]
    assert x25519_public(unhex(case["secret"])).hex() == case["public"]


@pytest.mark.parametrize("case", cases("kdf.json", "x25519_agreements"), ids=ids)
def test_x25519_agreement(case: Json) -> None:
    secret, peer = unhex(case["secret"]), unhex(case["peer_public"])
    if case["success"]:
        assert is_valid_public(peer)
        assert agree(secret, peer).hex() == case["shared_secret"]
        assert x25519(secret, peer).hex() == case["shared_secret"]
    else:
        assert case["error"] == "KeyAgreementError"
        assert not is_valid_public(peer)
        with pytest.raises(KeyAgreementError):
            agree(secret, peer)
        # From the definition: not 32 bytes, not canonical, or an all-zero agreement.
        if len(peer) == 32 and int.from_bytes(peer, "little") < 2**255 - 19:
            with pytest.raises(ValueError):
                x25519(secret, peer)


@pytest.mark.parametrize("case", cases("kdf.json", "x25519_fingerprints"), ids=ids)
def test_x25519_fingerprint(case: Json) -> None:
    public = unhex(case["public"])
    got = fingerprint(public)
    assert (None if got is None else got.hex()) == case["fingerprint"]
    if case["fingerprint"] is not None:
        assert x25519(bytes(range(1, 33)), public).hex() == case["fingerprint"]


def test_inverse_aliases_share_their_fingerprint() -> None:
    by_name = {c["name"]: c for c in cases("kdf.json", "x25519_fingerprints")}
    aliases = [n for n in by_name if n.endswith("_inverse_alias")]
    assert len(aliases) == 3
    p = 2**255 - 19
    for name in aliases:
        original = by_name[name.removesuffix("_inverse_alias")]
        u = int.from_bytes(unhex(original["public"]), "little")
        assert unhex(by_name[name]["public"]) == pow(u, p - 2, p).to_bytes(32, "little")
        assert by_name[name]["fingerprint"] == original["fingerprint"] is not None


@pytest.mark.parametrize("case", cases("kdf.json", "hkdf"), ids=ids)
def test_hkdf(case: Json) -> None:
    ikm, salt, info = unhex(case["ikm"]), unhex(case["salt"]), unhex(case["info"])
    purpose, ids_ = case["purpose"], case["ids"]
    if purpose == "pair-mask":
        u, v = ids_
        assert info == V + b"pair-mask" + struct.pack(">II", min(u, v), max(u, v))
        for a, b in ((u, v), (v, u)):
            assert kdf.pair_mask_key(ikm, session_id=salt, u=a, v=b).hex() == case["output"]
    elif purpose == "share-enc":
        u, v = ids_
        assert info == V + b"share-enc" + struct.pack(">II", min(u, v), max(u, v))
        there, back = kdf.share_encryption_keys(ikm, session_id=salt, u=u, v=v)
        assert (there.hex(), back.hex()) == (case["key_u_to_v"], case["key_v_to_u"])
        assert kdf.share_encryption_key(ikm, session_id=salt, sender=u, recipient=v) == there
        # 64 bytes of HKDF: the key from the smaller id to the larger, then the key back.
        output = unhex(case["output"])
        assert output == (there + back if u < v else back + there)
        assert hkdf(ikm, salt, info, 64) == output
        return
    else:
        assert purpose == "self-mask"
        (u,) = ids_
        assert info == V + b"self-mask" + struct.pack(">I", u)
        assert kdf.self_mask_key(ikm, session_id=salt, u=u).hex() == case["output"]
    assert hkdf(ikm, salt, info).hex() == case["output"]


# --------------------------------------------------------------------------- prg.json


@pytest.mark.parametrize("case", cases("prg.json", "prg_keys"), ids=ids)
def test_prg_key(case: Json) -> None:
    seed, label = unhex(case["seed"]), case["label"].encode()
    assert unhex(case["info"]) == V + b"prg/" + label
    assert prg.prg_key(seed, label).hex() == case["key"]
    assert prg_key(seed, label).hex() == case["key"]


@pytest.mark.parametrize("case", cases("prg.json", "streams"), ids=ids)
def test_prg_stream(case: Json) -> None:
    key, bits, start, length = unhex(case["key"]), case["bits"], case["start"], case["length"]
    if "seed" in case:
        assert prg_key(unhex(case["seed"]), case["label"].encode()) == key
    out = prg.expand(key, length, bits, start=start)
    assert ints(out[:16]) == case["first"]
    assert hashlib.sha256(out.tobytes()).hexdigest() == case["sha256"]
    width = 4 if bits <= 32 else 8
    assert (case["width"], case["first_block"], case["skip"]) == (
        width,
        start * width // 16,
        start * width % 16,
    )
    assert stream(key, length, bits, start) == ints(out)


# --------------------------------------------------------------------------- graph.json


@pytest.mark.parametrize("case", cases("graph.json"), ids=ids)
def test_graph(case: Json) -> None:
    cfg = config_of(case["config"])
    n, k = case["num_clients"], case["neighbors"]
    key = prg_key(cfg.session_id, b"graph")
    assert key.hex() == case["graph_key"]
    draws = stream(key, n, 64)
    assert draws == case["draws"]
    order = sorted(range(n), key=lambda i: (draws[i], i))
    assert order == case["order"]
    graph = graph_for(cfg)
    for u in range(n):
        pos = order.index(u)
        near = sorted({order[(pos + d) % n] for d in range(-k // 2, k // 2 + 1) if d})
        assert near == case["neighborhoods"][u] == graph.neighbors(u)
        assert graph.holders(u) == sorted([u, *near])


# --------------------------------------------------------------------------- shamir.json


@pytest.mark.parametrize("case", cases("shamir.json", "limbs"), ids=ids)
def test_limbs(case: Json) -> None:
    secret = unhex(case["secret"])
    assert limbs(secret) == case["limbs"] == ints(shamir.secret_limbs([secret])[0])


@pytest.mark.parametrize("case", cases("shamir.json", "sharings"), ids=ids)
def test_sharing(case: Json) -> None:
    secrets = [unhex(s) for s in case["secrets"]]
    t, xs, rand = case["threshold"], case["xs"], unhex(case["rand"])
    assert len(rand) == len(secrets) * (t - 1) * 9 * 16
    ys = shamir.share(secrets, xs, t, rand)
    for q in range(len(secrets)):
        for i in range(1, t):
            for j in range(9):
                chunk = (q * (t - 1) + (i - 1)) * 9 + j
                a = int.from_bytes(rand[16 * chunk : 16 * chunk + 16], "big") % P
                assert case["coefficients"][q][j][i - 1] == a
        for k, x in enumerate(xs):
            expected = encode_limbs(share_limbs(secrets, rand, t, x)[q]).hex()
            assert case["shares"][q][k] == expected == shamir.encode_share(ys[q, k]).hex()
    for rec in case["reconstructions"]:
        subset = rec["xs"]
        assert rec["lagrange"] == lagrange(subset) == ints(shamir.lagrange_at_zero(tuple(subset)))
        for q, secret_hex in enumerate(rec["secrets"]):
            shares = [unhex(case["shares"][q][xs.index(x)]) for x in subset]
            assert secret_of(rebuild(subset, shares)) == unhex(secret_hex) == secrets[q]
            points = list(zip(subset, shares, strict=True))
            assert shamir.reconstruct(points).hex() == secret_hex


@pytest.mark.parametrize("case", cases("shamir.json", "share_decode"), ids=ids)
def test_share_decode(case: Json) -> None:
    raw = unhex(case["share"])
    if case["success"]:
        assert ints(shamir.decode_share(raw)) == case["limbs"]
        assert len(raw) == 36 and all(v < P for v in case["limbs"])
    else:
        with pytest.raises(ValueError):
            shamir.decode_share(raw)
        assert len(raw) != 36 or any(
            int.from_bytes(raw[i : i + 4], "big") >= P for i in range(0, 36, 4)
        )


@pytest.mark.parametrize("case", cases("shamir.json", "reconstruct"), ids=ids)
def test_reconstruct_range(case: Json) -> None:
    xs = [pt["x"] for pt in case["points"]]
    shares = [unhex(pt["share"]) for pt in case["points"]]
    assert rebuild(xs, shares) == case["limbs"]
    if case["success"]:
        assert secret_of(case["limbs"]) == unhex(case["secret"])
        assert shamir.reconstruct(list(zip(xs, shares, strict=True))).hex() == case["secret"]
    else:
        assert secret_of(case["limbs"]) is None
        with pytest.raises(shamir.InconsistentShares):
            shamir.reconstruct(list(zip(xs, shares, strict=True)))


# --------------------------------------------------------------------------- commit.json


@pytest.mark.parametrize("case", cases("commit.json", "share_commitments"), ids=ids)
def test_share_commitment(case: Json) -> None:
    sid, owner, holder = unhex(case["session_id"]), case["owner"], case["holder"]
    kind, share = int(wire.ShareKind[case["kind"]]), unhex(case["share"])
    assert unhex(case["input"]) == sid + struct.pack(">IIB", owner, holder, kind) + share
    assert share_commitment(sid, owner, holder, kind, share).hex() == case["commitment"]
    assert commitment(sid, owner, holder, kind, share).hex() == case["commitment"]


@pytest.mark.parametrize("case", cases("commit.json", "self_mask_commitments"), ids=ids)
def test_self_mask_commitment(case: Json) -> None:
    sid, owner, seed = unhex(case["session_id"]), case["owner"], unhex(case["seed"])
    assert unhex(case["input"]) == sid + struct.pack(">I", owner) + seed
    assert self_mask_commitment(sid, owner, seed).hex() == case["commitment"]
    assert labeled_sha256(V + b"self-mask-commit", unhex(case["input"])).hex() == case["commitment"]


@pytest.mark.parametrize("case", cases("commit.json", "verify"), ids=ids)
def test_commitment_check(case: Json) -> None:
    sid, owner, holder = unhex(case["session_id"]), case["owner"], case["holder"]
    kind, share = int(wire.ShareKind[case["kind"]]), unhex(case["share"])
    matches = commitment(sid, owner, holder, kind, share).hex() == case["commitment"]
    assert matches is case["success"]
    assert (share_commitment(sid, owner, holder, kind, share).hex() == case["commitment"]) is (
        matches
    )
    if not matches:
        assert case["reason"] == "BAD_SHARE" and case["reason_code"] == 8


# --------------------------------------------------------------------------- aead.json


@pytest.mark.parametrize("case", cases("aead.json"), ids=ids)
def test_aead(case: Json) -> None:
    key, ad, ciphertext = (
        unhex(case["key"]),
        unhex(case["associated_data"]),
        unhex(case["ciphertext"]),
    )
    assert unhex(case["nonce"]) == bytes(12)
    if case["success"]:
        sid, u, v = unhex(case["session_id"]), case["sender"], case["recipient"]
        assert share_key(unhex(case["c_agreement"]), sid, u, v) == key
        assert (
            ad == V + b"share" + sid + struct.pack(">II", u, v) == aead.associated_data(sid, u, v)
        )
        plaintext = unhex(case["plaintext"])
        assert plaintext == struct.pack(">II", u, v) + unhex(case["key_share"]) + unhex(
            case["mask_share"]
        )
        assert AESGCM(key).encrypt(bytes(12), plaintext, ad) == ciphertext
        assert aead.seal(key, plaintext, ad) == ciphertext
        assert aead.open_(key, ciphertext, ad) == plaintext
    else:
        with pytest.raises(aead.AuthenticationError):
            aead.open_(key, ciphertext, ad)


@pytest.mark.parametrize("case", cases("aead.json", "plaintexts"), ids=ids)
def test_share_plaintext(case: Json) -> None:
    data, u, v = unhex(case["plaintext"]), case["sender"], case["recipient"]
    ok = (
        len(data) == 80
        and data[:8] == struct.pack(">II", u, v)
        and all(int.from_bytes(data[i : i + 4], "big") < P for i in range(8, 80, 4))
    )
    assert ok is case["success"]
    if ok:
        key_share, mask_share = wire.decode_share_plaintext(data, u, v)
        assert (key_share.hex(), mask_share.hex()) == (case["key_share"], case["mask_share"])
    else:
        with pytest.raises(DecodeError) as info:
            wire.decode_share_plaintext(data, u, v)
        assert info.value.reason is DropReason[case["reason"]] is DropReason.BAD_CIPHERTEXT


# --------------------------------------------------------------------------- sign.json


@pytest.mark.parametrize("case", cases("sign.json", "keys"), ids=ids)
def test_ed25519_key(case: Json) -> None:
    secret = unhex(case["secret"])
    assert SigningKey.from_secret(secret).public.hex() == case["public"]
    public = Ed25519PrivateKey.from_private_bytes(secret).public_key()
    assert public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex() == case["public"]


@pytest.mark.parametrize("case", cases("sign.json", "messages"), ids=ids)
def test_signed_message(case: Json) -> None:
    label, message = case["label"].encode(), unhex(case["message"])
    sid = unhex(case["session_id"])
    if label == V + b"advertise":
        parts: tuple[bytes, ...] = (
            sid,
            struct.pack(">I", case["client"]),
            unhex(case["c_public"]),
            unhex(case["s_public"]),
        )
    else:
        assert label == V + b"consistency"
        u3 = wire.IdSet.of(case["u3"], case["num_clients"])
        assert u3.bitmap.hex() == case["u3_bitmap"]
        parts = (sid, u3.bitmap)
    assert message == len(label).to_bytes(2, "big") + label + b"".join(parts)
    assert signed_message(label, *parts) == message
    public, signature = unhex(case["public"]), unhex(case["signature"])
    assert ed25519_ok(public, signature, message)
    assert verify(public, signature, label, *parts)


def test_signatures_are_deterministic() -> None:
    keys = {c["public"]: unhex(c["secret"]) for c in cases("sign.json", "keys")}
    for case in cases("sign.json", "messages"):
        secret = keys[case["public"]]
        signature = Ed25519PrivateKey.from_private_bytes(secret).sign(unhex(case["message"]))
        assert signature.hex() == case["signature"]


@pytest.mark.parametrize("case", cases("sign.json", "verify"), ids=ids)
def test_invalid_signature(case: Json) -> None:
    public, message, signature = (
        unhex(case["public"]),
        unhex(case["message"]),
        unhex(case["signature"]),
    )
    assert not ed25519_ok(public, signature, message)
    length = int.from_bytes(message[:2], "big")
    label, rest = message[2 : 2 + length], message[2 + length :]
    assert not verify(public, signature, label, rest)


@pytest.mark.parametrize("case", cases("sign.json", "rosters"), ids=ids)
def test_roster(case: Json) -> None:
    keys = tuple(unhex(k) for k in case["keys"])
    if case["success"]:
        assert Roster(keys).digest.hex() == case["digest"]
        assert labeled_sha256(V + b"roster", *keys).hex() == case["digest"]
    else:
        with pytest.raises(RosterError):
            Roster(keys)


# --------------------------------------------------------------------------- quantize.json


def as_float(value: float | str) -> float:
    return float(value)  # "inf", "-inf" and "nan" parse too


@pytest.mark.parametrize("case", cases("quantize.json", "configs"), ids=ids)
def test_quantization_config(case: Json) -> None:
    args = (case["num_clients"], case["clipping_range"], case["quantization_range"],
            case["modulus_range"])  # fmt: skip
    if case["success"]:
        qc = QuantizationConfig(*args)
        assert qc.bits == case["bits"]
        n, L = case["num_clients"], case["quantization_range"]  # noqa: N806
        assert n * L < 1 << qc.bits
        if case["modulus_range"] is None:
            assert qc.bits == (n * L).bit_length()
    else:
        with pytest.raises(ConfigError):
            QuantizationConfig(*args)


@pytest.mark.parametrize("case", cases("quantize.json", "quantize"), ids=ids)
def test_quantize(case: Json) -> None:
    c, L = case["clipping_range"], case["quantization_range"]  # noqa: N806
    x = np.array([as_float(v) for v in case["x"]], dtype=np.float64)
    seed = unhex(case["rounding_seed"])
    qc = QuantizationConfig(case["num_clients"], c, L)
    if not case["success"]:
        with pytest.raises(ConfigError):
            quantize(x, qc, seed)
        return
    out = quantize(x, qc, seed)
    assert ints(out.values) == case["q"] and out.clipped == case["clipped"]
    # From the definition (SPEC 12.2), value by value in float64.
    key = prg_key(seed, b"rounding")
    assert key.hex() == case["rounding_key"]
    draws = stream(key, len(x), 64)
    assert draws == case["draws"]
    clipped = 0
    for i, value in enumerate(x.tolist()):
        clipped += not -c <= value <= c
        s = (min(max(value, -c), c) / c + 1.0) * (L / 2.0)
        u = (draws[i] >> 11) * 2.0**-53
        low = float(np.floor(s))
        q = min(int(low) + (1 if u < s - low else 0), L)
        assert (s, u, q) == (case["scaled"][i], case["uniform"][i], case["q"][i])
    assert clipped == case["clipped"]


@pytest.mark.parametrize("case", cases("quantize.json", "dequantize"), ids=ids)
def test_dequantize(case: Json) -> None:
    count, c, L = case["count"], case["clipping_range"], case["quantization_range"]  # noqa: N806
    totals = np.array(case["totals"], dtype=np.uint64)
    qc = QuantizationConfig(max(count, 1), c, L)
    if case["success"]:
        assert [float(v) for v in dequantize_sum(totals, count, qc)] == case["sum"]
        assert case["sum"] == [t * (2.0 * c / L) - count * c for t in case["totals"]]
        assert max(case["totals"]) <= count * L
    else:
        assert max(case["totals"]) > count * L
        with pytest.raises(ProtocolAbort) as info:
            dequantize_sum(totals, count, qc)
        assert (
            info.value.reason is AbortReason[case["reason"]] is AbortReason.AGGREGATE_OUT_OF_RANGE
        )


# --------------------------------------------------------------------------- wire.json

DECODERS = gen_vectors.DECODERS
UPSTREAM = gen_vectors.UPSTREAM


def wire_config(name: str) -> RoundConfig:
    return config_of(load("wire.json")["configs"][name])


def decode_as(type_name: str, data: bytes, cfg: RoundConfig, sender: int, recipient: int) -> Any:
    kind = wire.MessageType[type_name]
    return DECODERS[kind](data, cfg, sender if kind in UPSTREAM else recipient)


@pytest.mark.parametrize("case", cases("wire.json"), ids=ids)
def test_wire_decode(case: Json) -> None:
    cfg = wire_config(case["config"])
    data = unhex(case["message"])
    args = (case["type"], data, cfg, case["sender"], case["recipient"])
    if case["success"]:
        msg = decode_as(*args)
        assert gen_vectors.decoded_json(msg) == case["decoded"]
        check_envelope(data, cfg, case)
        assert (
            reencode(case["type"], case["decoded"], cfg, case["sender"], case["recipient"]) == data
        )
    else:
        assert case["error"] == "DecodeError"
        with pytest.raises(DecodeError) as info:
            decode_as(*args)
        assert info.value.reason is DropReason[case["reason"]]
        assert int(info.value.reason) == case["reason_code"]


def check_envelope(data: bytes, cfg: RoundConfig, case: Json) -> None:
    """SPEC 4, from the definition."""
    magic, version, kind, flags, sid, sender, recipient = struct.unpack_from(">4sBBH32sII", data)
    assert (magic, version, flags, sid) == (b"SAGG", 2, 0, cfg.session_id)
    assert wire.MessageType(kind).name == case["type"]
    assert (sender, recipient) == (case["sender"], case["recipient"])
    assert data[-32:] == labeled_sha256(V + b"digest", data[:-32])
    assert len(data) <= 80 + wire.max_body_size(cfg, wire.MessageType(kind))


def reencode(type_name: str, f: Json, cfg: RoundConfig, sender: int, recipient: int) -> bytes:
    """The message built from its decoded fields with the library's encoders."""
    T = wire.MessageType  # noqa: N806
    kind = T[type_name]
    ids_ = wire.IdSet.of

    def prompt() -> bytes:
        return unhex(f["prompt"])

    if kind is T.ADVERTISE_KEYS:
        msg = wire.AdvertiseKeys(unhex(f["c_public"]), unhex(f["s_public"]), unhex(f["signature"]))
        return wire.encode_advertise_keys(cfg, sender, msg)
    if kind is T.KEY_LIST:
        entries = tuple(
            wire.KeyEntry(e["client"], unhex(e["c_public"]), unhex(e["s_public"]),
                          unhex(e["signature"]))
            for e in f["entries"]
        )  # fmt: skip
        return wire.encode_key_list(cfg, recipient, wire.KeyList(entries))
    if kind is T.SHARE_KEYS:
        sk = wire.ShareKeys(
            unhex(f["self_mask_commitment"]),
            tuple((c["peer"], unhex(c["ciphertext"])) for c in f["ciphertexts"]),
            tuple((c["holder"], unhex(c["c_key"]), unhex(c["c_mask"])) for c in f["commitments"]),
            prompt(),
        )
        return wire.encode_share_keys(cfg, sender, sk)
    if kind is T.SHARE_FORWARD:
        forward = wire.ShareForward(tuple(
            wire.ForwardEntry(e["sender"], unhex(e["ciphertext"]), unhex(e["c_key"]),
                              unhex(e["c_mask"]))
            for e in f["entries"]
        ))  # fmt: skip
        return wire.encode_share_forward(cfg, recipient, forward)
    if kind is T.SHARE_CHECK:
        return wire.encode_share_check(cfg, sender, wire.ShareCheck(tuple(f["accused"]), prompt()))
    if kind is T.MASK_REQUEST:
        request = wire.MaskRequest(ids_(f["u2"], cfg.num_clients))
        return wire.encode_mask_request(cfg, recipient, request)
    if kind is T.MASKED_INPUT:
        vector = np.array(f["vector"], dtype=prg.ring_dtype(cfg.bits))
        return wire.encode_masked_input(cfg, sender, wire.MaskedInput(vector, prompt()))
    if kind is T.CONSISTENCY_REQUEST:
        request_ = wire.ConsistencyRequest(ids_(f["u3"], cfg.num_clients))
        return wire.encode_consistency_request(cfg, recipient, request_)
    if kind is T.CONSISTENCY_RESPONSE:
        response = wire.ConsistencyResponse(unhex(f["signature"]), prompt())
        return wire.encode_consistency_response(cfg, sender, response)
    if kind is T.UNMASK_REQUEST:
        sigs = tuple((s["signer"], unhex(s["signature"])) for s in f["signatures"])
        unmask = wire.UnmaskRequest(ids_(f["u3"], cfg.num_clients), sigs)
        return wire.encode_unmask_request(cfg, recipient, unmask)
    assert kind is T.UNMASK_RESPONSE
    shares = tuple((s["peer"], wire.ShareKind[s["kind"]], unhex(s["share"])) for s in f["shares"])
    return wire.encode_unmask_response(cfg, sender, wire.UnmaskResponse(shares, prompt()))


def test_wire_replies_echo_their_prompt() -> None:
    by_name = {case["name"]: case for case in cases("wire.json")}
    replies = [c for c in cases("wire.json") if "echoes" in c]
    assert {c["type"] for c in replies} == {t.name for t in gen_vectors.REPLY_TO}
    for case in replies:
        prompt = by_name[case["echoes"]]
        kind = wire.MessageType[case["type"]]
        assert prompt["type"] == gen_vectors.REPLY_TO[kind].name
        assert prompt["config"] == case["config"] and prompt["sender"] == SERVER
        data = unhex(case["message"])
        assert data[48:80] == unhex(prompt["message"])[-32:]
        if prompt["recipient"] != case["sender"]:
            assert "PROMPT_MISMATCH" in case["note"]


def test_wire_covers_every_type_in_both_modes() -> None:
    seen = {(c["config"], c["type"]) for c in cases("wire.json") if c["success"]}
    for mode, cfg in (("semi", "semi"), ("malicious", "mal")):
        types = {t for c, t in seen if c == cfg}
        expected = {t.name for t in wire.MessageType}
        if mode == "semi":
            expected -= {"CONSISTENCY_REQUEST", "CONSISTENCY_RESPONSE"}
        assert types == expected


# --------------------------------------------------------------------------- round.json


def party_of(name: str) -> tuple[RoundConfig, Json]:
    party: Json = load("round.json")["parties"][name]
    return config_of(party["config"]), party


def client_input(cfg: RoundConfig, client: Json) -> Any:
    if "input" in client:
        return np.array(client["input"], dtype=prg.ring_dtype(cfg.bits))
    x = np.array(stream(unhex(client["input_key"]), cfg.dim, cfg.bits), dtype=prg.ring_dtype(
        cfg.bits))  # fmt: skip
    assert hashlib.sha256(x.tobytes()).hexdigest() == client["input_sha256"]
    return x


def message(digest: str | None) -> bytes | None:
    """The bytes stored under ``digest`` in round.json's message table."""
    if digest is None:
        return None
    data = unhex(load("round.json")["messages"][digest])
    assert hashlib.sha256(data).hexdigest() == digest
    return data


def sent_and_delivered(step: Json) -> tuple[bytes, bytes | None]:
    data = message(step["message_sha256"])
    assert data is not None
    if "delivered_sha256" in step:
        return data, message(step["delivered_sha256"])
    return data, data


def replay(case: Json) -> tuple[Server, dict[int, AbortReason], RoundConfig, Json]:
    """Drive fresh clients and a server through the transcript, checking every message the
    library produces against the recorded bytes."""
    cfg, party = party_of(case["party"])
    clients: dict[int, Client] = {}
    for c in party["clients"]:
        rand = unhex(c["rand"])
        assert len(rand) == rand_size(cfg) == 96 + 2 * (cfg.threshold - 1) * 9 * 16
        key = SigningKey.from_secret(unhex(c["signing_secret"])) if "signing_secret" in c else None
        clients[c["id"]] = Client(cfg, c["id"], client_input(cfg, c), rand, signing_key=key)
    server = Server(cfg)
    prompts: dict[int, bytes] = {}
    pending: list[tuple[int, bytes]] = []
    aborts: dict[int, AbortReason] = {}
    steps = case["transcript"]
    for i, step in enumerate(steps):
        kind = step["step"]
        if kind == "message":
            data, delivered = sent_and_delivered(step)
            if step.get("injected"):
                if step["recipient"] == SERVER:
                    server.receive(step["sender"], data)
                else:
                    prompts[step["recipient"]] = data
            elif step["sender"] != SERVER:
                u = step["sender"]
                if step["round"] == "advertise_keys":
                    sent = clients[u].start()
                else:
                    sent = clients[u].handle(prompts.pop(u))
                assert sent == data, f"step {i}: client {u} sent other bytes"
                assert wire.MessageType(sent[5]).name == step["type"]
                if delivered is not None:
                    server.receive(u, delivered)
            else:
                recipient, sent = pending.pop(0)
                assert recipient == step["recipient"] and sent == data, f"step {i}"
                assert wire.MessageType(sent[5]).name == step["type"]
                if delivered is not None:
                    prompts[recipient] = delivered
        elif kind == "advance":
            assert not pending and server.phase.value == step["round"]
            if i + 1 < len(steps) and steps[i + 1]["step"] == "server_abort":
                expected = steps[i + 1]
                with pytest.raises(ProtocolAbort) as info:
                    server.advance()
                assert info.value.reason is AbortReason[expected["reason"]]
                assert int(info.value.reason) == expected["reason_code"]
                assert info.value.culprit == expected["culprit"]
            else:
                pending = list(server.advance())
                prompts = {}
        elif kind == "client_abort":
            u = step["client"]
            with pytest.raises(ClientAbort) as client_info:
                clients[u].handle(prompts.pop(u))
            assert client_info.value.reason is AbortReason[step["reason"]]
            assert int(client_info.value.reason) == step["reason_code"]
            aborts[u] = client_info.value.reason
        elif kind == "client_silent":
            u = step["client"]
            assert u in aborts
            with pytest.raises(StateError):
                clients[u].handle(prompts.pop(u))
        else:
            assert kind == "server_abort" and steps[i - 1]["step"] == "advance"
    assert not pending
    return server, aborts, cfg, party


@pytest.mark.parametrize("case", cases("round.json"), ids=ids)
def test_round_replay(case: Json) -> None:
    server, aborts, cfg, party = replay(case)
    drops = [
        {"client": d.client, "phase": d.phase.value, "reason": d.reason.name,
         "reason_code": int(d.reason)}
        for d in server.drops
    ]  # fmt: skip
    assert drops == case["drops"]
    assert [(u, r.name) for u, r in aborts.items()] == [
        (a["client"], a["reason"]) for a in case["client_aborts"]
    ]
    if case["result"] is None:
        assert server.result is None and server.abort is not None
        assert case["abort"]["reason"] == server.abort.reason.name
        assert case["abort"]["culprit"] == server.abort.culprit
    else:
        assert server.result is not None and case["abort"] is None
        result = case["result"]
        assert list(server.result.survivors) == result["u3"]
        assert list(server.result.responders) == result["u4"]
        total = np.zeros(cfg.dim, dtype=object)
        for c in party["clients"]:
            if c["id"] in result["u3"]:
                total = total + client_input(cfg, c).astype(object)
        expected = np.array(total % cfg.modulus, dtype=prg.ring_dtype(cfg.bits))
        assert np.array_equal(server.result.vector, expected)
        if "aggregate" in result:
            assert ints(server.result.vector) == result["aggregate"]
        else:
            assert hashlib.sha256(expected.tobytes()).hexdigest() == result["aggregate_sha256"]
    if not case["success"]:
        reason = case["reason"]
        if case["error"] == "Drop":
            assert any(d["client"] == case["client"] and d["reason"] == reason for d in drops)
        elif case["error"] == "ClientAbort":
            assert aborts[case["client"]].name == reason
        else:
            assert case["error"] == "ProtocolAbort"
            assert server.abort is not None and server.abort.reason.name == reason
            assert server.abort.culprit == case["culprit"]


def delivered(case: Json, type_name: str) -> dict[tuple[int, int], bytes]:
    out = {}
    for step in case["transcript"]:
        if step["step"] == "message" and step["type"] == type_name:
            _, data = sent_and_delivered(step)
            if data is not None:
                out[(step["sender"], step["recipient"])] = data
    return out


@pytest.mark.parametrize("case", cases("round.json"), ids=ids)
def test_round_prompt_echo(case: Json) -> None:
    """Each delivered reply echoes the digest of the prompt its sender was delivered; the
    server drops a sender with PROMPT_MISMATCH exactly when its delivered, decodable reply
    echoes another digest than that of the prompt the server sent it (SPEC 5.3)."""
    cfg, _ = party_of(case["party"])
    sent: dict[tuple[str, int], bytes] = {}
    got: dict[tuple[str, int], bytes] = {}
    mismatched = set()
    for step in case["transcript"]:
        if step["step"] != "message":
            continue
        data, arrived = sent_and_delivered(step)
        if step["sender"] == SERVER and step["recipient"] != SERVER:
            if not step.get("injected"):
                sent[(step["round"], step["recipient"])] = data
            if arrived is not None:
                got[(step["round"], step["recipient"])] = arrived
            continue
        kind = wire.MessageType[step["type"]] if step["type"] else None
        if kind not in gen_vectors.REPLY_TO or step.get("injected") or arrived is None:
            continue
        u, key = step["sender"], (step["round"], step["sender"])
        # What the client sent echoes what it was delivered (an injected prompt or the
        # server's, possibly altered).
        assert data[48:80] == got[key][-32:]
        try:
            echo = decode_as(step["type"], arrived, cfg, u, SERVER).prompt
        except DecodeError:
            continue
        if echo != sent[key][-32:]:
            mismatched.add(u)
    dropped = {d["client"] for d in case["drops"] if d["reason"] == "PROMPT_MISMATCH"}
    assert dropped <= mismatched


# ---- the intermediates of the honest rounds, from the definitions

HONEST = [case for case in cases("round.json") if "intermediates" in case]


def test_honest_rounds_cover_modes_and_graphs() -> None:
    kinds = set()
    for case in HONEST:
        cfg, _ = party_of(case["party"])
        kinds.add((cfg.security.value, cfg.neighbors is None))
        mid = case["intermediates"]
        if cfg.num_clients >= 13:
            u1, u2, u3, u4 = (set(mid[k]) for k in ("u1", "u2", "u3", "u4"))
            assert u1 > u2 > u3 > u4 and len(u4) >= cfg.threshold
    assert kinds == {("semi_honest", True), ("semi_honest", False), ("malicious", True),
                     ("malicious", False)}  # fmt: skip
    large = [c for c in HONEST if party_of(c["party"])[0].dim >= 1000]
    assert large and party_of(large[0]["party"])[0].num_clients >= 20


def vector_matches(entry: Json, key: str, values: list[int], bits: int) -> None:
    if key in entry:
        assert entry[key] == values
    else:
        raw = np.array(values, dtype=prg.ring_dtype(bits)).tobytes()
        assert hashlib.sha256(raw).hexdigest() == entry[key + "_sha256"]
        assert entry[key + "_first"] == values[:8]


@pytest.mark.parametrize("case", HONEST, ids=ids)
def test_honest_round_intermediates(case: Json) -> None:
    """Every intermediate of an honest round, from SPEC 6-10 written out with `cryptography`,
    checked against the recorded messages."""
    cfg, party = party_of(case["party"])
    mid = case["intermediates"]
    sid, t, bits, mod = cfg.session_id, cfg.threshold, cfg.bits, cfg.modulus
    rands = {c["id"]: unhex(c["rand"]) for c in party["clients"]}
    inputs = {c["id"]: ints(client_input(cfg, c)) for c in party["clients"]}
    u1, u2, u3, u4 = mid["u1"], mid["u2"], mid["u3"], mid["u4"]
    assert (u3, u4) == (case["result"]["u3"], case["result"]["u4"])
    n = cfg.num_clients
    neighbors = mid.get("neighborhoods") or [[v for v in range(n) if v != u] for u in range(n)]
    if cfg.neighbors is not None:
        key = prg_key(sid, b"graph")
        draws = stream(key, n, 64)
        order = sorted(range(n), key=lambda i: (draws[i], i))
        half = cfg.neighbors // 2
        for u in range(n):
            pos = order.index(u)
            near = sorted({order[(pos + d) % n] for d in range(-half, half + 1) if d})
            assert near == neighbors[u]

    def holders(u: int) -> list[int]:
        return sorted([u, *neighbors[u]])

    share_keys = delivered(case, "SHARE_KEYS")
    masked = delivered(case, "MASKED_INPUT")
    responses = delivered(case, "UNMASK_RESPONSE")
    by_id = {c["id"]: c for c in mid["clients"]}
    for u, c in by_id.items():
        rand = rands[u]
        assert (c["c_secret"], c["s_secret"], c["self_mask_seed"]) == (
            rand[0:32].hex(), rand[32:64].hex(), rand[64:96].hex())  # fmt: skip
        assert c["c_public"] == x25519_public(rand[0:32]).hex()
        assert c["s_public"] == x25519_public(rand[32:64]).hex()
        if "holders" not in c:
            continue
        assert c["holders"] == [h for h in holders(u) if h in u1]
        for i, h in enumerate(c["holders"]):
            key_share, mask_share = (encode_limbs(v) for v in share_limbs(
                [rand[32:64], rand[64:96]], rand[96:], t, h + 1))  # fmt: skip
            assert (c["key_shares"][i], c["mask_shares"][i]) == (key_share.hex(), mask_share.hex())
            assert c["key_commitments"][i] == commitment(sid, u, h, 0, key_share).hex()
            assert c["mask_commitments"][i] == commitment(sid, u, h, 1, mask_share).hex()
        c_b = labeled_sha256(V + b"self-mask-commit", sid, struct.pack(">I", u), rand[64:96])
        assert c["self_mask_commitment"] == c_b.hex()
        body = share_keys[(u, SERVER)][48:-32]
        assert body[32:64] == c_b
    for ct in mid["share_ciphertexts"]:
        u, v = ct["sender"], ct["recipient"]
        shared = x25519(rands[u][0:32], x25519_public(rands[v][0:32]))
        assert shared.hex() == ct["c_agreement"]
        key = share_key(shared, sid, u, v)
        ad = V + b"share" + sid + struct.pack(">II", u, v)
        i = by_id[u]["holders"].index(v)
        text = struct.pack(">II", u, v) + unhex(by_id[u]["key_shares"][i]) + unhex(
            by_id[u]["mask_shares"][i])  # fmt: skip
        sealed = AESGCM(key).encrypt(bytes(12), text, ad)
        assert (key.hex(), ad.hex(), text.hex(), sealed.hex()) == (
            ct["key"], ct["associated_data"], ct["plaintext"], ct["ciphertext"])  # fmt: skip
        sent = dict(wire.decode_share_keys(share_keys[(u, SERVER)], cfg, u).ciphertexts)
        assert sent[v] == sealed
    masks: dict[tuple[int, int], list[int]] = {}
    for pm in mid["pair_masks"]:
        u, v = pm["u"], pm["v"]
        assert u < v and v in neighbors[u] and u in u2 and v in u2
        shared = x25519(rands[u][32:64], x25519_public(rands[v][32:64]))
        key = hkdf(shared, sid, V + b"pair-mask" + struct.pack(">II", u, v))
        assert (shared.hex(), key.hex()) == (pm["s_agreement"], pm["key"])
        masks[(u, v)] = stream(key, cfg.dim, bits)
        vector_matches(pm, "mask", masks[(u, v)], bits)
    self_masks = {}
    for sm in mid["self_masks"]:
        u = sm["client"]
        key = hkdf(rands[u][64:96], sid, V + b"self-mask" + struct.pack(">I", u))
        assert key.hex() == sm["key"]
        self_masks[u] = stream(key, cfg.dim, bits)
        vector_matches(sm, "mask", self_masks[u], bits)
    total = [0] * cfg.dim
    assert [m["client"] for m in mid["masked_inputs"]] == u3
    for entry in mid["masked_inputs"]:
        u = entry["client"]
        y = [a + b for a, b in zip(inputs[u], self_masks[u], strict=True)]
        for v in neighbors[u]:
            if v in u2:
                mask = masks[(min(u, v), max(u, v))]
                y = [a + (m if u < v else -m) for a, m in zip(y, mask, strict=True)]
        y = [a % mod for a in y]
        vector_matches(entry, "y", y, bits)
        assert ints(wire.decode_masked_input(masked[(u, SERVER)], cfg, u).vector) == y
        total = [a + b for a, b in zip(total, y, strict=True)]
    vector_matches(mid, "masked_sum", [a % mod for a in total], bits)
    # The rebuilt secrets: b_z for U3, then s_z^SK for U2 \ U3, each from the t lowest ids of
    # V(z) ∩ U4 (no accusations in an honest round: V(z) = H(z) ∩ U2).
    book: dict[tuple[int, int], dict[int, bytes]] = {}
    for (v, _), data in responses.items():
        for z, share_kind, value in wire.decode_unmask_response(data, cfg, v).shares:
            book.setdefault((z, int(share_kind)), {})[v] = value
    order_ = [(z, 1) for z in u3] + [(z, 0) for z in u2 if z not in u3]
    assert [(r["owner"], wire.ShareKind[r["kind"]]) for r in mid["rebuilt"]] == order_
    unmasked = list(total)
    for rec in mid["rebuilt"]:
        z, kind = rec["owner"], int(wire.ShareKind[rec["kind"]])
        used = [h for h in holders(z) if h in u2 and h in u4][:t]
        assert rec["holders"] == used
        xs = [h + 1 for h in used]
        assert rec["lagrange"] == lagrange(xs)
        shares = [book[(z, kind)][h] for h in used]
        assert rec["shares"] == [s.hex() for s in shares]
        secret = secret_of(rebuild(xs, shares))
        assert secret is not None and secret.hex() == rec["secret"]
        assert secret == (rands[z][64:96] if kind else rands[z][32:64])
        if kind == 1:
            unmasked = [a - b for a, b in zip(unmasked, self_masks[z], strict=True)]
        else:
            for v in neighbors[z]:
                if v in u3:
                    mask = masks[(min(z, v), max(z, v))]
                    unmasked = [
                        a - (m if v < z else -m) for a, m in zip(unmasked, mask, strict=True)
                    ]
    aggregate = [a % mod for a in unmasked]
    plain = [sum(inputs[u][i] for u in u3) % mod for i in range(cfg.dim)]
    assert aggregate == plain
    vector_matches(case["result"], "aggregate", plain, bits)
