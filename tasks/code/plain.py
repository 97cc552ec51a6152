"""Plain data across a pipe: the only thing a candidate program can hand the checker.

Values travel pickled, and are unpickled by a loader that refuses every class but `complex`: what
comes out can only be built from None, bool, int, float, complex, str, bytes, list, tuple, dict,
set and frozenset — the pickle opcodes for those construct them directly — so decoding runs none of
the sender's code and every comparison the checker makes is the language's own `==` on values it
built itself (the restricted `find_class` of the pickle module's documentation).

Anything else crosses only as an opaque *handle* (a persistent id) when the encoding side allows
one: the candidate's objects (a tree of its own `Node`s built by a task's setup code, a result that
is not plain data — including a subclass of a plain type) stay in the candidate's process, and the
checker can only pass them back. A handle equals nothing but itself and has no truth value, so an
object that "equals everything" fails.

This file is also copied verbatim into every checked program (standard library only).
"""

import io
import os
import pickle
import struct

PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset})


class Unencodable(TypeError):
    """The value is not plain data (and no handle may stand for it)."""


def _plain_form(value):
    """A candidate's result as plain data where it is one in all but type: numpy values, and a regex
    match as its truth value (as evalplus's reference outputs record one)."""
    kind = type(value)
    if kind.__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    if kind.__name__ == "Match" and kind.__module__ == "re":
        return bool(value)
    return value


def encode(value, register=None):
    """Bytes for `value`. Objects of any other type become handles `register(obj)` when `register` is
    given (their methods never run here), else Unencodable."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if type(obj) in PLAIN or obj is complex:  # a complex pickles as a call of its class
                return None
            if register is None:
                raise Unencodable(f"a {type(obj).__name__} is not plain data")
            return register(obj)

    buffer = io.BytesIO()
    try:
        Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(_plain_form(value))
    except RecursionError:
        raise Unencodable("nested too deeply (or a cycle)") from None
    return buffer.getvalue()


def decode(data, resolve=None):
    """The value `data` stands for; ValueError on anything else. `resolve(id)` gives the object a
    handle stands for (without it, a handle is refused)."""

    class Loader(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("builtins", "complex"):
                return complex
            raise ValueError(f"{module}.{name} is not plain data")

        def persistent_load(self, pid):
            if resolve is None or type(pid) is not int:
                raise ValueError("a handle where none may be")
            return resolve(pid)

    try:
        return Loader(io.BytesIO(data)).load()
    except ValueError:
        raise
    except Exception as e:  # a malformed stream
        raise ValueError(f"malformed plain data ({type(e).__name__})") from None


def send(fd, obj, register=None):
    """`obj` encoded, as one length-prefixed message."""
    data = encode(obj, register)
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd, resolve=None, limit=1 << 33):
    """The next message, decoded, or None when the other side is gone."""

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
    return None if body is None else decode(body, resolve)
