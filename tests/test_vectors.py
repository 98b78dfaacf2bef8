"""Replay protocol/vectors/*.json against the library, byte for byte.

Each vector family is checked twice where that is cheap: once through the library's own API and
once from the definition in protocol/SPEC.md written out here with `cryptography` and `hashlib`
directly (HKDF, AES-CTR, AES-GCM, SHA-256), so a change that breaks the specification fails even
if the library and the vectors were regenerated together. protocol/wire-schema.json is checked
against the library's constants and used to parse every recorded message generically.
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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secagg.config import MAX_CLIENTS, MAX_DIM, PROTOCOL_VERSION, RoundConfig
from secagg.core import wire
from secagg.core.client import Client, rand_size
from secagg.core.server import Server
from secagg.crypto import aead, kdf, prg, shamir
from secagg.crypto.commit import COMMITMENT_SIZE, share_commitment
from secagg.crypto.hashing import sha256
from secagg.crypto.keys import KeyAgreementError, KeyPair, agree, fingerprint, is_valid_public
from secagg.errors import (
    AbortReason,
    ClientAbort,
    DecodeError,
    DropReason,
    ProtocolAbort,
)

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocol"
VECTORS = PROTOCOL / "vectors"
sys.path.insert(0, str(PROTOCOL))

import gen_vectors  # noqa: E402

Json = dict[str, Any]
SERVER = wire.SERVER_ID
FILES = (
    "kdf.json",
    "prg.json",
    "shamir.json",
    "commit.json",
    "aead.json",
    "wire.json",
    "round.json",
)
COMMIT_LABEL = b"secagg/v1/share-commit"
DIGEST_LABEL = b"secagg/v1/digest"
REPLY_TO = {
    "SHARE_KEYS": "KEY_LIST",
    "MASKED_INPUT": "SHARE_FORWARD",
    "UNMASK_RESPONSE": "UNMASK_REQUEST",
}
"""Each client reply and the server prompt whose digest it echoes (SPEC.md 5.7)."""


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


def config_of(data: Json) -> RoundConfig:
    return RoundConfig(
        num_clients=data["num_clients"],
        threshold=data["threshold"],
        dim=data["dim"],
        bits=data["bits"],
        session_nonce=bytes.fromhex(data["session_nonce"]),
    )


def unhex(value: str) -> bytes:
    return bytes.fromhex(value)


def ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def field(value: int) -> str:
    return value.to_bytes(33, "big").hex()


def hkdf(ikm: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def labeled_sha256(label: bytes, *parts: bytes) -> bytes:
    h = hashlib.sha256(len(label).to_bytes(2, "big") + label)
    for part in parts:
        h.update(part)
    return h.digest()


def every_case() -> Iterator[tuple[str, Json]]:
    for name in FILES:
        for value in load(name).values():
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and "name" in item:
                        yield name, item


# --------------------------------------------------------------------------- all files


def test_files_are_versioned_and_described() -> None:
    for name in FILES:
        data = load(name)
        assert data["version"] == PROTOCOL_VERSION
        assert isinstance(data["description"], str) and len(data["description"]) > 100


def test_bad_cases_are_marked_as_failures() -> None:
    names = [case["name"] for _, case in every_case()]
    assert len(names) == len(set(names)), "case names must be unique within the vectors"
    bad = 0
    for _, case in every_case():
        if "_bad_" in case["name"]:
            bad += 1
            assert case["success"] is False
            assert case["error"]
        elif "success" in case:
            assert case["success"] is True
    assert bad >= 60


@pytest.mark.parametrize(
    ("heading", "name"),
    [
        ("An annotated example", "advertise_keys"),
        ("A second annotated example", "share_keys"),
        ("A third annotated example", "masked_input_b8"),
    ],
)
def test_spec_example_is_the_vector(heading: str, name: str) -> None:
    """The annotated messages at the end of SPEC.md are byte for byte the wire.json cases."""
    text = (PROTOCOL / "SPEC.md").read_text(encoding="utf-8")
    block = text.split(heading)[1].split("```")[1]
    example = "".join(line.split()[0] for line in block.strip().splitlines())
    (case,) = [c for c in cases("wire.json") if c["name"] == name]
    assert example == case["message"]


def test_generator_reproduces_committed_files() -> None:
    built = gen_vectors.build_all()
    assert sorted(built) == sorted(FILES)
    assert sorted(path.name for path in VECTORS.glob("*.json")) == sorted(FILES)
    for name, text in built.items():
        assert text == (VECTORS / name).read_text(encoding="utf-8"), f"{name} drifted"


# --------------------------------------------------------------------------- kdf.json


@pytest.mark.parametrize("case", cases("kdf.json", "sessions"), ids=ids)
def test_session_id(case: Json) -> None:
    data = case["config"]
    cfg = config_of(data)
    encoded = unhex(data["encoded"])
    assert cfg.encode() == encoded
    assert len(encoded) == 46
    assert encoded == struct.pack(
        ">BIIIB", 1, data["num_clients"], data["threshold"], data["dim"], data["bits"]
    ) + unhex(data["session_nonce"])
    assert cfg.session_id.hex() == data["session_id"]
    assert labeled_sha256(b"secagg/v1/session", encoded).hex() == data["session_id"]


@pytest.mark.parametrize("case", cases("kdf.json", "labeled_sha256"), ids=ids)
def test_labeled_sha256(case: Json) -> None:
    label, parts = unhex(case["label"]), [unhex(p) for p in case["parts"]]
    assert sha256(label, *parts).hex() == case["output"]
    assert labeled_sha256(label, *parts).hex() == case["output"]


@pytest.mark.parametrize("case", cases("kdf.json", "x25519_keypairs"), ids=ids)
def test_x25519_keypair(case: Json) -> None:
    assert KeyPair.from_secret(unhex(case["secret"])).public.hex() == case["public"]


@pytest.mark.parametrize("case", cases("kdf.json", "x25519_fingerprints"), ids=ids)
def test_x25519_fingerprint(case: Json) -> None:
    public = unhex(case["public"])
    got = fingerprint(public)
    assert (None if got is None else got.hex()) == case["fingerprint"]
    assert is_valid_public(public) is (case["fingerprint"] is not None)


def test_inverse_aliases_share_their_fingerprint() -> None:
    by_name = {c["name"]: c["fingerprint"] for c in cases("kdf.json", "x25519_fingerprints")}
    aliases = [n for n in by_name if n.endswith("_inverse_alias")]
    assert len(aliases) == 3
    for name in aliases:
        assert by_name[name] == by_name[name.removesuffix("_inverse_alias")] is not None


@pytest.mark.parametrize("case", cases("kdf.json", "x25519_agreements"), ids=ids)
def test_x25519_agreement(case: Json) -> None:
    secret, peer = unhex(case["secret"]), unhex(case["peer_public"])
    if case["success"]:
        assert is_valid_public(peer)
        assert agree(secret, peer).hex() == case["shared_secret"]
        assert KeyPair.from_secret(secret).agree(peer).hex() == case["shared_secret"]
    else:
        assert case["error"] == "KeyAgreementError"
        assert not is_valid_public(peer)
        with pytest.raises(KeyAgreementError):
            agree(secret, peer)


@pytest.mark.parametrize("case", cases("kdf.json", "hkdf"), ids=ids)
def test_hkdf(case: Json) -> None:
    shared, salt, info = unhex(case["shared_secret"]), unhex(case["salt"]), unhex(case["info"])
    if case["function"] == "pair_mask_seed":
        u, v = case["u"], case["v"]
        assert info == b"secagg/v1/pair-mask-seed" + struct.pack(">II", min(u, v), max(u, v))
        for a, b in ((u, v), (v, u)):
            out = kdf.pair_mask_seed(shared, session_id=salt, u=a, v=b)
            assert out.hex() == case["output"]
    else:
        sender, recipient = case["sender"], case["recipient"]
        assert info == b"secagg/v1/share-enc" + struct.pack(">II", sender, recipient)
        out = kdf.share_encryption_key(shared, session_id=salt, sender=sender, recipient=recipient)
        assert out.hex() == case["output"]
    assert hkdf(shared, salt, info).hex() == case["output"]


# --------------------------------------------------------------------------- prg.json


@pytest.mark.parametrize("case", cases("prg.json"), ids=ids)
def test_prg(case: Json) -> None:
    seed, label = unhex(case["seed"]), case["label"].encode()
    bits, start, length = case["bits"], case["start"], case["length"]
    out = prg.expand(seed, length, bits, label=label, start=start)
    assert ints(out[:16]) == case["first"]
    assert hashlib.sha256(out.tobytes()).hexdigest() == case["sha256"]
    # From the definition: HKDF key, AES-256-CTR from block 0, little-endian words mod 2^b.
    key = hkdf(seed, None, b"secagg/v1/prg/" + label)
    assert prg.prg_key(seed, label) == key
    assert key.hex() == case["key"]
    width = 4 if bits <= 32 else 8
    first_block, skip = divmod(start * width, 16)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(first_block.to_bytes(16, "big"))).encryptor()
    stream = encryptor.update(bytes(skip + length * width))[skip:]
    words = np.frombuffer(stream, dtype="<u4" if width == 4 else "<u8")
    expected = words & np.array((1 << bits) - 1, dtype=words.dtype)
    assert np.array_equal(expected, out)


# --------------------------------------------------------------------------- shamir.json


@pytest.mark.parametrize("case", cases("shamir.json"), ids=ids)
def test_shamir_share_and_reconstruct(case: Json) -> None:
    secrets = [unhex(s) for s in case["secrets"]]
    t, xs, rand = case["threshold"], case["xs"], unhex(case["rand"])
    assert len(rand) == len(secrets) * (t - 1) * 48
    shares = shamir.share(secrets, xs, t, rand)
    assert [[field(v) for v in row] for row in shares] == case["shares"]
    p = shamir.PRIME
    assert p == (1 << 256) + 297
    for k, secret in enumerate(secrets):
        chunk = rand[k * (t - 1) * 48 : (k + 1) * (t - 1) * 48]
        coeffs = [int.from_bytes(secret, "big")] + [
            int.from_bytes(chunk[i * 48 : (i + 1) * 48], "big") % p for i in range(t - 1)
        ]
        assert [field(c) for c in coeffs] == case["coefficients"][k]
        values = [sum(c * pow(x, i, p) for i, c in enumerate(coeffs)) % p for x in xs]
        assert [field(v) for v in values] == case["shares"][k]
    for rec in case["reconstructions"]:
        subset = tuple(rec["xs"])
        assert [field(c) for c in shamir.lagrange_at_zero(subset)] == rec["lagrange"]
        for k, secret_hex in enumerate(rec["secrets"]):
            points = [(x, int(case["shares"][k][xs.index(x)], 16)) for x in subset]
            assert shamir.secret_bytes(shamir.reconstruct(points)).hex() == secret_hex
            assert secret_hex == case["secrets"][k]


@pytest.mark.parametrize("case", cases("shamir.json", "decode"), ids=ids)
def test_shamir_decode(case: Json) -> None:
    raw = unhex(case["share"])
    if case["success"]:
        value = shamir.decode_share(raw)
        assert field(value) == case["value"]
        assert shamir.encode_share(value) == raw
    else:
        with pytest.raises(ValueError):
            shamir.decode_share(raw)


@pytest.mark.parametrize("case", cases("shamir.json", "secret_bytes"), ids=ids)
def test_shamir_secret_out_of_range(case: Json) -> None:
    points = [(pt["x"], int(pt["share"], 16)) for pt in case["points"]]
    value = shamir.reconstruct(points)
    assert field(value) == case["value"]
    with pytest.raises(ValueError):
        shamir.secret_bytes(value)


# --------------------------------------------------------------------------- commit.json


def commitment(session_id: bytes, owner: int, holder: int, kind: int, share: int) -> bytes:
    """SPEC.md 8.2, from the definition."""
    return labeled_sha256(
        COMMIT_LABEL,
        session_id,
        struct.pack(">IIB", owner, holder, kind),
        share.to_bytes(33, "big"),
    )


@pytest.mark.parametrize("case", cases("commit.json"), ids=ids)
def test_share_commitment(case: Json) -> None:
    sid, owner, holder = unhex(case["session_id"]), case["owner"], case["holder"]
    kind, share = wire.ShareKind[case["kind"]], int(case["share"], 16)
    preimage = unhex(case["input"])
    assert preimage == sid + struct.pack(">IIB", owner, holder, kind) + unhex(case["share"])
    assert len(preimage) == 74
    out = share_commitment(sid, owner, holder, kind, share)
    assert out.hex() == case["commitment"] and len(out) == COMMITMENT_SIZE
    assert commitment(sid, owner, holder, kind, share).hex() == case["commitment"]
    assert labeled_sha256(COMMIT_LABEL, preimage).hex() == case["commitment"]


@pytest.mark.parametrize("case", cases("commit.json", "lists"), ids=ids)
def test_share_commitment_list(case: Json) -> None:
    sid, owner, t = unhex(case["session_id"]), case["owner"], case["threshold"]
    holders = case["holders"]
    key_shares, mask_shares = shamir.share(
        [unhex(x) for x in case["secrets"]], [v + 1 for v in holders], t, unhex(case["rand"])
    )
    assert [field(v) for v in key_shares] == case["key_shares"]
    assert [field(v) for v in mask_shares] == case["mask_shares"]
    expected = [
        {
            "holder": v,
            "c_key": commitment(sid, owner, v, 0, key_shares[j]).hex(),
            "c_mask": commitment(sid, owner, v, 1, mask_shares[j]).hex(),
        }
        for j, v in enumerate(holders)
    ]
    assert case["commitments"] == expected
    encoded = struct.pack(">I", len(expected)) + b"".join(
        struct.pack(">I", e["holder"]) + unhex(e["c_key"]) + unhex(e["c_mask"]) for e in expected
    )
    assert encoded.hex() == case["encoded"]
    # The same bytes are the second list of a SHARE_KEYS body (wire-schema.json).
    entry = schema()["structs"]["commitment_entry"]
    parsed = [read_fields(entry["fields"], encoded, 4 + i * entry["size"])[0] for i in range(4)]
    assert parsed == expected


@pytest.mark.parametrize("case", cases("commit.json", "verify"), ids=ids)
def test_share_commitment_check(case: Json) -> None:
    sid, owner, holder = unhex(case["session_id"]), case["owner"], case["holder"]
    kind, share = wire.ShareKind[case["kind"]], int(case["share"], 16)
    matches = share_commitment(sid, owner, holder, kind, share).hex() == case["commitment"]
    assert matches == (commitment(sid, owner, holder, kind, share).hex() == case["commitment"])
    assert matches is case["success"]
    if not case["success"]:
        assert case["error"] == "Drop"
        assert DropReason[case["reason"]] is DropReason.BAD_SHARE
        assert case["reason_code"] == 8


# --------------------------------------------------------------------------- aead.json


@pytest.mark.parametrize("case", cases("aead.json"), ids=ids)
def test_aead(case: Json) -> None:
    key, ad, ciphertext = (
        unhex(case["key"]),
        unhex(case["associated_data"]),
        unhex(case["ciphertext"]),
    )
    nonce = unhex(case["nonce"])
    assert nonce == bytes(12)
    if case["success"]:
        session_id, sender, recipient = unhex(case["session_id"]), case["sender"], case["recipient"]
        assert aead.associated_data(session_id, sender, recipient) == ad
        assert ad == b"secagg/v1/share" + session_id + struct.pack(">II", sender, recipient)
        plaintext = unhex(case["plaintext"])
        assert plaintext[:8] == struct.pack(">II", sender, recipient)
        assert aead.seal(key, plaintext, ad) == ciphertext
        assert AESGCM(key).encrypt(nonce, plaintext, ad) == ciphertext
        assert aead.open_(key, ciphertext, ad) == plaintext
        assert len(ciphertext) == wire.SHARE_CIPHERTEXT_SIZE
    else:
        assert case["error"] == "AuthenticationError"
        with pytest.raises(aead.AuthenticationError):
            aead.open_(key, ciphertext, ad)


# --------------------------------------------------------------------------- wire.json


def decode_as(type_name: str, data: bytes, cfg: RoundConfig, sender: int, recipient: int) -> Any:
    """The library decoder for ``type_name`` on the channel sender -> recipient."""
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
    raise AssertionError(type_name)


def encode_fields(
    type_name: str, fields: Json, cfg: RoundConfig, sender: int, recipient: int
) -> bytes:
    """Build the message from the decoded fields of a vector, with the library's encoders."""
    if type_name == "ADVERTISE_KEYS":
        msg = wire.AdvertiseKeys(unhex(fields["c_public"]), unhex(fields["s_public"]))
        return wire.encode_advertise_keys(cfg, sender, msg)
    if type_name == "KEY_LIST":
        entries = tuple(
            wire.KeyEntry(e["client"], unhex(e["c_public"]), unhex(e["s_public"]))
            for e in fields["entries"]
        )
        return wire.encode_key_list(cfg, recipient, wire.KeyList(entries))
    if type_name in ("SHARE_KEYS", "SHARE_FORWARD"):
        items = tuple((c["peer"], unhex(c["ciphertext"])) for c in fields["ciphertexts"])
        if type_name == "SHARE_KEYS":
            commitments = tuple(
                (c["holder"], unhex(c["c_key"]), unhex(c["c_mask"])) for c in fields["commitments"]
            )
            share_keys = wire.ShareKeys(items, commitments, unhex(fields["prompt"]))
            return wire.encode_share_keys(cfg, sender, share_keys)
        return wire.encode_share_forward(cfg, recipient, wire.ShareForward(items))
    if type_name == "MASKED_INPUT":
        vector = np.array(fields["vector"], dtype=prg.ring_dtype(cfg.bits))
        masked = wire.MaskedInput(vector, unhex(fields["prompt"]))
        return wire.encode_masked_input(cfg, sender, masked)
    if type_name == "UNMASK_REQUEST":
        request = wire.UnmaskRequest(tuple(fields["survivors"]))
        return wire.encode_unmask_request(cfg, recipient, request)
    if type_name == "UNMASK_RESPONSE":
        shares = tuple(
            (s["peer"], wire.ShareKind[s["kind"]], int(s["share"], 16)) for s in fields["shares"]
        )
        response = wire.UnmaskResponse(shares, unhex(fields["prompt"]))
        return wire.encode_unmask_response(cfg, sender, response)
    raise AssertionError(type_name)


