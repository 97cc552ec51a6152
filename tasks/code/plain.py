"""Plain data across a pipe: the only thing a candidate program can hand the checker.

A value is encoded as nested tagged lists in JSON: None, bool, int, float, complex, str, bytes,
list, tuple, dict, set and frozenset, nothing else. Decoding builds only those types, runs no code
of the sender's and cannot be made to, so every comparison the checker makes is the language's own
`==` on values it built itself. Anything else the candidate returns (an object with its own `__eq__`,
a generator, a class) cannot be encoded and the call fails.

This file is also copied verbatim into every checked program (standard library only).
"""

import json
import os
import struct

MAX_DEPTH = 200


class Unencodable(TypeError):
    """The value is not plain data."""


def encode(value, depth=0):
    """Tagged lists for `value`. Subclasses of the plain types are converted to the type itself (their
    overridden methods run here, in the sender's process, and yield just data)."""
    if depth > MAX_DEPTH:
        raise Unencodable("nested too deeply (or a cycle)")
    if value is None:
        return ["N"]
    if isinstance(value, bool):
        return ["B", bool(value)]
    if isinstance(value, int):
        return ["i", format(int(value), "x")]
    if isinstance(value, float):
        return ["f", float(value).hex()]
    if isinstance(value, complex):
        value = complex(value)
        return ["c", value.real.hex(), value.imag.hex()]
    if isinstance(value, str):
        return ["s", str(value)]
    if isinstance(value, (bytes, bytearray)):
        return ["y", bytes(value).hex()]
    for kind, tag in ((list, "l"), (tuple, "t"), (set, "S"), (frozenset, "F")):
        if isinstance(value, kind):
            return [tag, [encode(v, depth + 1) for v in list(value)]]
    if isinstance(value, dict):
        return ["d", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in list(dict(value).items())]]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # numpy scalars and arrays
        return encode(value.tolist(), depth + 1)
    if type(value).__name__ == "Match" and type(value).__module__ == "re":
        return ["B", bool(value)]  # as evalplus's reference outputs record a match
    raise Unencodable(f"a {type(value).__name__} is not plain data")


def _list(x):
    if type(x) is not list:
        raise ValueError("malformed plain data")
    return x


def decode(tree):
    """The value `tree` encodes; ValueError on anything malformed."""
    tag = _list(tree)[0] if tree else None
    if tag == "N" and len(tree) == 1:
        return None
    if tag == "B" and type(tree[1]) is bool:
        return tree[1]
    if tag == "i" and type(tree[1]) is str:
        return int(tree[1], 16)
    if tag == "f" and type(tree[1]) is str:
        return float.fromhex(tree[1])
    if tag == "c" and len(tree) == 3:
        return complex(float.fromhex(tree[1]), float.fromhex(tree[2]))
    if tag == "s" and type(tree[1]) is str:
        return tree[1]
    if tag == "y" and type(tree[1]) is str:
        return bytes.fromhex(tree[1])
    if tag in ("l", "t", "S", "F"):
        items = [decode(v) for v in _list(tree[1])]
        return {"l": list, "t": tuple, "S": set, "F": frozenset}[tag](items)
    if tag == "d":
        return {decode(k): decode(v) for k, v in (_list(pair) for pair in _list(tree[1]))}
    raise ValueError("malformed plain data")


def send(fd, obj):
    """One length-prefixed JSON message (`obj` holds only JSON types and encoded values)."""
    data = json.dumps(obj, separators=(",", ":")).encode()
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd, limit=1 << 31):
    """The next message, or None when the other side is gone."""

    def exactly(n):
        chunks, left = [], n
        while left:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    head = exactly(8)
    if head is None:
        return None
    (size,) = struct.unpack("<Q", head)
    if size > limit:
        raise ValueError("message too large")
    body = exactly(size)
    return None if body is None else json.loads(body)
