"""The untrusted side of the trusted grader: runs inside the sandbox, in the solution's process.

The grader sends this file's source (after `_wire.py`'s) as the program of a sandbox session.
It loads the solution, then answers requests, one line each way: call a function the solution
defines, call a method of an object it made, read an attribute. It never receives a test, an
expected value or any secret, so nothing it (or the solution, which shares its interpreter) can
do decides a verdict: the trusted side only gets back plain data (see `_wire.py`).

Requests (JSON objects; values in `_wire` form):

- ``{"op": "load", "src": str, "names": [str]}``: run the solution; reply the requested names it
  defines as callables.
- ``{"op": "call", "name": str, "args": [...], "kwargs": {...}}``: call a top-level callable.
- ``{"op": "method", "h": int, "name": str, "args", "kwargs"}``: call a method of a handle's object.
- ``{"op": "getattr", "h": int, "name": str}``: read an attribute (``{"callable": true}`` for methods).
- ``{"op": "special", "h": int, "fn": str, "args"}``: ``len``, ``getitem``, ``setitem``,
  ``delitem``, ``contains``, ``iter``, ``bool`` or ``str`` of a handle's object.

Replies: ``{"ok": value}``, ``{"kinds": {...}}``, ``{"callable": true}``, ``{"raise": [class names
of the exception's MRO], "msg": str}`` or ``{"error": str}`` (the result is not plain data).
"""
# The source is concatenated after _wire.py's, so no `from __future__` import here.

import builtins
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # in the sandbox these names come from _wire.py's source, sent first
    from ._wire import WireError, decode_value, encode_value, loads

_SPECIAL: dict[str, Callable[..., Any]] = {
    "len": lambda o, *a: len(o),
    "getitem": lambda o, k: o[k],
    "setitem": lambda o, k, v: o.__setitem__(k, v),
    "delitem": lambda o, k: o.__delitem__(k),
    "contains": lambda o, k: k in o,
    "iter": lambda o: list(o),
    "bool": lambda o: bool(o),
    "str": lambda o: str(o),
}


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:300]
    except BaseException:  # noqa: BLE001 - the solution's exception may refuse even str()
        return ""


class _Host:
    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"__name__": "solution", "__builtins__": builtins}
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}

    def _ref(self, obj: Any) -> int:
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objects) + 1
            self.objects[self.ids[key]] = obj
        return self.ids[key]

    def _obj(self, ref: int) -> Any:
        if ref not in self.objects:
            raise WireError(f"unknown handle {ref}")
        return self.objects[ref]

    def _args(self, req: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        args = decode_value(req.get("args", ["l", []]), handle=self._obj)
        kwargs = decode_value(req.get("kwargs", ["d", []]), handle=self._obj)
        if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
            raise WireError("bad arguments")
        return args, kwargs

    def _reply(self, result: Any, owner: Any) -> dict[str, Any]:
        """`result` as data; objects become handles only when made by a class or returned as `self`."""

        def handle(obj: Any) -> int | None:
            if obj is owner or (isinstance(owner, type) and isinstance(obj, owner)):
                return self._ref(obj)
            return None

        try:
            return {"ok": encode_value(result, lenient=True, handle=handle)}
        except WireError as exc:
            return {"error": f"the result is not plain data: {exc}"}
        except RecursionError:
            return {"error": "the result is not plain data: it contains itself"}

    def dispatch(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "load":
            exec(compile(str(req["src"]), "solution.py", "exec"), self.ns)
            kinds = {}
            for name in req.get("names", []):
                value = self.ns.get(name)
                if value is not None and callable(value):
                    kinds[name] = "class" if isinstance(value, type) else "function"
            return {"kinds": kinds}
        if op == "call":
            name = str(req["name"])
            if name not in self.ns:
                raise NameError(f"name {name!r} is not defined")
            target = self.ns[name]
            args, kwargs = self._args(req)
            return self._reply(target(*args, **kwargs), target)
        obj = self._obj(req.get("h"))  # type: ignore[arg-type]
        if op == "method":
            args, kwargs = self._args(req)
            return self._reply(getattr(obj, str(req["name"]))(*args, **kwargs), obj)
        if op == "getattr":
            value = getattr(obj, str(req["name"]))
            return {"callable": True} if callable(value) else self._reply(value, None)
        if op == "special" and req.get("fn") in _SPECIAL:
            args, _ = self._args(req)
            return self._reply(_SPECIAL[str(req["fn"])](obj, *args), obj)
        raise WireError(f"unknown request {op!r}")


def _fast_json() -> None:
    """Use the C parts of `json` (the sandbox worker keeps them out to fork lighter)."""
    if sys.modules.get("_json", 0) is not None:
        return
    del sys.modules["_json"]
    try:
        import _json
    except ImportError:
        return
    import json.decoder
    import json.encoder
    import json.scanner

    for module, name, value in (
        (json.scanner, "make_scanner", _json.make_scanner),
        (json.decoder, "scanstring", _json.scanstring),
        (json.encoder, "c_make_encoder", _json.make_encoder),
        (json.encoder, "encode_basestring_ascii", _json.encode_basestring_ascii),
    ):
        setattr(module, name, value)


def serve() -> None:
    """Answer requests read from stdin (one line each) on stdout until end of file."""
    _fast_json()
    rin = open(os.dup(0), "rb")  # noqa: SIM115 - lives as long as the process
    wout = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)  # the solution's prints go to stderr, never onto the channel
    host = _Host()
    while True:
        line = rin.readline()
        if not line:
            break
        try:
            req = loads(line.decode("ascii", "replace"))
            reply = host.dispatch(req) if type(req) is dict else {"error": "bad request"}
        except BaseException as exc:  # noqa: BLE001 - the solution's own exception, reported as data
            reply = {"raise": [c.__name__ for c in type(exc).__mro__], "msg": _message(exc)}
        try:
            data = (json.dumps(reply, separators=(",", ":")) + "\n").encode("ascii")
        except BaseException as exc:  # noqa: BLE001
            data = (json.dumps({"error": f"reply could not be written: {type(exc).__name__}"}) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(wout, view) :]
        try:
            sys.stdout.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(0)  # end of the requests: no clean-up the solution could hook into


if __name__ == "__main__":
    serve()