def fields_of(msg: Any) -> Json:
    """The vector's field names and encodings for a decoded library message."""
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
            "ciphertexts": [{"peer": p, "ciphertext": c.hex()} for p, c in msg.ciphertexts],
            "commitments": [
                {"holder": v, "c_key": ck.hex(), "c_mask": cm.hex()}
                for v, ck, cm in msg.commitments
            ],
        }
    if isinstance(msg, wire.ShareForward):
        return {"ciphertexts": [{"peer": p, "ciphertext": c.hex()} for p, c in msg.ciphertexts]}
    if isinstance(msg, wire.MaskedInput):
        return {"prompt": msg.prompt.hex(), "vector": ints(msg.vector)}
    if isinstance(msg, wire.UnmaskRequest):
        return {"survivors": list(msg.survivors)}
    if isinstance(msg, wire.UnmaskResponse):
        return {
            "prompt": msg.prompt.hex(),
            "shares": [{"peer": p, "kind": k.name, "share": field(v)} for p, k, v in msg.shares],
        }
    raise AssertionError(type(msg))


@pytest.mark.parametrize("case", cases("wire.json"), ids=ids)
def test_wire_decode(case: Json) -> None:
    cfg = config_of(load("wire.json")["configs"][case["config"]])
    data = unhex(case["message"])
    args = (case["type"], data, cfg, case["sender"], case["recipient"])
    if case["success"]:
        msg = decode_as(*args)
        assert fields_of(msg) == case["decoded"]
        assert (
            encode_fields(case["type"], case["decoded"], cfg, case["sender"], case["recipient"])
            == data
        )
        assert data[5] == wire.MessageType[case["type"]]
    else:
        assert case["error"] == "DecodeError"
        with pytest.raises(DecodeError) as info:
            decode_as(*args)
        assert info.value.reason is DropReason[case["reason"]]
        assert int(info.value.reason) == case["reason_code"]


