"""Laws of the version 2 wire format that hold for all inputs (hypothesis).

* ``decode(encode(msg)) == msg`` for random valid messages of every type in both modes, and
  the encoding is the SPEC's layout (re-derived in ``test_wire``), so it is also canonical:
  ``encode(decode(data)) == data``.
* Every decoder, given anything - random bytes, truncated or bit-flipped valid messages, valid
  messages of other types, valid envelopes around random or mutated bodies - either returns a
  message that section 5 allows and whose encoding is exactly its input, or raises
  :class:`secagg.DecodeError` with a reason the SPEC allows at that point; never any other
  exception.

Example counts are kept so that the file runs in well under 30 s on two cores.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_wire import (
    ADVERTISE_KEYS,
    CODECS,
    CONSISTENCY_REQUEST,
    CONSISTENCY_RESPONSE,
    DIGEST,
    HEADER,
    KEY_LIST,
    LIMBS,
    LISTS,
    MASK_REQUEST,
    MASKED_INPUT,
    PRIME,
    REPLIES,
    SERVER,
    SHARE_CHECK,
    SHARE_FORWARD,
    SHARE_KEYS,
    TYPE_NAMES,
    UNMASK_REQUEST,
    UNMASK_RESPONSE,
    Params,
    Sample,
    bitmap,
    norm,
    raw_envelope,
    share_bytes,
    u8,
    u32,
)

import secagg
from secagg.core import wire
from secagg.core.wire import (
    AdvertiseKeys,
    ConsistencyRequest,
    ConsistencyResponse,
    ForwardEntry,
    IdSet,
    KeyEntry,
    KeyList,
    MaskedInput,
    MaskRequest,
    ShareCheck,
    ShareForward,
    ShareKeys,
    ShareKind,
    UnmaskRequest,
    UnmaskResponse,
)
from secagg.errors import DecodeError, DropReason

GRAPHS = [(5, None), (9, 4), (13, 2), (16, None)]
"""(n, k): the complete graph and SecAgg+, n a multiple of 8 and not."""
BITS = [1, 7, 31, 32, 33, 63, 64]
POOLS = {
    malicious: [
        Params(
            f"n{n}-k{k}-b{b}",
            n=n,
            t=min(3, n if k is None else k + 1),
            m=1 + (b % 5),
            b=b,
            k=k,
            malicious=malicious,
        )
        for (n, k), b in itertools.product(GRAPHS, BITS)
    ]
    for malicious in (False, True)
}
"""Configurations to draw from, per mode (both ring widths)."""

KIND_MODES = [
    pytest.param(kind, malicious, id=f"{TYPE_NAMES[kind]}-{'mal' if malicious else 'semi'}")
    for malicious in (False, True)
    for kind in TYPE_NAMES
    if malicious or kind not in (CONSISTENCY_REQUEST, CONSISTENCY_RESPONSE)
]


def fixed(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


def id_lists(cap: int, n: int) -> st.SearchStrategy[list[int]]:
    """Strictly increasing ids below n, at most ``cap`` of them (the list rules of 5.2)."""
    return st.lists(st.integers(0, n - 1), unique=True, max_size=cap).map(sorted)


def id_sets(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.booleans(), min_size=n, max_size=n).map(
        lambda bits: [i for i, bit in enumerate(bits) if bit]
    )


shares = st.lists(
    st.one_of(st.integers(0, PRIME - 1), st.sampled_from([0, PRIME - 1])),
    min_size=LIMBS,
    max_size=LIMBS,
).map(share_bytes)


@st.composite
def samples(draw: st.DrawFn, p: Params, kind: int) -> Sample:
    """A random valid message of ``kind`` for ``p``, with its body as the SPEC lays it out."""
    mal = p.malicious
    sig = fixed(64) if mal else st.just(b"")
    prompt = draw(fixed(32))
    if kind == ADVERTISE_KEYS:
        c, s, g = draw(fixed(32)), draw(fixed(32)), draw(sig)
        return Sample(kind, AdvertiseKeys(c, s, g), c + s + g, {})
    if kind == KEY_LIST:
        keys = [(i, draw(fixed(32)), draw(fixed(32)), draw(sig)) for i in draw(id_lists(p.h, p.n))]
        body = u32(len(keys)) + b"".join(u32(i) + c + s + g for i, c, s, g in keys)
        return Sample(kind, KeyList(tuple(KeyEntry(*key) for key in keys)), body, {})
    if kind == SHARE_KEYS:
        c_b = draw(fixed(32))
        cts = [(i, draw(fixed(96))) for i in draw(id_lists(p.h - 1, p.n))]
        commits = [(i, draw(fixed(32)), draw(fixed(32))) for i in draw(id_lists(p.h, p.n))]
        body = (
            prompt
            + c_b
            + u32(len(cts))
            + b"".join(u32(i) + e for i, e in cts)
            + u32(len(commits))
            + b"".join(u32(i) + ck + cm for i, ck, cm in commits)
        )
        return Sample(kind, ShareKeys(c_b, tuple(cts), tuple(commits), prompt), body, {})
    if kind == SHARE_FORWARD:
        rows = [
            (i, draw(fixed(96)), draw(fixed(32)), draw(fixed(32)))
            for i in draw(id_lists(p.h - 1, p.n))
        ]
        body = u32(len(rows)) + b"".join(u32(i) + e + ck + cm for i, e, ck, cm in rows)
        return Sample(kind, ShareForward(tuple(ForwardEntry(*row) for row in rows)), body, {})
    if kind == SHARE_CHECK:
        accused = draw(id_lists(p.h - 1, p.n))
        body = prompt + u32(len(accused)) + b"".join(u32(i) for i in accused)
        return Sample(kind, ShareCheck(tuple(accused), prompt), body, {})
    if kind in (MASK_REQUEST, CONSISTENCY_REQUEST):
        ids = draw(id_sets(p.n))
        id_set = IdSet.of(ids, p.n)
        msg = MaskRequest(id_set) if kind == MASK_REQUEST else ConsistencyRequest(id_set)
        return Sample(kind, msg, bitmap(ids, p.n), {})
    if kind == MASKED_INPUT:
        top = (1 << p.b) - 1
        element = st.one_of(st.integers(0, top), st.sampled_from([0, top]))
        values = draw(st.lists(element, min_size=p.m, max_size=p.m))
        body = prompt + b"".join(v.to_bytes(p.w, "little") for v in values)
        vector = np.array(values, dtype="<u4" if p.w == 4 else "<u8")
        return Sample(kind, MaskedInput(vector, prompt), body, {})
    if kind == CONSISTENCY_RESPONSE:
        g = draw(fixed(64))
        return Sample(kind, ConsistencyResponse(g, prompt), prompt + g, {})
    if kind == UNMASK_REQUEST:
        u3 = draw(id_sets(p.n))
        body = bitmap(u3, p.n)
        signatures = []
        if mal:
            signatures = [(i, draw(fixed(64))) for i in draw(id_lists(p.n, p.n))]
            body += u32(len(signatures)) + b"".join(u32(i) + g for i, g in signatures)
        return Sample(kind, UnmaskRequest(IdSet.of(u3, p.n), tuple(signatures)), body, {})
    assert kind == UNMASK_RESPONSE
    rows3 = [(i, draw(st.sampled_from(ShareKind)), draw(shares)) for i in draw(id_lists(p.h, p.n))]
    body = prompt + u32(len(rows3)) + b"".join(u32(i) + u8(c) + y for i, c, y in rows3)
    return Sample(kind, UnmaskResponse(tuple(rows3), prompt), body, {})


@st.composite
def situations(draw: st.DrawFn, kind: int, malicious: bool) -> tuple[Params, int, Sample]:
    """(configuration, party, valid sample) for ``kind`` in the mode."""
    p = draw(st.sampled_from(POOLS[malicious]))
    party = draw(st.integers(0, p.n - 1))
    return p, party, draw(samples(p, kind))


def encoded_as(p: Params, party: int, sample: Sample, kind: int | None = None) -> bytes:
    """``sample``'s body in a valid envelope of its type (or ``kind``) on ``party``'s channel."""
    kind = sample.kind if kind is None else kind
    return raw_envelope(p.session_id, kind, *CODECS[kind].channel(party), sample.body)


def assert_valid(p: Params, kind: int, msg: Any) -> None:
    """``msg`` is a message section 5 allows for ``p``: lists within their caps with ids below
    n and strictly increasing, fields of their sizes, share kinds 0 or 1, limbs below p,
    ring elements below 2^b, id sets of n ids."""

    def listed(ids: list[int], cap: int) -> None:
        assert len(ids) <= cap
        assert all(type(i) is int and 0 <= i < p.n for i in ids)
        assert ids == sorted(set(ids))

    def sized(*pairs: tuple[bytes, int]) -> None:
        assert all(type(value) is bytes and len(value) == size for value, size in pairs)

    if kind in REPLIES:
        sized((msg.prompt, 32))
    if kind == ADVERTISE_KEYS:
        sized((msg.c_public, 32), (msg.s_public, 32), (msg.signature, p.S))
    elif kind == KEY_LIST:
        listed([e.client for e in msg.entries], p.h)
        for e in msg.entries:
            sized((e.c_public, 32), (e.s_public, 32), (e.signature, p.S))
    elif kind == SHARE_KEYS:
        sized((msg.self_mask_commitment, 32))
        listed([peer for peer, _ in msg.ciphertexts], p.h - 1)
        sized(*[(e, 96) for _, e in msg.ciphertexts])
        listed([holder for holder, _, _ in msg.commitments], p.h)
        sized(*[(c, 32) for _, ck, cm in msg.commitments for c in (ck, cm)])
    elif kind == SHARE_FORWARD:
        listed([e.sender for e in msg.entries], p.h - 1)
        for e in msg.entries:
            sized((e.ciphertext, 96), (e.key_commitment, 32), (e.mask_commitment, 32))
    elif kind == SHARE_CHECK:
        listed(list(msg.accused), p.h - 1)
    elif kind in (MASK_REQUEST, CONSISTENCY_REQUEST, UNMASK_REQUEST):
        id_set = msg.u2 if kind == MASK_REQUEST else msg.u3
        assert id_set.num_clients == p.n and len(id_set.bitmap) == p.B
        listed(id_set.ids(), p.n)
        if kind == UNMASK_REQUEST:
            listed([signer for signer, _ in msg.signatures], p.n if p.malicious else 0)
            sized(*[(g, 64) for _, g in msg.signatures])
    elif kind == MASKED_INPUT:
        assert msg.vector.shape == (p.m,) and msg.vector.dtype.itemsize == p.w
        assert int(msg.vector.max()) < 1 << p.b
    elif kind == CONSISTENCY_RESPONSE:
        sized((msg.signature, 64))
    else:
        assert kind == UNMASK_RESPONSE
        listed([peer for peer, _, _ in msg.shares], p.h)
        for _, share_kind, share in msg.shares:
            assert type(share_kind) is ShareKind
            sized((share, 36))
            assert max(int.from_bytes(share[j : j + 4], "big") for j in range(0, 36, 4)) < PRIME


def decodes_canonically_or_refuses(
    kind: int, data: Any, p: Params, party: int, allowed: set[DropReason]
) -> bool:
    """The decoder of ``kind`` either refuses ``data`` with a DecodeError whose reason is in
    ``allowed``, or returns a message that encodes back to exactly ``data``. Any other
    exception fails the test. True when it decoded."""
    codec = CODECS[kind]
    try:
        decoded = codec.decode(data, p.config, party)
    except DecodeError as exc:
        assert type(exc.reason) is DropReason
        assert exc.reason in allowed, exc.reason
        event(f"refused {exc.reason.name}")
        return False
    event("decoded")
    assert_valid(p, kind, decoded)
    assert codec.encode(p.config, party, decoded) == bytes(data)
    return True


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(("kind", "malicious"), KIND_MODES)
@given(situation=st.data())
@settings(max_examples=25)
def test_decode_encode_round_trip(kind: int, malicious: bool, situation: st.DataObject) -> None:
    p, party, sample = situation.draw(situations(kind, malicious))
    codec = CODECS[kind]
    encoded = codec.encode(p.config, party, sample.msg)
    assert encoded == encoded_as(p, party, sample)
    assert len(encoded) <= HEADER + p.max_body(kind) + DIGEST
    decoded = codec.decode(encoded, p.config, party)
    assert_valid(p, kind, decoded)
    assert norm(decoded) == norm(sample.msg)
    assert codec.encode(p.config, party, decoded) == encoded


@given(n=st.integers(1, 300), data=st.data())
@settings(max_examples=60)
def test_id_set_bitmap_law(n: int, data: st.DataObject) -> None:
    """Section 3 for every n and subset: the bitmap, its decoding, and its padding rule."""
    ids = data.draw(id_sets(n))
    id_set = IdSet.of(ids, n)
    assert id_set.bitmap == bitmap(ids, n)
    decoded = IdSet.decode(bitmap(ids, n), n)
    assert decoded.ids() == ids and len(decoded) == len(ids)
    if n % 8:
        bit = data.draw(st.integers(n, 8 * ((n + 7) // 8) - 1))
        raw = bytearray(bitmap(ids, n))
        raw[bit // 8] |= 0x80 >> (bit % 8)
        with pytest.raises(DecodeError) as info:
            IdSet.decode(bytes(raw), n)
        assert info.value.reason is DropReason.DECODE_FAILED


# --------------------------------------------------------------------------- hostile bytes

DECODE_FAILED = {DropReason.DECODE_FAILED}


@pytest.mark.parametrize(("kind", "malicious"), KIND_MODES)
@given(data=st.data(), garbage=st.binary(max_size=400))
@settings(max_examples=30)
def test_random_bytes_are_decode_failed(
    kind: int, malicious: bool, data: st.DataObject, garbage: bytes
) -> None:
    p = data.draw(st.sampled_from(POOLS[malicious]))
    with pytest.raises(DecodeError) as info:
        CODECS[kind].decode(garbage, p.config, data.draw(st.integers(0, p.n - 1)))
    assert info.value.reason is DropReason.DECODE_FAILED


@st.composite
def mutations(
    draw: st.DrawFn, data: bytes, ways: tuple[str, ...] = ("truncate", "extend", "flip", "splice")
) -> bytes:
    """``data`` truncated, extended, with one bit flipped, or with a slice replaced."""
    how = draw(st.sampled_from(ways))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "extend":
        return data + draw(st.binary(min_size=1, max_size=80))
    if how == "flip":
        index = draw(st.integers(0, len(data) - 1))
        return (
            data[:index] + bytes([data[index] ^ (1 << draw(st.integers(0, 7)))]) + data[index + 1 :]
        )
    start = draw(st.integers(0, len(data)))
    stop = draw(st.integers(start, len(data)))
    spliced = data[:start] + draw(st.binary(max_size=48)) + data[stop:]
    return spliced if spliced != data else data + b"\x00"


@pytest.mark.parametrize(("kind", "malicious"), KIND_MODES)
@given(situation=st.data())
@settings(max_examples=30)
def test_mutated_messages_are_decode_failed(
    kind: int, malicious: bool, situation: st.DataObject
) -> None:
    """A valid message truncated, extended, bit-flipped or spliced: the length rules or the
    digest refuse it (checks 1-4), before the session, type or address could."""
    p, party, sample = situation.draw(situations(kind, malicious))
    encoded = encoded_as(p, party, sample)
    mutated = situation.draw(mutations(encoded))
    assert mutated != encoded
    with pytest.raises(DecodeError) as info:
        CODECS[kind].decode(mutated, p.config, party)
    assert info.value.reason is DropReason.DECODE_FAILED


near_ids = st.one_of(st.integers(0, 20), st.sampled_from([2**31, SERVER - 1, SERVER]))
"""Ids around the valid range of the pool (n <= 16), and far above it."""
near_limbs = st.one_of(
    st.integers(0, PRIME - 1), st.integers(PRIME - 2, PRIME + 2), st.integers(0, 2**32 - 1)
)


@st.composite
def structured_bodies(draw: st.DrawFn, p: Params, kind: int) -> bytes:
    """Nearly valid bodies of ``kind``: one list with ids around the range (repeated, unsorted,
    >= n), counts right or a little off, share kinds and limbs around their limits; id sets of
    random bits; ring elements around 2^b; fixed-size bodies a little off their size."""
    specs = [
        spec for spec in LISTS if spec.kind == kind and (p.malicious or not spec.malicious_only)
    ]
    if specs:
        spec = draw(st.sampled_from(specs))
        ids = draw(st.lists(near_ids, max_size=spec.cap(p) + 2))
        if draw(st.booleans()):
            ids.sort()
        count = draw(
            st.one_of(
                st.just(len(ids)),
                st.sampled_from([len(ids) + 1, max(len(ids) - 1, 0), spec.cap(p) + 1]),
                st.integers(0, 2**32 - 1),
            )
        )
        if kind != UNMASK_RESPONSE:
            return spec.body(p, ids, count)
        entries = b"".join(
            u32(i)
            + u8(draw(st.sampled_from([0, 1, 2, 255])))
            + b"".join(u32(draw(near_limbs)) for _ in range(LIMBS))
            for i in ids
        )
        return spec.before(p) + u32(count) + entries
    if kind == MASKED_INPUT:
        top = 2 ** (8 * p.w) - 1
        element = st.one_of(st.integers(0, (1 << p.b) - 1), st.integers(1 << p.b, top + 1))
        length = draw(st.sampled_from([p.m, p.m, p.m - 1, p.m + 1]))
        values = draw(
            st.lists(element.map(lambda v: min(v, top)), min_size=length, max_size=length)
        )
        return bytes(32) + b"".join(v.to_bytes(p.w, "little") for v in values)
    size = {MASK_REQUEST: p.B, CONSISTENCY_REQUEST: p.B, UNMASK_REQUEST: p.B}.get(kind)
    size = size or {ADVERTISE_KEYS: 64 + p.S, CONSISTENCY_RESPONSE: 96}[kind]
    return draw(st.binary(min_size=size - 1, max_size=size + 1))


def body_reasons(kind: int) -> set[DropReason]:
    """What a body rule may refuse a correctly enveloped ``kind`` with (section 11.1)."""
    if kind == MASKED_INPUT:
        return {DropReason.DECODE_FAILED, DropReason.INVALID_CONTENT}
    return DECODE_FAILED


@pytest.mark.parametrize(("kind", "malicious"), KIND_MODES)
@given(situation=st.data())
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_any_body_in_a_valid_envelope_decodes_canonically_or_is_refused(
    kind: int, malicious: bool, situation: st.DataObject
) -> None:
    """Mutated valid bodies, resealed so that only the body rules of section 5 act (or the
    size cap, for a longer one), and random bodies: a DecodeError with a body reason, or a
    message whose encoding is the input (every encoding canonical)."""
    p, party, sample = situation.draw(situations(kind, malicious))
    body = situation.draw(
        st.one_of(
            mutations(sample.body),
            mutations(sample.body, ("flip",)),  # same length: past the length rules
            structured_bodies(p, kind),
            st.binary(max_size=300),
        ),
        label="body",
    )
    data = raw_envelope(p.session_id, kind, *CODECS[kind].channel(party), body)
    decodes_canonically_or_refuses(kind, data, p, party, body_reasons(kind))


@pytest.mark.parametrize(("kind", "malicious"), KIND_MODES)
@given(situation=st.data())
@settings(max_examples=20)
def test_valid_messages_of_other_types_are_refused(
    kind: int, malicious: bool, situation: st.DataObject
) -> None:
    """Another type's valid message, as sent (on its own channel) and readdressed to this
    type's channel: the size cap, the type or the address refuses it; and another type's body
    in an envelope of this type is a body the rules refuse or that decodes canonically."""
    p, party, _ = situation.draw(situations(kind, malicious))
    other = situation.draw(st.sampled_from([k for k in p.kinds() if k != kind]))
    sample = situation.draw(samples(p, other))
    too_long = len(sample.body) > p.max_body(kind)
    as_sent = encoded_as(p, party, sample)  # its own channel: check 6 precedes check 7
    with pytest.raises(DecodeError) as info:
        CODECS[kind].decode(as_sent, p.config, party)
    expected = DropReason.DECODE_FAILED if too_long else DropReason.UNEXPECTED_MESSAGE
    assert info.value.reason is expected
    readdressed = raw_envelope(p.session_id, other, *CODECS[kind].channel(party), sample.body)
    with pytest.raises(DecodeError) as info:
        CODECS[kind].decode(readdressed, p.config, party)
    assert info.value.reason is expected
    as_this_type = raw_envelope(p.session_id, kind, *CODECS[kind].channel(party), sample.body)
    decodes_canonically_or_refuses(kind, as_this_type, p, party, body_reasons(kind))


@pytest.mark.parametrize(("kind", "malicious"), KIND_MODES)
@given(
    data=st.data(),
    thing=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=100),
        st.lists(st.integers(0, 255), max_size=100),
        st.floats(),
    ),
)
@settings(max_examples=10)
def test_non_bytes_input_is_a_decode_error(
    kind: int, malicious: bool, data: st.DataObject, thing: object
) -> None:
    p = data.draw(st.sampled_from(POOLS[malicious]))
    with pytest.raises(secagg.DecodeError) as info:
        CODECS[kind].decode(thing, p.config, 0)
    assert info.value.reason is DropReason.DECODE_FAILED


@given(
    data=st.one_of(st.binary(max_size=120), fixed(80)),
    sender=st.integers(0, SERVER),
    recipient=st.integers(0, SERVER),
)
@settings(max_examples=150)
def test_share_plaintext_decodes_canonically_or_is_bad_ciphertext(
    data: bytes, sender: int, recipient: int
) -> None:
    if len(data) == 80 and sender % 2:  # often the right ids, to reach the limb checks
        data = u32(sender) + u32(recipient) + data[8:]
    try:
        key, mask = wire.decode_share_plaintext(data, sender, recipient)
    except DecodeError as exc:
        assert exc.reason is DropReason.BAD_CIPHERTEXT
        event("refused")
        return
    event("decoded")
    assert wire.encode_share_plaintext(sender, recipient, key, mask) == data
    limbs = [
        int.from_bytes(share[j : j + 4], "big") for share in (key, mask) for j in range(0, 36, 4)
    ]
    assert max(limbs) < PRIME
