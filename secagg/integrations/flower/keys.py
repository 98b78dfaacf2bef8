"""Key files for the malicious mode: one Ed25519 signing key per node and the roster.

    python -m secagg.integrations.flower.keys OUT_DIR NUM_NODES

writes ``OUT_DIR/roster.json`` (public keys only: give it to the ServerApp and to every node)
and ``OUT_DIR/node-<i>.key`` for ``i = 0 .. NUM_NODES-1`` (a signing key, readable by its owner
only: give each node its own, e.g. ``--node-config "secagg-signing-key='/path/node-3.key'"``).
In production each node makes its own key (:func:`write_signing_key`) and sends only the
public half to whoever assembles the roster; the script is for tests and trials.

A key file is JSON ``{"version": 2, "kind": "secagg-ed25519-signing-key", "secret": "<64 hex>"}``.
Nothing here prints or logs a secret.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from secagg.crypto.sign import SECRET_SIZE, Roster, SigningKey

KIND = "secagg-ed25519-signing-key"
ROSTER_FILE = "roster.json"


class KeyFileError(ValueError):
    """A signing-key file that cannot be used (no path or secret in the message)."""


def write_signing_key(path: str | os.PathLike[str], secret: bytes | None = None) -> SigningKey:
    """Make a signing key (from ``secret``, else the OS CSPRNG) and write it to ``path``,
    created with mode 0600 (an existing file is refused). Returns the key."""
    secret = os.urandom(SECRET_SIZE) if secret is None else secret
    key = SigningKey.from_secret(secret)
    data = json.dumps({"version": 2, "kind": KIND, "secret": secret.hex()}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    return key


def load_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    """Read a key written by :func:`write_signing_key`; raises :class:`KeyFileError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != 2 or data.get("kind") != KIND:
            raise ValueError("not a secagg signing-key file")
        secret = bytes.fromhex(str(data["secret"]))
        return SigningKey.from_secret(secret)
    except (OSError, ValueError, KeyError, TypeError):
        raise KeyFileError(f"cannot read the signing-key file {str(path)!r}") from None


def make_keys(folder: str | os.PathLike[str], num_nodes: int) -> Roster:
    """Write ``node-<i>.key`` for ``num_nodes`` nodes and ``roster.json`` into ``folder``
    (created if needed); returns the roster."""
    if not isinstance(num_nodes, int) or isinstance(num_nodes, bool) or num_nodes < 1:
        raise ValueError("num_nodes must be a positive int")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    keys = [write_signing_key(out / f"node-{i}.key") for i in range(num_nodes)]
    roster = Roster(tuple(k.public for k in keys))
    roster.dump(out / ROSTER_FILE)
    return roster


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write per-node Ed25519 signing keys and the roster for secagg's "
        "malicious mode."
    )
    parser.add_argument("folder", help="where to write node-<i>.key and roster.json")
    parser.add_argument("num_nodes", type=int, help="how many nodes (roster entries)")
    args = parser.parse_args(argv)
    make_keys(args.folder, args.num_nodes)
    print(f"wrote {args.num_nodes} key files and {ROSTER_FILE} to {args.folder}")


if __name__ == "__main__":
    main()