def test_wire_replies_echo_their_prompt() -> None:
    """Every good reply starts its body with the digest field of the prompt named in 'echoes':
    a prompt of the type it answers, under the same config. When that prompt went to another
    client the reply still decodes, and its note says the server drops it (PROMPT_MISMATCH)."""
    by_name = {case["name"]: case for case in cases("wire.json")}
    replies = [c for c in cases("wire.json") if c["success"] and c["type"] in REPLY_TO]
    assert {c["type"] for c in replies} == set(REPLY_TO)
    others = 0
    for case in replies:
        prompt = by_name[case["echoes"]]
        assert prompt["success"] and prompt["type"] == REPLY_TO[case["type"]]
        assert prompt["config"] == case["config"] and prompt["sender"] == SERVER
        sent, data = unhex(prompt["message"]), unhex(case["message"])
        digest = labeled_sha256(DIGEST_LABEL, sent[:-32])  # from the definition (SPEC.md 4)
        assert sent[-32:] == digest == wire.prompt_digest(sent)
        assert data[wire.HEADER_SIZE : wire.HEADER_SIZE + 32] == digest
        assert case["decoded"]["prompt"] == digest.hex()
        if prompt["recipient"] == case["sender"]:
            assert "note" not in case or "PROMPT_MISMATCH" not in case["note"]
        else:
            others += 1
            assert "PROMPT_MISMATCH" in case["note"]
    assert others == 1


