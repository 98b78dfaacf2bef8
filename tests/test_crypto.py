"""The thin crypto wrappers: labelled hashing (SPEC 1), HKDF derivations (6.2), X25519 and
fingerprints (6.1), AES-GCM share ciphertexts (6.4), commitments (8.3) and the DRBG (7.1),
each against a reference built here from hashlib and `cryptography`."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.core.wire import ShareKind
from secagg.crypto import aead, commit, drbg, hashing, kdf, keys, prg, shamir

bytes32 = st.binary(min_size=32, max_size=32)
client_ids = st.integers(0, 2**32 - 1)

# --------------------------------------------------------------------------- hashing


def test_sha256_prefixes_the_label_length() -> None:
    label = b"secagg/test"
    expected = hashlib.sha256(len(label).to_bytes(2, "big") + label + b"abc" + b"def").digest()
    assert hashing.sha256(label, b"abc", b"def") == expected
    assert hashing.sha256(label, memoryview(b"abcdef")) == expected
    assert hashing.sha256(b"x") == hashlib.sha256(b"\x00\x01x").digest()


@given(label=st.binary(max_size=300), parts=st.lists(st.binary(max_size=50), max_size=5))
@settings(max_examples=50)
def test_labeled_sha256_is_spec_1(label: bytes, parts: list[bytes]) -> None:
    """SHA-256(u16(len(label)) || label || p1 || p2 || ...), the length big-endian."""
    expected = hashlib.sha256(len(label).to_bytes(2, "big") + label + b"".join(parts)).digest()
    assert hashing.sha256(label, *parts) == expected


def test_sha256_label_boundary_is_unambiguous() -> None:
    assert hashing.sha256(b"ab", b"c") != hashing.sha256(b"a", b"bc")
    assert hashing.sha256(b"", b"abc") != hashing.sha256(b"abc")


# --------------------------------------------------------------------------- kdf

SECRET = bytes(range(32))
SESSION = bytes(range(100, 132))


def reference_hkdf(
    ikm: bytes, session: bytes, purpose: bytes, *ids: int, length: int = 32
) -> bytes:
    """SPEC 6.2, with `cryptography`'s HKDF: salt = session_id, info = "secagg/v2/" || purpose
    || u32(id_1) || ..., 32 bytes (64 for the share-encryption pair)."""
    info = b"secagg/v2/" + purpose + b"".join(i.to_bytes(4, "big") for i in ids)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=session, info=info).derive(ikm)


def test_purposes_and_info_layout() -> None:
    assert kdf.PURPOSE_PAIR_MASK == b"pair-mask"
    assert kdf.PURPOSE_SELF_MASK == b"self-mask"
    assert kdf.PURPOSE_SHARE_ENC == b"share-enc"
    assert kdf.info(b"pair-mask", 1, 0x01020304) == (
        b"secagg/v2/pair-mask\x00\x00\x00\x01\x01\x02\x03\x04"
    )
    assert kdf.info(b"self-mask", 7) == b"secagg/v2/self-mask\x00\x00\x00\x07"
    assert kdf.info(b"x") == b"secagg/v2/x"


def test_derive_matches_reference_hkdf() -> None:
    got = kdf.derive(SECRET, session_id=SESSION, purpose=b"p", ids=(3, 9))
    assert got == reference_hkdf(SECRET, SESSION, b"p", 3, 9)
    assert len(got) == kdf.KEY_SIZE == 32


@given(ikm=bytes32, session=bytes32, u=client_ids, v=client_ids)
@settings(max_examples=50)
def test_named_keys_match_spec_6_2(ikm: bytes, session: bytes, u: int, v: int) -> None:
    assert kdf.pair_mask_key(ikm, session_id=session, u=u, v=v) == reference_hkdf(
        ikm, session, b"pair-mask", min(u, v), max(u, v)
    )
    assert kdf.self_mask_key(ikm, session_id=session, u=u) == reference_hkdf(
        ikm, session, b"self-mask", u
    )
    both = reference_hkdf(ikm, session, b"share-enc", min(u, v), max(u, v), length=64)
    up, down = both[:32], both[32:]  # k_{min->max}, then k_{max->min}
    assert kdf.share_encryption_key(ikm, session_id=session, sender=u, recipient=v) == (
        up if u < v else down
    )
    assert kdf.share_encryption_keys(ikm, session_id=session, u=u, v=v) == (
        (up, down) if u < v else (down, up)
    )


def test_mask_keys_are_the_aes_keys_of_the_mask_streams() -> None:
    """SPEC 6.2 and 7.1 end to end: PRG(b_u) is AES-256-CTR from block 0 under
    HKDF(b_u, salt = session_id, info = "secagg/v2/self-mask" || u32(u))."""
    b_u, u = bytes(range(7, 39)), 5
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=SESSION,
        info=b"secagg/v2/self-mask\x00\x00\x00\x05",
    ).derive(b_u)
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(40))
    expected = [int.from_bytes(stream[4 * i : 4 * i + 4], "little") for i in range(10)]
    assert prg.expand(kdf.self_mask_key(b_u, session_id=SESSION, u=u), 10, 32).tolist() == expected


@given(secret=bytes32, session=bytes32, u=client_ids, v=client_ids)
@settings(max_examples=50)
def test_pair_mask_key_is_symmetric(secret: bytes, session: bytes, u: int, v: int) -> None:
    assert kdf.pair_mask_key(secret, session_id=session, u=u, v=v) == kdf.pair_mask_key(
        secret, session_id=session, u=v, v=u
    )


@given(secret=bytes32, session=bytes32, u=client_ids, v=client_ids)
@settings(max_examples=50)
def test_share_encryption_key_is_directional(secret: bytes, session: bytes, u: int, v: int) -> None:
    forward = kdf.share_encryption_key(secret, session_id=session, sender=u, recipient=v)
    backward = kdf.share_encryption_key(secret, session_id=session, sender=v, recipient=u)
    assert (forward == backward) == (u == v)


@given(secret=bytes32, session=bytes32, ids=st.lists(client_ids, min_size=3, max_size=3))
@settings(max_examples=50)
def test_domain_separation(secret: bytes, session: bytes, ids: list[int]) -> None:
    """Every key is bound to its session, its ikm, its ids and its purpose."""
    u, v, w = ids
    if len({u, v, w}) < 3:
        u, v, w = 0, 1, 2
    other_secret = bytes([secret[0] ^ 0x80]) + secret[1:]
    other_session = session[:-1] + bytes([session[-1] ^ 1])
    keys_ = [
        kdf.pair_mask_key(secret, session_id=session, u=u, v=v),
        kdf.pair_mask_key(secret, session_id=session, u=u, v=w),
        kdf.pair_mask_key(secret, session_id=session, u=v, v=w),
        kdf.pair_mask_key(secret, session_id=other_session, u=u, v=v),
        kdf.pair_mask_key(other_secret, session_id=session, u=u, v=v),
        # Same ikm and ids, other purpose: the mask key and the encryption keys differ.
        kdf.share_encryption_key(secret, session_id=session, sender=min(u, v), recipient=max(u, v)),
        kdf.share_encryption_key(secret, session_id=session, sender=max(u, v), recipient=min(u, v)),
        kdf.share_encryption_key(secret, session_id=session, sender=u, recipient=w),
        kdf.share_encryption_key(secret, session_id=other_session, sender=u, recipient=v),
        kdf.self_mask_key(secret, session_id=session, u=u),
        kdf.self_mask_key(secret, session_id=session, u=v),
        kdf.self_mask_key(secret, session_id=other_session, u=u),
        kdf.self_mask_key(other_secret, session_id=session, u=u),
    ]
    assert len(set(keys_)) == len(keys_)


@given(b_u=bytes32, session=bytes32, u=client_ids, v=client_ids)
@settings(max_examples=50)
def test_self_mask_key_is_bound_to_session_and_client(
    b_u: bytes, session: bytes, u: int, v: int
) -> None:
    """A seed b_u that ever repeated would still give unrelated masks in another round or for
    another client; and the self-mask key is not a pair-mask key."""
    key = kdf.self_mask_key(b_u, session_id=session, u=u)
    assert (key == kdf.self_mask_key(b_u, session_id=session, u=v)) == (u == v)
    other_session = bytes([session[0] ^ 1]) + session[1:]
    assert key != kdf.self_mask_key(b_u, session_id=other_session, u=u)
    assert key != kdf.pair_mask_key(b_u, session_id=session, u=u, v=u)
    assert key != b_u


@pytest.mark.parametrize(
    ("secret", "session"),
    [
        (bytes(31), SESSION),
        (bytes(33), SESSION),
        (b"", SESSION),
        (SECRET, bytes(31)),
        (SECRET, bytes(33)),
        (SECRET, b""),
    ],
)
def test_kdf_bad_lengths_raise_value_error(secret: bytes, session: bytes) -> None:
    with pytest.raises(ValueError):
        kdf.derive(secret, session_id=session, purpose=b"p", ids=(0, 1))
    with pytest.raises(ValueError):
        kdf.pair_mask_key(secret, session_id=session, u=0, v=1)
    with pytest.raises(ValueError):
        kdf.self_mask_key(secret, session_id=session, u=0)
    with pytest.raises(ValueError):
        kdf.share_encryption_key(secret, session_id=session, sender=0, recipient=1)


# --------------------------------------------------------------------------- keys

P25519 = 2**255 - 19
# The points of order dividing 8 on Curve25519 and its twist (u-coordinates), as listed by
# libsodium and Bernstein's "Curve25519: new Diffie-Hellman speed records" errata.
_LOW_ORDER_U = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
]
# Canonical encodings, non-canonical ones (u + p for the u that fit in 255 bits), and the same
# with the ignored top bit set: X25519 decoding clears bit 255 and reduces mod p.
LOW_ORDER_ENCODINGS = sorted(
    {
        (value | top).to_bytes(32, "little")
        for u in _LOW_ORDER_U
        for value in ((u, u + P25519) if u + P25519 < 2**255 else (u,))
        for top in (0, 1 << 255)
    }
    | {(P25519 - 1).to_bytes(32, "little"), ((P25519 - 1) | 1 << 255).to_bytes(32, "little")}
)


def test_low_order_list_is_what_it_claims() -> None:
    assert bytes(32) in LOW_ORDER_ENCODINGS
    assert (1).to_bytes(32, "little") in LOW_ORDER_ENCODINGS
    assert P25519.to_bytes(32, "little") in LOW_ORDER_ENCODINGS  # non-canonical 0
    assert (P25519 + 1).to_bytes(32, "little") in LOW_ORDER_ENCODINGS  # non-canonical 1
    # 0, 1, two points of order 8 and p - 1; p and p + 1 (non-canonical); each with bit 255.
    assert len(LOW_ORDER_ENCODINGS) == 14


def reference_public(secret: bytes) -> bytes:
    private = X25519PrivateKey.from_private_bytes(secret)
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@given(a=bytes32, b=bytes32)
@settings(max_examples=25)
def test_agreement_is_symmetric(a: bytes, b: bytes) -> None:
    alice = keys.KeyPair.from_secret(a)
    bob = keys.KeyPair.from_secret(b)
    assert alice.secret == a
    assert alice.public == reference_public(a)
    shared = alice.agree(bob.public)
    assert shared == bob.agree(alice.public)
    assert shared == keys.agree(a, bob.public) == keys.agree(b, alice.public)
    assert len(shared) == 32
    assert shared != bytes(32)


@given(secret=bytes32)
@settings(max_examples=25)
def test_real_public_keys_are_valid(secret: bytes) -> None:
    assert keys.is_valid_public(keys.KeyPair.from_secret(secret).public)


@given(secret=bytes32, peer=bytes32)
@settings(max_examples=25)
def test_public_key_and_fingerprint_are_spec_6_1(secret: bytes, peer: bytes) -> None:
    """The public key is X25519(secret, 9); fp(pk) = X25519(PROBE, pk) with PROBE = 01 02 ..
    20; the secret bytes are used unclamped (X25519 clamps them)."""
    base = X25519PublicKey.from_public_bytes((9).to_bytes(32, "little"))
    public = keys.KeyPair.from_secret(secret).public
    assert public == X25519PrivateKey.from_private_bytes(secret).exchange(base)
    assert keys.KeyPair.from_secret(secret).secret == secret
    probe = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    assert keys.fingerprint(public) == probe.exchange(X25519PublicKey.from_public_bytes(public))
    peer_public = keys.KeyPair.from_secret(peer).public
    assert keys.agree(secret, peer_public) == X25519PrivateKey.from_private_bytes(secret).exchange(
        X25519PublicKey.from_public_bytes(peer_public)
    )


def test_canonical_bound() -> None:
    """SPEC 6.1: read little-endian, a canonical key is < 2^255 - 19."""
    assert keys.is_canonical((P25519 - 1).to_bytes(32, "little"))
    assert not keys.is_canonical(P25519.to_bytes(32, "little"))
    assert not keys.is_canonical((2**255).to_bytes(32, "little"))
    assert not keys.is_canonical(bytes(31))


def test_from_secret_is_deterministic() -> None:
    assert keys.KeyPair.from_secret(SECRET) == keys.KeyPair.from_secret(SECRET)
    assert keys.KeyPair.from_secret(SECRET).public != keys.KeyPair.from_secret(SESSION).public


@pytest.mark.parametrize("point", LOW_ORDER_ENCODINGS, ids=lambda p: p.hex()[:8] + p.hex()[-4:])
def test_low_order_points_are_refused(point: bytes) -> None:
    assert not keys.is_valid_public(point)
    pair = keys.KeyPair.from_secret(SECRET)
    with pytest.raises(keys.KeyAgreementError):
        pair.agree(point)
    with pytest.raises(keys.KeyAgreementError):
        keys.agree(SECRET, point)


@given(secret=bytes32, top=st.booleans(), plus_p=st.booleans())
@settings(max_examples=50)
def test_non_canonical_encodings_of_a_real_key_are_refused(
    secret: bytes, top: bool, plus_p: bool
) -> None:
    """Every other byte string that X25519 decodes to the same point as a real public key
    (bit 255 set, or u + p when that fits in 255 bits) is refused, though OpenSSL accepts it."""
    public = keys.KeyPair.from_secret(secret).public
    u = int.from_bytes(public, "little")
    assert keys.is_canonical(public) and u < P25519
    if plus_p and u + P25519 < 2**255:
        u += P25519
    elif not top:
        top = True  # u + p does not fit: the top bit is the only other encoding
    alias = (u | (1 << 255 if top else 0)).to_bytes(32, "little")
    assert alias != public
    # The same point to X25519: the alias is not a different key, only a different spelling.
    probe = X25519PrivateKey.from_private_bytes(SECRET)
    assert probe.exchange(X25519PublicKey.from_public_bytes(alias)) == keys.agree(SECRET, public)
    assert not keys.is_canonical(alias)
    assert not keys.is_valid_public(alias)
    with pytest.raises(keys.KeyAgreementError):
        keys.agree(SECRET, alias)


@given(a=bytes32, b=bytes32)
@settings(max_examples=25)
def test_fingerprint_identifies_keys_up_to_small_order_aliases(a: bytes, b: bytes) -> None:
    """u -> 1/u adds the point of order 2: a different, canonical, valid u that every agreement
    treats as the same key. Its fingerprint equals the original's; other keys' do not."""
    public = keys.KeyPair.from_secret(a).public
    alias = pow(int.from_bytes(public, "little"), P25519 - 2, P25519).to_bytes(32, "little")
    assert alias != public and keys.is_canonical(alias) and keys.is_valid_public(alias)
    assert keys.agree(b, alias) == keys.agree(b, public)  # why byte comparison is not enough
    assert keys.fingerprint(alias) == keys.fingerprint(public) is not None
    other = keys.KeyPair.from_secret(b).public
    if keys.agree(a, other) != keys.agree(a, public):  # b is a different key (not a's twin)
        assert keys.fingerprint(other) != keys.fingerprint(public)


@pytest.mark.parametrize("point", LOW_ORDER_ENCODINGS, ids=lambda p: p.hex()[:8] + p.hex()[-4:])
def test_fingerprint_refuses_what_agreement_refuses(point: bytes) -> None:
    assert keys.fingerprint(point) is None


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_malformed_public_keys_are_refused(length: int) -> None:
    point = bytes([9]) + bytes(length - 1) if length else b""
    assert not keys.is_valid_public(point)
    with pytest.raises(keys.KeyAgreementError):
        keys.KeyPair.from_secret(SECRET).agree(point)
    with pytest.raises(keys.KeyAgreementError):
        keys.agree(SECRET, point)


def test_key_agreement_error_is_a_value_error() -> None:
    assert issubclass(keys.KeyAgreementError, ValueError)


@pytest.mark.parametrize("secret", ["x" * 32, bytearray(32), memoryview(bytes(32)), 0, None])
def test_from_secret_wrong_type(secret: object) -> None:
    with pytest.raises(TypeError):
        keys.KeyPair.from_secret(secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_from_secret_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        keys.KeyPair.from_secret(bytes(length))


def test_key_pair_repr_hides_the_secret() -> None:
    secret = bytes([0xEE]) * 32
    text = repr(keys.KeyPair.from_secret(secret))
    assert "ee" * 4 not in text.lower()
    assert "\\xee" not in text


# --------------------------------------------------------------------------- aead

KEY = bytes(range(200, 232))
PLAINTEXT = bytes(range(80))  # SPEC 6.4: u32(u) || u32(v) || two 36-byte shares


def ad(session: bytes = SESSION, sender: int = 3, recipient: int = 5) -> bytes:
    return aead.associated_data(session, sender, recipient)


def test_associated_data_is_spec_6_4() -> None:
    """ "secagg/v2/share" || session_id || u32(u) || u32(v): 55 bytes."""
    assert ad() == b"secagg/v2/share" + SESSION + b"\x00\x00\x00\x03\x00\x00\x00\x05"
    assert len(ad()) == 55
    assert aead.associated_data(SESSION, 0xFFFFFFFE, 1)[-8:] == bytes.fromhex("fffffffe00000001")


@given(key=bytes32, plaintext=st.binary(max_size=200), sender=client_ids, recipient=client_ids)
@settings(max_examples=50)
def test_aead_round_trip(key: bytes, plaintext: bytes, sender: int, recipient: int) -> None:
    data = ad(sender=sender, recipient=recipient)
    ciphertext = aead.seal(key, plaintext, data)
    assert len(ciphertext) == len(plaintext) + aead.TAG_SIZE
    assert aead.open_(key, ciphertext, data) == plaintext


def test_share_ciphertext_is_aes_256_gcm_with_a_zero_nonce() -> None:
    """SPEC 6.4: AES-256-GCM, nonce 12 zero bytes; an 80-byte plaintext gives 96 bytes."""
    ciphertext = aead.seal(KEY, PLAINTEXT, ad())
    assert len(ciphertext) == 96
    assert ciphertext == AESGCM(KEY).encrypt(bytes(12), PLAINTEXT, ad())
    # Independently of AESGCM: the ciphertext is the CTR keystream from block J0 + 1,
    # J0 = nonce || 00000001.
    stream = Cipher(algorithms.AES(KEY), modes.CTR(bytes(12) + b"\x00\x00\x00\x02")).encryptor()
    assert ciphertext[:80] == stream.update(PLAINTEXT)


@given(index=st.integers(0, len(PLAINTEXT) + aead.TAG_SIZE - 1), bit=st.integers(0, 7))
@settings(max_examples=60)
def test_any_ciphertext_bit_flip_fails(index: int, bit: int) -> None:
    ciphertext = bytearray(aead.seal(KEY, PLAINTEXT, ad()))
    ciphertext[index] ^= 1 << bit
    with pytest.raises(aead.AuthenticationError):
        aead.open_(KEY, bytes(ciphertext), ad())


@given(cut=st.integers(0, len(PLAINTEXT) + aead.TAG_SIZE - 1), extra=st.binary(max_size=20))
@settings(max_examples=40)
def test_truncated_or_extended_ciphertext_fails(cut: int, extra: bytes) -> None:
    ciphertext = aead.seal(KEY, PLAINTEXT, ad())
    with pytest.raises(aead.AuthenticationError):
        aead.open_(KEY, ciphertext[:cut], ad())
    if extra:
        with pytest.raises(aead.AuthenticationError):
            aead.open_(KEY, ciphertext + extra, ad())


@pytest.mark.parametrize(
    "wrong_ad",
    [
        ad(session=SESSION[:-1] + b"\x00"),
        ad(sender=4),
        ad(recipient=6),
        ad(sender=5, recipient=3),  # swapped: a ciphertext bounced back to its sender
        ad(sender=3 + (1 << 24)),
        b"secagg/v1/share" + SESSION + b"\x00\x00\x00\x03\x00\x00\x00\x05",  # version 1
        b"",
        ad()[:-1],
    ],
)
def test_wrong_associated_data_fails(wrong_ad: bytes) -> None:
    ciphertext = aead.seal(KEY, PLAINTEXT, ad())
    with pytest.raises(aead.AuthenticationError):
        aead.open_(KEY, ciphertext, wrong_ad)


@given(position=st.integers(0, 31), bit=st.integers(0, 7))
@settings(max_examples=30)
def test_wrong_key_fails(position: int, bit: int) -> None:
    ciphertext = aead.seal(KEY, PLAINTEXT, ad())
    wrong = bytearray(KEY)
    wrong[position] ^= 1 << bit
    with pytest.raises(aead.AuthenticationError):
        aead.open_(bytes(wrong), ciphertext, ad())


def test_authentication_error_is_opaque_value_error() -> None:
    assert issubclass(aead.AuthenticationError, ValueError)
    with pytest.raises(aead.AuthenticationError) as info:
        aead.open_(KEY, bytes(96), ad())
    assert KEY.hex()[:8] not in str(info.value)


# --------------------------------------------------------------------------- commitments

SHARE_LABEL = b"secagg/v2/share-commit"
SELF_MASK_LABEL = b"secagg/v2/self-mask-commit"
shares36 = st.one_of(
    st.binary(min_size=36, max_size=36),
    st.lists(st.integers(0, shamir.PRIME - 1), min_size=9, max_size=9).map(
        lambda limbs: b"".join(v.to_bytes(4, "big") for v in limbs)
    ),
)
# The arguments of share_commitment: (session, owner u, holder v, kind, share).
commitment_inputs = {
    "session": bytes32,
    "owner": client_ids,
    "holder": client_ids,
    "kind": st.sampled_from([0, 1]),
    "share": shares36,
}


def reference_commitment(session: bytes, owner: int, holder: int, kind: int, share: bytes) -> bytes:
    """SPEC 8.3 with hashlib: SHA-256(u16(len(label)) || label || session_id || u32(u) ||
    u32(v) || u8(kind) || y (36))."""
    return hashlib.sha256(
        len(SHARE_LABEL).to_bytes(2, "big")
        + SHARE_LABEL
        + session
        + owner.to_bytes(4, "big")
        + holder.to_bytes(4, "big")
        + bytes([kind])
        + share
    ).digest()


def test_share_commitment_known_answer() -> None:
    assert commit.COMMITMENT_SIZE == 32
    share = bytes(range(36))
    got = commit.share_commitment(SESSION, 3, 7, 1, share)
    message = b"\x00\x16secagg/v2/share-commit" + SESSION + bytes.fromhex("000000030000000701")
    assert got == hashlib.sha256(message + share).digest()
    assert len(got) == commit.COMMITMENT_SIZE


@given(**commitment_inputs)
@settings(max_examples=60)
def test_share_commitment_matches_reference(
    session: bytes, owner: int, holder: int, kind: int, share: bytes
) -> None:
    got = commit.share_commitment(session, owner, holder, kind, share)
    assert got == reference_commitment(session, owner, holder, kind, share)
    # The wire's ShareKind members are the kind bytes 0 (KEY) and 1 (SELF_MASK).
    assert commit.share_commitment(session, owner, holder, ShareKind(kind), share) == got
    assert (ShareKind.KEY, ShareKind.SELF_MASK) == (0, 1)


@given(other=st.data(), **commitment_inputs)
@settings(max_examples=60)
def test_share_commitment_binds_every_field(
    session: bytes, owner: int, holder: int, kind: int, share: bytes, other: st.DataObject
) -> None:
    """Changing any one of session, owner, holder, kind or share changes the commitment, so a
    commitment cannot be reused for another holder, owner, secret, share or round."""
    base = commit.share_commitment(session, owner, holder, kind, share)
    session2 = other.draw(bytes32.filter(lambda s: s != session), label="session")
    owner2 = other.draw(client_ids.filter(lambda v: v != owner), label="owner")
    holder2 = other.draw(client_ids.filter(lambda v: v != holder), label="holder")
    share2 = other.draw(shares36.filter(lambda v: v != share), label="share")
    variants = [
        commit.share_commitment(session2, owner, holder, kind, share),
        commit.share_commitment(session, owner2, holder, kind, share),
        commit.share_commitment(session, owner, holder2, kind, share),
        commit.share_commitment(session, owner, holder, 1 - kind, share),
        commit.share_commitment(session, owner, holder, kind, share2),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


def test_share_commitment_is_not_another_hash() -> None:
    share = bytes(range(36))
    got = commit.share_commitment(SESSION, 1, 2, 0, share)
    assert got != commit.share_commitment(SESSION, 2, 1, 0, share)  # owner, holder ordered
    assert got != hashlib.sha256(share).digest()
    assert got != hashing.sha256(
        b"secagg/v1/share-commit", SESSION, bytes.fromhex("000000010000000200"), share
    )


@given(session=bytes32, owner=client_ids, seed=bytes32)
@settings(max_examples=50)
def test_self_mask_commitment_matches_spec_8_3(session: bytes, owner: int, seed: bytes) -> None:
    """C_b = labeled_sha256("secagg/v2/self-mask-commit", session_id || u32(u) || b_u)."""
    expected = hashlib.sha256(
        len(SELF_MASK_LABEL).to_bytes(2, "big")
        + SELF_MASK_LABEL
        + session
        + owner.to_bytes(4, "big")
        + seed
    ).digest()
    got = commit.self_mask_commitment(session, owner, seed)
    assert got == expected
    assert got != commit.self_mask_commitment(session, owner ^ 1, seed)
    assert got != commit.self_mask_commitment(bytes([session[0] ^ 1]) + session[1:], owner, seed)
    assert got != commit.self_mask_commitment(session, owner, bytes([seed[0] ^ 1]) + seed[1:])


def test_self_mask_commitment_known_answer() -> None:
    got = commit.self_mask_commitment(SESSION, 258, b"\x55" * 32)
    message = b"\x00\x1asecagg/v2/self-mask-commit" + SESSION + b"\x00\x00\x01\x02"
    assert got == hashlib.sha256(message + b"\x55" * 32).digest()


def test_share_commitments_of_a_real_sharing_are_distinct() -> None:
    """Every (holder, kind) of one sharing commits to a different value: no commitment reveals
    that two shares are equal, and none stands in for another."""
    t = 3
    rand = (bytes(range(256)) * 3)[: shamir.rand_size(t, 2)]
    ys = shamir.share([b"\x11" * 32, b"\x22" * 32], range(1, 6), t, rand)
    key_shares, mask_shares = (shamir.encode_shares(y) for y in ys)
    commitments = {
        commit.share_commitment(SESSION, 9, holder, kind, shares[holder])
        for holder in range(5)
        for kind, shares in enumerate((key_shares, mask_shares))
    }
    assert len(commitments) == 10
    # Even equal share values under different holders or kinds give different commitments.
    same = {commit.share_commitment(SESSION, 9, h, k, bytes(36)) for h in range(5) for k in (0, 1)}
    assert len(same) == 10


# --------------------------------------------------------------------------- drbg


def test_drbg_is_deterministic_and_seed_and_label_sensitive() -> None:
    out = drbg.Drbg(b"seed")(64)
    assert len(out) == 64
    assert drbg.Drbg(b"seed")(64) == out
    assert drbg.Drbg(b"seed", b"")(64) == out
    assert drbg.Drbg(b"seee")(64) != out
    assert drbg.Drbg(b"seed", b"other")(64) != out
    assert drbg.Drbg(b"")(64) != out


@given(seed=st.binary(max_size=40), sizes=st.lists(st.integers(0, 70), max_size=8))
@settings(max_examples=50)
def test_drbg_is_one_stream_whatever_the_chunking(seed: bytes, sizes: list[int]) -> None:
    chunked = drbg.Drbg(seed)
    pieces = b"".join(chunked(n) for n in sizes)
    assert pieces == drbg.Drbg(seed)(sum(sizes))


def test_drbg_matches_aes_ctr_reference() -> None:
    """The stream prg_key(seed', "drbg/" || label) of SPEC 7.1, with seed' the labelled
    SHA-256 of the user's seed (so any length works): built here from hashlib and HKDF."""
    seed, label = b"reference", b"lbl"
    tag = b"secagg/drbg-seed"
    hashed = hashlib.sha256(len(tag).to_bytes(2, "big") + tag + seed).digest()
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg/v2/prg/drbg/" + label
    ).derive(hashed)
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(100))
    assert drbg.Drbg(seed, label)(100) == stream


