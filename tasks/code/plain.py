"""Plain data across a pipe: the only thing a candidate program can hand the checker.

Values travel pickled, and are unpickled by a loader that refuses every class but `complex`: what
comes out can only be built from None, bool, int, float, complex, str, bytes, list, tuple, dict,
set and frozenset — the pickle opcodes for those construct them directly — so decoding runs none of
the sender's code and every comparison the checker makes is the language's own `==` on values it
built itself (the restricted `find_class` of the pickle module's documentation).

The builtin types themselves (`int`, `str`, ... — MBPP passes `int` as an argument) travel by name.
An instance of a subclass of a plain type (`Counter`, `defaultdict`, a namedtuple, a `str` whose
`__eq__` says yes) crosses as the plain value it holds, read through the base type's own methods.
Anything else crosses only as an opaque *handle* (a persistent id) when the encoding side allows
one: the candidate's objects (a tree of its own `Node`s built by a task's setup code) stay in the
candidate's process, and the checker can only pass them back. A handle equals nothing but itself
and has no truth value, so an object that "equals everything" fails.

This file is also copied verbatim into every checked program (standard library only).
"""

import io
import os
import pickle
import struct

PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset})


# the builtin types that may travel as values, by name (calling one on plain data runs nothing of the sender's)
TYPES = {t.__name__: t for t in (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)}
# a subclass instance's plain value, read through its base type's own methods (overrides never run)
_AS_BASE = [(bool, bool), (int, int.__int__), (float, float.__float__), (complex, complex.__complex__),
            (str, str.__str__), (bytes, lambda v: bytes(memoryview(v))), (list, lambda v: list(list.__iter__(v))),
            (tuple, lambda v: tuple(tuple.__iter__(v))), (dict, lambda v: dict(dict.items(v))),
            (set, lambda v: set(set.__iter__(v))), (frozenset, lambda v: frozenset(frozenset.__iter__(v)))]


class Unencodable(TypeError):
    """The value is not plain data (and no handle may stand for it)."""


class _NotPlainYet(Exception):
    """Raised on the fast path when a value needs `_plain_form` first."""


def _plain_form(value, depth=0):
    """A value as plain data where it is one in all but type: subclasses of plain types, numpy
    values, a regex match as its truth value (as evalplus's reference outputs record one); walks
    plain containers, leaves anything else as it is."""
    if depth > 200:
        raise RecursionError
    kind = type(value)
    if kind not in PLAIN:
        if kind.__module__ == "numpy" and hasattr(value, "tolist"):
            return value.tolist()
        if kind.__name__ == "Match" and kind.__module__ == "re":
            return bool(value)
        base = next((read for t, read in _AS_BASE if isinstance(value, t)), None)
        if base is None:
            return value
        value = base(value)
        kind = type(value)
    if kind in (list, tuple, set, frozenset):
        return kind(_plain_form(v, depth + 1) for v in value)
    if kind is dict:
        return {_plain_form(k, depth + 1): _plain_form(v, depth + 1) for k, v in value.items()}
    return value


def _allowed(obj) -> bool:
    return type(obj) in PLAIN or (type(obj) is type and TYPES.get(obj.__name__) is obj)


class _Plain(pickle.Pickler):
    """The fast path: the C pickler never calls back for exact None, bool, int, float, str, bytes,
    list, tuple, dict, set and frozenset, so millions of them cost what pickling costs."""

    def reducer_override(self, obj):
        if _allowed(obj):
            return NotImplemented
        raise _NotPlainYet


class _WithHandles(pickle.Pickler):
    def __init__(self, file, register):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.register = register

    def persistent_id(self, obj):
        if _allowed(obj):
            return None
        if self.register is None:
            raise Unencodable(f"a {type(obj).__name__} is not plain data")
        return self.register(obj)


class _Loader(pickle.Unpickler):
    def __init__(self, file, resolve):
        super().__init__(file)
        self.resolve = resolve

    def find_class(self, module, name):
        if module == "builtins" and name in TYPES:
            return TYPES[name]
        raise ValueError(f"{module}.{name} is not plain data")

    def persistent_load(self, pid):
        if self.resolve is None or type(pid) is not int:
            raise ValueError("a handle where none may be")
        return self.resolve(pid)


def encode(value, register=None):
    """Bytes for `value`. Objects of any other type become handles `register(obj)` when `register` is
    given (their methods never run here), else Unencodable."""
    buffer = io.BytesIO()
    try:
        try:
            _Plain(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        except _NotPlainYet:  # subclasses of plain types, numpy values, handles: the slow path
            buffer = io.BytesIO()
            _WithHandles(buffer, register).dump(_plain_form(value))
    except RecursionError:
        raise Unencodable("nested too deeply (or a cycle)") from None
    return buffer.getvalue()


def decode(data, resolve=None):
    """The value `data` stands for; ValueError on anything else. `resolve(id)` gives the object a
    handle stands for (without it, a handle is refused)."""
    try:
        return _Loader(io.BytesIO(data), resolve).load()
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