def test_wire_configs() -> None:
    for data in load("wire.json")["configs"].values():
        cfg = config_of(data)
        assert cfg.encode().hex() == data["encoded"]
        assert cfg.session_id.hex() == data["session_id"]


@pytest.mark.parametrize("case", cases("wire.json", "share_plaintexts"), ids=ids)
def test_share_plaintext(case: Json) -> None:
    data, sender, recipient = unhex(case["plaintext"]), case["sender"], case["recipient"]
    if case["success"]:
        key_share, mask_share = wire.decode_share_plaintext(data, sender, recipient)
        assert (field(key_share), field(mask_share)) == (case["key_share"], case["mask_share"])
        assert wire.encode_share_plaintext(sender, recipient, key_share, mask_share) == data
    else:
        with pytest.raises(DecodeError) as info:
            wire.decode_share_plaintext(data, sender, recipient)
        assert info.value.reason is DropReason[case["reason"]]
        assert int(info.value.reason) == case["reason_code"]


# --------------------------------------------------------------------------- round.json


def replay(case: Json) -> tuple[Server, dict[int, AbortReason]]:
    """Drive fresh clients (with the recorded rand) and a server through the transcript,
    checking every message the library produces against the recorded bytes."""
    cfg = config_of(case["config"])
    assert cfg.encode().hex() == case["config"]["encoded"]
    assert cfg.session_id.hex() == case["config"]["session_id"]
    dtype = prg.ring_dtype(cfg.bits)
    clients: dict[int, Client] = {}
    for c in case["clients"]:
        rand = unhex(c["rand"])
        assert len(rand) == rand_size(cfg) == 96 + 2 * (cfg.threshold - 1) * 48
        clients[c["id"]] = Client(cfg, c["id"], np.array(c["input"], dtype=dtype), rand)
    server = Server(cfg)
    prompts: dict[int, bytes] = {}
    pending: list[tuple[int, bytes]] = []
    aborts: dict[int, AbortReason] = {}
    steps = case["transcript"]
    for i, step in enumerate(steps):
        kind = step["step"]
        if kind == "message" and step["sender"] != SERVER:
            assert not pending, "the server's prompts were not all recorded"
            u = step["sender"]
            if step["round"] == "advertise_keys":
                sent = clients[u].start()
            else:
                sent = clients[u].handle(prompts.pop(u))
            assert sent.hex() == step["message"], f"step {i}: client {u} sent other bytes"
            assert wire.MessageType(sent[5]).name == step["type"]
            delivered = step.get("delivered", step["message"])
            if delivered is not None:
                server.receive(u, unhex(delivered))
        elif kind == "message":
            recipient, sent = pending.pop(0)
            assert recipient == step["recipient"]
            assert sent.hex() == step["message"], f"step {i}: server sent other bytes"
            assert wire.MessageType(sent[5]).name == step["type"]
            delivered = step.get("delivered", step["message"])
            if delivered is not None:
                prompts[recipient] = unhex(delivered)
        elif kind == "advance":
            assert server.phase.value == step["round"]
            if i + 1 < len(steps) and steps[i + 1]["step"] == "server_abort":
                with pytest.raises(ProtocolAbort) as info:
                    server.advance()
                assert info.value.reason is AbortReason[steps[i + 1]["reason"]]
                assert int(info.value.reason) == steps[i + 1]["reason_code"]
            else:
                pending = server.advance()
                prompts = {}
        elif kind == "client_abort":
            u = step["client"]
            with pytest.raises(ClientAbort) as client_info:
                clients[u].handle(prompts.pop(u))
            assert client_info.value.reason is AbortReason[step["reason"]]
            assert int(client_info.value.reason) == step["reason_code"]
            aborts[u] = client_info.value.reason
        else:
            assert kind == "server_abort" and steps[i - 1]["step"] == "advance"
    assert not pending
    return server, aborts