def test_drbg_children_are_independent_and_reproducible() -> None:
    parent = drbg.Drbg(b"p")
    a = parent.child(b"a")(32)
    b = parent.child(b"a")(32)  # a second child: the parent has moved on
    again = drbg.Drbg(b"p")
    assert again.child(b"a")(32) == a
    assert a != b
    assert drbg.Drbg(b"p").child(b"b")(32) != a
    # The child's output is not the parent's continuation.
    fresh = drbg.Drbg(b"p")
    fresh(32)
    assert fresh(32) != a


def test_drbg_edge_sizes() -> None:
    d = drbg.Drbg(b"s")
    assert d(0) == b""
    with pytest.raises(ValueError):
        d(-1)


def test_system_random() -> None:
    assert len(drbg.system_random(48)) == 48
    assert drbg.system_random(32) != drbg.system_random(32)


def test_seed_bytes() -> None:
    assert drbg.seed_bytes(0) == bytes(16)
    assert drbg.seed_bytes(1) == bytes(15) + b"\x01"
    assert drbg.seed_bytes(2**128) == b"\x01" + bytes(16)
    assert drbg.seed_bytes(b"abc") == b"abc"
    assert len({drbg.seed_bytes(i) for i in range(1000)}) == 1000
    with pytest.raises(ValueError):
        drbg.seed_bytes(-1)
    for bad in (True, False, 1.5, "seed", None):
        with pytest.raises(TypeError):
            drbg.seed_bytes(bad)  # type: ignore[arg-type]
