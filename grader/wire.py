"""The call/answer format between the grader and a worker: one JSON header plus safetensors.

A message is ``u32 header length | JSON header | safetensors blob``; on a stream it travels as
``u64 frame length | message``. Nothing is ever pickled, so a hostile worker cannot make the
grader run code while it decodes an answer, and ``safetensors`` gives back plain ``torch.Tensor``
objects only: a tensor subclass with a lying ``__eq__`` cannot cross.

Values inside the header are JSON; a tensor in a value is written as ``{"__tensor__": key}`` with
``key`` naming an entry of the safetensors blob, a tuple as ``{"__tuple__": [...]}`` (see :func:`pack` and :func:`unpack`).
"""
from __future__ import annotations

import json
import os
import select
import socket
import struct
import time
from typing import Any, Callable

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

MAX_FRAME = 256 * 1024 * 1024  # a single answer larger than this is refused (huge-tensor attack)


class WireError(Exception):
    """A malformed, oversized or truncated message."""


class ChannelClosed(WireError):
    """The peer closed the channel (for a worker: it died)."""


class ChannelTimeout(WireError):
    """No complete frame arrived before the deadline."""


# ---------------------------------------------------------------------------------------------
# values <-> (JSON header, tensors)


def pack(value: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split ``value`` (nested dict/list/tuple of JSON scalars and tensors) into JSON and tensors.

    Tensors are cloned to be contiguous and own their storage, as
    safetensors requires.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = v.detach().cpu().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(v, dict):
            return {str(k): walk(x) for k, x in v.items()}
        if isinstance(v, tuple):  # JSON has no tuples; a state (h, C) must come back as a tuple
            return {"__tuple__": [walk(x) for x in v]}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise TypeError(f"cannot send a value of type {type(v).__name__}")

    return walk(value), tensors


def unpack(header: Any, tensors: dict[str, torch.Tensor], text: Callable[[str], str] | None = None) -> Any:
    """Inverse of :func:`pack`; an unknown tensor key raises :class:`WireError`.

    ``text``: applied to every string of the header (dictionary keys too), e.g. to make a hostile
    peer's text safe where it enters the trusted side.
    """

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) == {"__tensor__"}:
                key = v["__tensor__"]
                if not isinstance(key, str) or key not in tensors:
                    raise WireError(f"unknown tensor {str(key)[:100]!r}")
                return tensors[key]
            if set(v) == {"__tuple__"} and isinstance(v["__tuple__"], list):
                return tuple(walk(x) for x in v["__tuple__"])
            return {(text(k) if text else k): walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if text is not None and isinstance(v, str):
            return text(v)
        return v

    return walk(header)


def encode(value: Any) -> bytes:
    """``value`` -> message bytes."""
    header, tensors = pack(value)
    head = json.dumps(header, allow_nan=True).encode()
    blob = st_save(tensors) if tensors else b""
    return struct.pack("<I", len(head)) + head + blob


def decode(data: bytes, *, text: Callable[[str], str] | None = None) -> Any:
    """Message bytes -> value, with plain tensors only; anything malformed raises :class:`WireError`.

    ``text``: see :func:`unpack`.
    """
    if len(data) < 4:
        raise WireError("truncated message")
    (n,) = struct.unpack("<I", data[:4])
    if 4 + n > len(data):
        raise WireError("truncated header")
    try:
        header = json.loads(data[4 : 4 + n])
        tensors = st_load(data[4 + n :]) if len(data) > 4 + n else {}
        return unpack(header, tensors, text)
    except WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything malformed is the peer's fault (deep nesting too)
        raise WireError(f"malformed message: {type(exc).__name__}: {str(exc)[:200]}") from None


# ---------------------------------------------------------------------------------------------
# framing on a stream socket


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack("<Q", len(data)) + data)


def recv_frame(sock: socket.socket, *, max_bytes: int = MAX_FRAME, deadline: float | None = None) -> bytes:
    """Read one frame; ``deadline`` is a ``time.monotonic()`` value (None: wait forever).

    Raises :class:`ChannelTimeout`, :class:`ChannelClosed`, or :class:`WireError` when the announced
    size exceeds ``max_bytes`` (the frame is then not read at all).
    """
    (size,) = struct.unpack("<Q", _recv_exact(sock, 8, deadline))
    if size > max_bytes:
        raise WireError(f"answer of {size} bytes exceeds the limit of {max_bytes}")
    return _recv_exact(sock, size, deadline)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    got = 0
    fd = sock.fileno()
    poller = select.poll()  # not select.select: it fails on descriptors above 1024
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise ChannelTimeout("no answer before the deadline")
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise ChannelClosed("the channel was closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