@pytest.mark.parametrize("case", cases("round.json"), ids=ids)
def test_round_replay(case: Json) -> None:
    server, aborts = replay(case)
    drops = [
        {
            "client": d.client,
            "phase": d.phase.value,
            "reason": d.reason.name,
            "reason_code": int(d.reason),
        }
        for d in server.drops
    ]
    assert drops == case["drops"]
    assert {u: r.name for u, r in aborts.items()} == {
        a["client"]: a["reason"] for a in case["client_aborts"]
    }
    if case["result"] is None:
        assert server.result is None
        assert server.abort is not None and case["abort"] is not None
        assert server.abort.reason.name == case["abort"]["reason"]
    else:
        assert server.result is not None and case["abort"] is None
        result = case["result"]
        assert list(server.result.survivors) == result["survivors"]
        assert list(server.result.responders) == result["responders"]
        assert ints(server.result.vector) == result["aggregate"]
        inputs = {c["id"]: c["input"] for c in case["clients"]}
        modulus = 1 << case["config"]["bits"]
        plain = [
            sum(inputs[u][i] for u in result["survivors"]) % modulus
            for i in range(case["config"]["dim"])
        ]
        assert plain == result["aggregate"]
    if not case["success"]:
        reason = case["reason"]
        if case["error"] == "Drop":
            assert any(d["client"] == case["client"] and d["reason"] == reason for d in drops)
        elif case["error"] == "ClientAbort":
            assert aborts[case["client"]].name == reason
        else:
            assert case["error"] == "ProtocolAbort"
            assert server.abort is not None and server.abort.reason.name == reason


def delivered(case: Json, type_name: str) -> dict[tuple[int, int], bytes]:
    out = {}
    for step in case["transcript"]:
        if step["step"] == "message" and step["type"] == type_name:
            data = step.get("delivered", step["message"])
            if data is not None:
                out[(step["sender"], step["recipient"])] = unhex(data)
    return out


@pytest.mark.parametrize("case", cases("round.json"), ids=ids)
def test_round_prompt_echo(case: Json) -> None:
    """Every reply echoes the digest of the prompt its sender was delivered, and the server drops
    a client with PROMPT_MISMATCH exactly when the reply it received decodes but echoes another
    digest than that of the prompt it sent this client (SPEC.md 5.7)."""
    cfg = config_of(case["config"])
    sent: dict[tuple[str, int], bytes] = {}
    got: dict[tuple[str, int], bytes] = {}
    mismatched = set()
    for step in case["transcript"]:
        if step["step"] != "message":
            continue
        message, arrived = unhex(step["message"]), step.get("delivered", step["message"])
        if step["sender"] == SERVER:
            sent[(step["round"], step["recipient"])] = message
            if arrived is not None:
                got[(step["round"], step["recipient"])] = unhex(arrived)
            continue
        if step["type"] not in REPLY_TO:
            continue
        u, key = step["sender"], (step["round"], step["sender"])
        assert wire.MessageType(sent[key][5]).name == REPLY_TO[step["type"]]
        own = decode_as(step["type"], message, cfg, u, SERVER)
        assert own.prompt == got[key][-32:] == labeled_sha256(DIGEST_LABEL, got[key][:-32])
        if arrived is None:
            continue
        try:
            received = decode_as(step["type"], unhex(arrived), cfg, u, SERVER)
        except DecodeError:
            continue  # dropped for the decode failure; the echo is not looked at
        if received.prompt != sent[key][-32:]:
            mismatched.add((step["round"], u))
    dropped = {(d["phase"], d["client"]) for d in case["drops"] if d["reason"] == "PROMPT_MISMATCH"}
    assert dropped == mismatched


PROMPT_MISMATCH_ROUNDS = [
    case for case in cases("round.json") if case.get("reason") == DropReason.PROMPT_MISMATCH.name
]


def test_prompt_mismatch_rounds_exist() -> None:
    assert {case["name"] for case in PROMPT_MISMATCH_ROUNDS} == {
        "round_bad_share_keys_prompt_of_other_client",
        "round_bad_masked_input_flipped_prompt",
        "round_bad_unmask_stale_prompt",
        "round_bad_key_list_forged_key",
        "round_bad_forward_ciphertext_removed",
        "round_bad_forward_corrupt_ciphertext",
        "round_bad_unmask_request_altered",
    }


@pytest.mark.parametrize("case", PROMPT_MISMATCH_ROUNDS, ids=ids)
def test_prompt_mismatch_round_drops_only_that_client(case: Json) -> None:
    """The client whose reply echoes another prompt is the only one dropped, and the round still
    completes (test_round_replay checks that the aggregate is the exact sum of the survivors)."""
    assert [(d["client"], d["reason"], d["reason_code"]) for d in case["drops"]] == [
        (case["client"], "PROMPT_MISMATCH", 9)
    ]
    assert case["error"] == "Drop" and case["reason_code"] == 9
    assert not case["client_aborts"] and case["abort"] is None
    result = case["result"]
    assert result is not None and case["client"] not in result["responders"]
    if case["drops"][0]["phase"] != "unmasking":
        assert case["client"] not in result["survivors"]
    assert len(result["responders"]) >= case["config"]["threshold"]


def masked_input(case: Json, u: int, u2: list[int]) -> list[int]:
    """y_u of client u of a round, masked for the view ``u2`` of U2 (SPEC.md 10.4)."""
    cfg = config_of(case["config"])
    rands = {c["id"]: unhex(c["rand"]) for c in case["clients"]}
    (x,) = [c["input"] for c in case["clients"] if c["id"] == u]
    y = np.array(x, dtype=object) + prg.expand(
        rands[u][64:96], cfg.dim, cfg.bits, label=b"self-mask"
    )
    for v in u2:
        if v != u:
            shared = agree(rands[u][32:64], KeyPair.from_secret(rands[v][32:64]).public)
            seed = kdf.pair_mask_seed(shared, session_id=cfg.session_id, u=u, v=v)
            mask = prg.expand(seed, cfg.dim, cfg.bits, label=b"pair-mask").astype(object)
            y = y + (mask if u < v else -mask)
    return ints(y % cfg.modulus)


def test_withheld_ciphertext_changes_the_view() -> None:
    """Why the echo matters: with e_{2,0} withheld from its ShareForward, client 0 masks for the
    view U2 = {0, 1} while the server's U2 is {0, 1, 2}, so its y_0 would leave the mask with
    client 2 in the sum. Its echo gives it away and it is dropped instead."""
    (case,) = [
        c for c in cases("round.json") if c["name"] == "round_bad_forward_ciphertext_removed"
    ]
    cfg = config_of(case["config"])
    y0 = wire.decode_masked_input(delivered(case, "MASKED_INPUT")[(0, SERVER)], cfg, 0)
    assert ints(y0.vector) == masked_input(case, 0, [0, 1]) != masked_input(case, 0, [0, 1, 2])


HONEST = [case for case in cases("round.json") if "intermediates" in case]


def test_honest_rounds_cover_every_dropout_round() -> None:
    silent = {s["round"] for case in HONEST for s in case["silent_from"]}
    assert silent == {"advertise_keys", "share_keys", "masked_input", "unmasking"}
    assert {case["config"]["bits"] for case in HONEST} >= {1, 16, 40, 64}
    main = HONEST[0]["intermediates"]
    # U1 > U2 > U3 > U4 strictly: every kind of dropout happens in the main round.
    assert len(main["u1"]) > len(main["u2"]) > len(main["u3"]) > len(main["u4"])


