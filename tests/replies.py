"""Decode and re-encode a client's reply to a server prompt, for tests that alter one field.

The replies that answer a prompt (SPEC.md 5.7) are ShareKeys, MaskedInput and UnmaskResponse;
each starts with the echo of the prompt's digest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from secagg.config import RoundConfig
from secagg.core import wire

REPLY_CODECS: dict[str, tuple[Callable[..., Any], Callable[..., bytes]]] = {
    "share_keys": (wire.decode_share_keys, wire.encode_share_keys),
    "masked_input": (wire.decode_masked_input, wire.encode_masked_input),
    "unmasking": (wire.decode_unmask_response, wire.encode_unmask_response),
}
"""(decode, encode) of the client's reply in each round that answers a prompt; the keys are
the round names, which are also the server's phase values."""


def edit_reply(
    config: RoundConfig, round_name: str, sender: int, reply: bytes, change: Callable[[Any], Any]
) -> bytes:
    """Client ``sender``'s ``reply`` in ``round_name``, decoded, passed through ``change`` (a
    message in, a message out) and encoded again."""
    decode, encode = REPLY_CODECS[round_name]
    return encode(config, sender, change(decode(reply, config, sender)))


def re_echo(
    config: RoundConfig, round_name: str, sender: int, reply: bytes, prompt: bytes
) -> bytes:
    """Client ``sender``'s ``reply`` in ``round_name``, re-encoded to echo ``prompt``."""
    return edit_reply(
        config, round_name, sender, reply, lambda msg: dataclasses.replace(msg, prompt=prompt)
    )