@pytest.mark.parametrize("case", HONEST, ids=ids)
def test_round_intermediates(case: Json) -> None:
    """Every intermediate value follows from the specification and matches the wire bytes."""
    cfg = config_of(case["config"])
    sid, t, bits, mod = cfg.session_id, cfg.threshold, cfg.bits, cfg.modulus
    mid = case["intermediates"]
    u1, u2, u3, u4 = mid["u1"], mid["u2"], mid["u3"], mid["u4"]
    inputs = {c["id"]: c["input"] for c in case["clients"]}
    rands = {c["id"]: unhex(c["rand"]) for c in case["clients"]}
    clients = {c["id"]: c for c in mid["clients"]}
    share_keys = delivered(case, "SHARE_KEYS")
    masked = delivered(case, "MASKED_INPUT")
    responses = delivered(case, "UNMASK_RESPONSE")
    assert sorted(v for (_, v) in delivered(case, "KEY_LIST")) == u1
    assert sorted(u for (u, _) in share_keys) == u2
    assert sorted(u for (u, _) in masked) == u3 == case["result"]["survivors"]
    assert sorted(u for (u, _) in responses) == u4 == case["result"]["responders"]

    for u, c in clients.items():
        rand = rands[u]
        assert (c["c_secret"], c["s_secret"], c["self_mask_seed"]) == (
            rand[0:32].hex(),
            rand[32:64].hex(),
            rand[64:96].hex(),
        )
        assert KeyPair.from_secret(rand[0:32]).public.hex() == c["c_public"]
        assert KeyPair.from_secret(rand[32:64]).public.hex() == c["s_public"]
        if u in u1:
            assert c["share_holders"] == u1
            shares = shamir.share([rand[32:64], rand[64:96]], [v + 1 for v in u1], t, rand[96:])
            assert [field(v) for v in shares[0]] == c["key_shares"]
            assert [field(v) for v in shares[1]] == c["mask_shares"]
            for kind, row, column in ((0, shares[0], "key_commitments"),
                                      (1, shares[1], "mask_commitments")):  # fmt: skip
                assert [commitment(sid, u, v, kind, row[j]).hex() for j, v in enumerate(u1)] == c[
                    column
                ]
    for u in u2:
        # ShareKeys carries, for every holder v in U1 (u included), C_key and C_mask.
        sent_commitments = wire.decode_share_keys(share_keys[(u, SERVER)], cfg, u).commitments
        assert [(v, ck.hex(), cm.hex()) for v, ck, cm in sent_commitments] == list(
            zip(u1, clients[u]["key_commitments"], clients[u]["mask_commitments"], strict=True)
        )

    for ct in mid["share_ciphertexts"]:
        u, v = ct["sender"], ct["recipient"]
        shared = agree(unhex(clients[u]["c_secret"]), unhex(clients[v]["c_public"]))
        assert shared.hex() == ct["c_shared_secret"]
        key = kdf.share_encryption_key(shared, session_id=sid, sender=u, recipient=v)
        assert key.hex() == ct["key"]
        assert aead.associated_data(sid, u, v).hex() == ct["associated_data"]
        j = u1.index(v)
        plaintext = wire.encode_share_plaintext(
            u, v, int(clients[u]["key_shares"][j], 16), int(clients[u]["mask_shares"][j], 16)
        )
        assert plaintext.hex() == ct["plaintext"]
        sealed = AESGCM(key).encrypt(bytes(12), plaintext, unhex(ct["associated_data"]))
        assert sealed.hex() == ct["ciphertext"]
        sent = dict(wire.decode_share_keys(share_keys[(u, SERVER)], cfg, u).ciphertexts)
        assert sent[v] == sealed
    assert len(mid["share_ciphertexts"]) == len(u2) * (len(u1) - 1)

    masks: dict[tuple[int, int], np.ndarray[Any, Any]] = {}
    for pm in mid["pair_masks"]:
        u, v = pm["u"], pm["v"]
        assert u < v
        shared = agree(unhex(clients[u]["s_secret"]), unhex(clients[v]["s_public"]))
        assert shared.hex() == pm["s_shared_secret"]
        seed = kdf.pair_mask_seed(shared, session_id=sid, u=u, v=v)
        assert seed.hex() == pm["seed"]
        mask = prg.expand(seed, cfg.dim, bits, label=b"pair-mask")
        assert ints(mask) == pm["mask"]
        masks[(u, v)] = np.array(pm["mask"], dtype=object)
    assert len(masks) == len(u2) * (len(u2) - 1) // 2

    total = np.zeros(cfg.dim, dtype=object)
    self_masks = {}
    for u in u2:
        self_masks[u] = np.array(
            ints(prg.expand(rands[u][64:96], cfg.dim, bits, label=b"self-mask")), dtype=object
        )
    for u in u3:
        assert ints(self_masks[u]) == clients[u]["self_mask"]
        # y_u = x_u + PRG(b_u) + sum_{v in U2, v != u} Delta_{u,v} PRG(s_{u,v}), Delta=+1 iff u<v
        y = np.array(inputs[u], dtype=object) + self_masks[u]
        for v in u2:
            if v != u:
                y = y + (masks[(u, v)] if u < v else -masks[(v, u)])
        y = y % mod
        assert ints(y) == clients[u]["masked_input"]
        assert ints(wire.decode_masked_input(masked[(u, SERVER)], cfg, u).vector) == ints(y)
        total = total + y
    assert ints(total % mod) == mid["masked_sum"]

    book: dict[tuple[int, str], dict[int, int]] = {}
    for (v, _), data in responses.items():
        for peer, kind, value in wire.decode_unmask_response(data, cfg, v).shares:
            column = "key_commitments" if kind is wire.ShareKind.KEY else "mask_commitments"
            assert commitment(sid, peer, v, kind, value).hex() == clients[peer][column][u1.index(v)]
            book.setdefault((peer, kind.name), {})[v] = value
    unmasked = np.array(mid["masked_sum"], dtype=object)
    assert [r["client"] for r in mid["reconstructed"]] == u2
    for rec in mid["reconstructed"]:
        u, kind = rec["client"], rec["kind"]
        assert kind == ("SELF_MASK" if u in u3 else "KEY")
        held = book[(u, kind)]
        assert rec["holders"] == sorted(held)[:t]
        value = shamir.reconstruct([(h + 1, held[h]) for h in rec["holders"]])
        secret = shamir.secret_bytes(value)
        assert secret.hex() == rec["secret"]
        if kind == "SELF_MASK":
            assert secret == rands[u][64:96]
            unmasked = unmasked - self_masks[u]
        else:
            assert secret == rands[u][32:64]
            for v in u3:
                unmasked = unmasked - (masks[(v, u)] if v < u else -masks[(u, v)])
    assert ints(unmasked % mod) == case["result"]["aggregate"]


BAD_SHARE_ROUNDS = [
    case for case in cases("round.json") if case.get("reason") == DropReason.BAD_SHARE.name
]


def committed_shares(case: Json) -> dict[tuple[int, int, int], bytes]:
    """(owner, holder, kind) -> commitment, from the delivered ShareKeys of a round."""
    cfg = config_of(case["config"])
    out = {}
    for (u, _), data in delivered(case, "SHARE_KEYS").items():
        for v, ck, cm in wire.decode_share_keys(data, cfg, u).commitments:
            out[(u, v, 0)], out[(u, v, 1)] = ck, cm
    return out


def test_bad_share_rounds_exist() -> None:
    assert {case["name"] for case in BAD_SHARE_ROUNDS} == {
        "round_bad_unmask_bad_share",
        "round_bad_owner_commitment_mismatch",
    }


@pytest.mark.parametrize("case", BAD_SHARE_ROUNDS, ids=ids)
def test_bad_share_round_follows_the_commitments(case: Json) -> None:
    """The dropped responder returned a share that fails its commitment (SPEC.md 8.2, 10.5);
    every other responder's shares pass, and the aggregate is still exact."""
    cfg = config_of(case["config"])
    committed = committed_shares(case)
    for (v, _), data in delivered(case, "UNMASK_RESPONSE").items():
        checks = [
            commitment(cfg.session_id, peer, v, kind, value) == committed[(peer, v, kind)]
            for peer, kind, value in wire.decode_unmask_response(data, cfg, v).shares
        ]
        assert all(checks) is (v != case["client"])
    assert case["result"] is not None
    assert case["client"] not in case["result"]["responders"]
    assert len(case["result"]["responders"]) >= cfg.threshold


def test_inconsistent_owner_round() -> None:
    """Every share matches its commitment, yet the t lowest-id KEY shares of the dropped owner do
    not rebuild the s^SK behind its advertised s^PK: INCONSISTENT_SHARES (SPEC.md 10.5)."""
    (case,) = [
        c for c in cases("round.json") if c["name"] == "round_bad_owner_inconsistent_key_shares"
    ]
    cfg = config_of(case["config"])
    committed = committed_shares(case)
    key_shares: dict[int, int] = {}
    for (v, _), data in delivered(case, "UNMASK_RESPONSE").items():
        for peer, kind, value in wire.decode_unmask_response(data, cfg, v).shares:
            assert commitment(cfg.session_id, peer, v, kind, value) == committed[(peer, v, kind)]
            if peer == 2:
                assert kind is wire.ShareKind.KEY
                key_shares[v] = value
    holders = sorted(key_shares)[: cfg.threshold]
    value = shamir.reconstruct([(h + 1, key_shares[h]) for h in holders])
    (owner,) = [c for c in case["clients"] if c["id"] == 2]
    advertised = KeyPair.from_secret(unhex(owner["rand"])[32:64]).public
    assert value >= 1 << 256 or KeyPair.from_secret(shamir.secret_bytes(value)).public != advertised
    assert case["abort"]["reason"] == AbortReason.INCONSISTENT_SHARES.name


# --------------------------------------------------------------------------- wire-schema.json


@cache
def schema() -> Json:
    data: Json = json.loads((PROTOCOL / "wire-schema.json").read_text(encoding="utf-8"))
    return data


def test_schema_matches_library() -> None:
    s = schema()
    c = s["constants"]
    assert s["version"] == c["protocol_version"] == PROTOCOL_VERSION
    assert unhex(c["magic"]) == wire.MAGIC
    assert c["server_id"] == wire.SERVER_ID
    assert c["header_size"] == wire.HEADER_SIZE
    assert c["digest_size"] == wire.DIGEST_SIZE
    assert c["min_message_size"] == wire.HEADER_SIZE + wire.DIGEST_SIZE
    assert c["public_key_size"] == wire.PUBLIC_KEY_SIZE
    assert c["share_size"] == shamir.SHARE_SIZE
    assert c["share_plaintext_size"] == wire.SHARE_PLAINTEXT_SIZE
    assert c["share_ciphertext_size"] == wire.SHARE_CIPHERTEXT_SIZE
    assert c["aead_tag_size"] == aead.TAG_SIZE
    assert unhex(c["aead_nonce"]) == bytes(12)
    assert c["max_clients"] == MAX_CLIENTS
    assert c["max_dim"] == MAX_DIM
    assert int(c["field_prime"], 16) == shamir.PRIME
    assert c["commitment_size"] == COMMITMENT_SIZE
    labels = s["labels"]
    assert (
        labels["hkdf_info_prefix"].encode() + labels["hkdf_purpose_pair_mask_seed"].encode()
        == (kdf.info(kdf.PURPOSE_MASK, 0, 0)[:-8])
    )
    assert labels["hkdf_purpose_share_encryption_key"].encode() == kdf.PURPOSE_SHARE_ENC
    assert labels["prg_label_self_mask"].encode() == prg.LABEL_SELF_MASK
    assert labels["prg_label_pair_mask"].encode() == prg.LABEL_PAIR_MASK
    assert labels["prg_label_rounding"].encode() == prg.LABEL_ROUNDING
    assert labels["share_commitment"].encode() == COMMIT_LABEL
    preimage = s["structs"]["share_commitment_input"]
    values = {
        "session_id": bytes(range(32)),
        "owner": struct.pack(">I", 5),
        "holder": struct.pack(">I", 7),
        "kind": b"\x01",
        "share": (9).to_bytes(33, "big"),
    }
    assert [f["name"] for f in preimage["fields"]] == list(values)
    assert all(len(values[f["name"]]) == field_size(f) for f in preimage["fields"])
    raw = b"".join(values[f["name"]] for f in preimage["fields"])
    assert labeled_sha256(COMMIT_LABEL, raw) == share_commitment(bytes(range(32)), 5, 7, 1, 9)
    assert aead.associated_data(bytes(32), 0, 0) == labels[
        "share_associated_data"
    ].encode() + bytes(40)
    assert {k: v["value"] for k, v in s["message_types"].items()} == {
        t.name: int(t) for t in wire.MessageType
    }
    reserved = {r["value"] for r in s["reserved_message_types"]}
    assert reserved == {8, 9} and not reserved & {int(t) for t in wire.MessageType}
    assert s["share_kinds"] == {k.name: int(k) for k in wire.ShareKind}
    assert s["drop_reasons"] == {r.name: int(r) for r in DropReason}
    assert s["abort_reasons"] == {r.name: int(r) for r in AbortReason}
    for name, struct_ in s["structs"].items():
        assert struct_["size"] == sum(field_size(f) for f in struct_["fields"]), name
    assert s["round_config"]["size"] == sum(field_size(f) for f in s["round_config"]["fields"])
    assert sum(field_size(f) for f in s["envelope"]["header"]) == wire.HEADER_SIZE
    # max_size = 48 + 32 + max(40 + 162n, 32 + m*w) (SHARE_KEYS or MASKED_INPUT, each with
    # its prompt echo), checked against the library on a few configs.
    assert s["envelope"]["max_size"] == "48 + 32 + max(40 + 162*n, 32 + m*w)"
    for n, m, b in ((1, 1, 1), (4, 4, 8), (3, 1000, 40), (100, 2, 64), (4, 162, 32), (4, 170, 8)):
        cfg = RoundConfig(num_clients=n, threshold=1, dim=m, bits=b, session_nonce=bytes(32))
        assert wire.max_message_size(cfg) == 80 + max(40 + 162 * n, 32 + m * cfg.width)
    # The prompt echo: each reply's body starts with the 32-byte digest of the prompt it answers,
    # and the server compares it before any content rule (SPEC.md 5.7).
    for name, spec in s["message_types"].items():
        prefix = spec["body"].get("prefix", [])
        if name in REPLY_TO:
            assert spec["answers"] == REPLY_TO[name]
            assert [(f["name"], field_size(f)) for f in prefix] == [("prompt", wire.DIGEST_SIZE)]
            first = spec["body"]["content_rules"][0]
            assert first["reason"] == DropReason.PROMPT_MISMATCH.name
        else:
            assert "answers" not in spec and not prefix


def field_size(f: Json) -> int:
    sizes = {"u8": 1, "u16": 2, "u32": 4}
    size: int = f["size"] if f["type"] == "bytes" else sizes[f["type"]]
    return size


def read_fields(fields: list[Json], data: bytes, offset: int) -> tuple[Json, int]:
    out: Json = {}
    for f in fields:
        size = field_size(f)
        raw = data[offset : offset + size]
        assert len(raw) == size
        out[f["name"]] = raw.hex() if f["type"] == "bytes" else int.from_bytes(raw, "big")
        if "value" in f:
            expected = f["value"]
            assert out[f["name"]] == expected, f["name"]
        offset += size
    return out, offset


def schema_parse(data: bytes, cfg: RoundConfig) -> tuple[Json, str, Json]:
    """Parse a message using only wire-schema.json: (header, type name, body fields)."""
    s = schema()
    header, offset = read_fields(s["envelope"]["header"], data, 0)
    assert offset == s["constants"]["header_size"]
    body = data[offset : -s["constants"]["digest_size"]]
    digest_label = s["labels"]["digest"].encode()
    assert labeled_sha256(digest_label, data[:offset], body) == data[-32:]
    assert unhex(header["session_id"]) == cfg.session_id
    type_name = next(k for k, v in s["message_types"].items() if v["value"] == header["type"])
    layout = s["message_types"][type_name]["body"]
    n, width = cfg.num_clients, 4 if cfg.bits <= 32 else 8
    # The fixed prefix (the prompt echo of a reply) comes first; the layout is the rest.
    fields, start = read_fields(layout.get("prefix", []), body, 0)
    rest = body[start:]
    if layout["layout"] == "struct":
        assert len(rest) == layout["size"]
        fields.update(read_fields(layout["fields"], rest, 0)[0])
    elif layout["layout"] == "ring_vector":
        assert len(rest) == cfg.dim * width
        vector = [int.from_bytes(rest[i : i + width], "little") for i in range(0, len(rest), width)]
        assert all(v < 1 << cfg.bits for v in vector)
        fields[layout["field"]] = vector
    else:
        # One list, or several back to back (SHARE_KEYS): each count says where the next begins.
        lists = layout["lists"] if layout["layout"] == "lists" else [layout]
        body, offset = rest, 0
        for spec in lists:
            entry = s["structs"][spec["entry"]]
            count = int.from_bytes(body[offset : offset + 4], "big")
            assert count <= n and len(body) >= offset + 4 + count * entry["size"]
            items = []
            for i in range(count):
                item, _ = read_fields(entry["fields"], body, offset + 4 + i * entry["size"])
                items.append(item)
            offset += 4 + count * entry["size"]
            id_values = [item[spec["id"]] for item in items]
            assert all(v < n for v in id_values) and id_values == sorted(set(id_values))
            fields[spec["field"]] = items
        assert offset == len(body)
    return header, type_name, fields


def schema_shaped(msg: Any) -> Json:
    """A library-decoded message in the shape :func:`schema_parse` yields."""
    if isinstance(msg, wire.UnmaskRequest):
        return {"survivors": [{"client": c} for c in msg.survivors]}
    if isinstance(msg, wire.UnmaskResponse):
        return {
            "prompt": msg.prompt.hex(),
            "shares": [{"peer": p, "kind": int(k), "share": field(v)} for p, k, v in msg.shares],
        }
    return fields_of(msg)


def recorded_messages() -> Iterator[tuple[RoundConfig, bytes, int, int]]:
    wire_configs = load("wire.json")["configs"]
    for case in cases("wire.json"):
        if case["success"]:
            yield (
                config_of(wire_configs[case["config"]]),
                unhex(case["message"]),
                case["sender"],
                case["recipient"],
            )
    for case in HONEST:
        cfg = config_of(case["config"])
        for step in case["transcript"]:
            if step["step"] == "message":
                yield cfg, unhex(step["message"]), step["sender"], step["recipient"]


def test_schema_parses_every_recorded_message() -> None:
    seen = set()
    for cfg, data, sender, recipient in recorded_messages():
        header, type_name, fields = schema_parse(data, cfg)
        assert (header["sender"], header["recipient"]) == (sender, recipient)
        spec = schema()["message_types"][type_name]
        assert (sender == SERVER) == (spec["from"] == "server")
        assert (recipient == SERVER) == (spec["to"] == "server")
        assert len(data) <= wire.max_message_size(cfg)
        msg = decode_as(type_name, data, cfg, sender, recipient)
        assert schema_shaped(msg) == fields
        seen.add(type_name)
    assert seen == {t.name for t in wire.MessageType}
