"""Run third-party decoders where a crash cannot take the caller down.

Corrupted bytes reach libjpeg, OpenJPEG, libwebp, dav1d and FFmpeg's HEVC decoder. They are well
fuzzed, but a segfault or an endless loop inside any of them would kill (or freeze) a whole sweep.
So decoding runs in one persistent worker process per caller process:

- the worker is a plain ``python -m mtgc_link.codecs.sandbox`` child (not ``multiprocessing``), so
  user scripts without an ``if __name__ == "__main__"`` guard are never re-imported;
- requests and replies go over two pipes (``multiprocessing.connection.Connection`` framing);
- each decode has a time limit; a worker that dies (signal, out of memory) or overruns is killed
  and restarted on the next call, and the caller gets a typed failure, never an exception.

Only functions in ``mtgc_link.codecs.*`` may be called (``"module:function"``); each takes the
bitstream plus JSON-able keyword arguments and returns a uint8 numpy array.

Set ``MTGC_LINK_SANDBOX=0`` to decode in-process (exceptions still become failures, crashes don't).
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TIMEOUT_S = 20.0
# Address-space cap for the worker: a corrupted header that claims a gigapixel image fails there
# (MemoryError -> failure) instead of swapping the machine.
DEFAULT_MEMORY_LIMIT = 6 * 2**30
_ALLOWED_PREFIX = "mtgc_link.codecs."


@dataclass
class SandboxResult:
    """``array`` on success, else ``reason`` (one line)."""

    array: np.ndarray | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.array is not None


def _resolve(fn: str):
    module, _, name = fn.partition(":")
    if not module.startswith(_ALLOWED_PREFIX) or not name:
        raise ValueError(f"sandbox function must be 'mtgc_link.codecs.<module>:<name>', got {fn!r}")
    return getattr(importlib.import_module(module), name)


def call_in_process(fn: str, data: bytes, kwargs: dict[str, Any]) -> SandboxResult:
    """Run ``fn(data, **kwargs)`` here; any exception becomes a failure reason."""
    try:
        out = _resolve(fn)(data, **kwargs)
    except Exception as exc:  # a decoder may raise anything on garbage; the caller wants a reason
        return SandboxResult(None, _one_line(exc))
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8:
        return SandboxResult(None, f"{fn} returned {type(out).__name__}, not a uint8 array")
    return SandboxResult(out)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _one_line(exc: BaseException) -> str:
    """One line, at most 300 characters, without memory addresses (``<_io.BytesIO object at 0x7f..>``
    differs from run to run and would make the results table irreproducible).

    >>> _one_line(OSError("cannot identify image file <_io.BytesIO object at 0x7f9b75c13240>"))
    'OSError: cannot identify image file <_io.BytesIO object>'
    """
    text = _ADDRESS.sub("", " ".join(str(exc).split())) or "(no message)"
    return f"{type(exc).__name__}: {text}"[:300]


class DecodeSandbox:
    """A persistent decoder worker with a per-call time limit; restarted when it dies.

    Thread-safe (one call at a time). After ``fork`` the child builds its own worker.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, memory_limit: int | None = DEFAULT_MEMORY_LIMIT):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.memory_limit = memory_limit
        self._proc: subprocess.Popen | None = None
        self._req: Connection | None = None
        self._rep: Connection | None = None
        self._lock = threading.Lock()
        self.starts = 0  # worker processes started so far (restarts = starts - 1)

    # -- worker lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        args = [sys.executable, "-m", "mtgc_link.codecs.sandbox", str(req_r), str(rep_w)]
        if self.memory_limit:
            args.append(str(int(self.memory_limit)))
        self._proc = subprocess.Popen(
            args,
            pass_fds=(req_r, rep_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # decoders print warnings on every corrupted stream
            env=env,
        )
        os.close(req_r)
        os.close(rep_w)
        self._req = Connection(req_w, readable=False)
        self._rep = Connection(rep_r, writable=False)
        self._pid = os.getpid()

    def close(self) -> None:
        """Stop the worker (it is restarted on the next call)."""
        for conn in (self._req, self._rep):
            if conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = self._req = self._rep = None

    def _death_reason(self) -> str:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "decoder worker stopped answering"
        if code < 0:
            return f"decoder crashed (signal {-code})"
        return f"decoder worker exited with status {code}"

    # -- calls --------------------------------------------------------------------------------
    def call(self, fn: str, data: bytes, **kwargs: Any) -> SandboxResult:
        """Run ``fn(data, **kwargs)`` in the worker. Never raises for decoder misbehaviour."""
        with self._lock:
            if self._proc is not None and getattr(self, "_pid", None) != os.getpid():
                self._proc = self._req = self._rep = None  # inherited through fork: not ours
            if self._proc is None or self._proc.poll() is not None:
                self.close()
                self._start()
                self.starts += 1
            assert self._req is not None and self._rep is not None
            try:
                self._req.send_bytes(json.dumps({"fn": fn, "kwargs": kwargs}).encode())
                self._req.send_bytes(data)
                deadline = time.monotonic() + self.timeout_s
                head = self._recv(deadline)
                if head is None:
                    return SandboxResult(None, self._fail_timeout())
                meta = json.loads(head)
                if not meta["ok"]:
                    return SandboxResult(None, meta["reason"])
                body = self._recv(deadline)
                if body is None:
                    return SandboxResult(None, self._fail_timeout())
                arr = np.frombuffer(body, dtype=np.uint8).reshape(meta["shape"])
                return SandboxResult(arr)
            except (EOFError, OSError):
                reason = self._death_reason()
                self.close()
                return SandboxResult(None, reason)

    def _recv(self, deadline: float) -> bytes | None:
        assert self._rep is not None
        if not self._rep.poll(max(0.0, deadline - time.monotonic())):
            return None
        return self._rep.recv_bytes()

    def _fail_timeout(self) -> str:
        self.close()
        return f"decoder timed out after {self.timeout_s:g} s"


_SANDBOX: DecodeSandbox | None = None
_SANDBOX_LOCK = threading.Lock()


def get_sandbox() -> DecodeSandbox:
    """The process-wide sandbox (started lazily on the first decode)."""
    global _SANDBOX
    with _SANDBOX_LOCK:
        if _SANDBOX is None:
            _SANDBOX = DecodeSandbox()
            atexit.register(_SANDBOX.close)
        return _SANDBOX


def sandbox_enabled() -> bool:
    return os.environ.get("MTGC_LINK_SANDBOX", "1").strip().lower() not in ("0", "false", "no", "off")


def safe_call(fn: str, data: bytes, **kwargs: Any) -> SandboxResult:
    """Decode through the sandbox (or in-process when ``MTGC_LINK_SANDBOX=0``)."""
    if sandbox_enabled():
        return get_sandbox().call(fn, data, **kwargs)
    return call_in_process(fn, data, kwargs)


# -- probes: misbehaving "decoders" that prove the containment (tests, benchmarks) ------------------------
def probe_crash(data: bytes) -> np.ndarray:
    """Die the way a decoder with a memory bug dies (SIGSEGV)."""
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable")


def probe_hang(data: bytes) -> np.ndarray:
    """Loop forever, as a decoder stuck on a malicious stream would."""
    while True:
        time.sleep(1)


def probe_echo(data: bytes) -> np.ndarray:
    """Return the bytes as a (1, n, 1) array: a decoder that works."""
    return np.frombuffer(data, dtype=np.uint8).reshape(1, -1, 1)


# -- worker side ------------------------------------------------------------------------------------
def _worker(req_fd: int, rep_fd: int, memory_limit: int | None) -> None:
    if memory_limit:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
        except (ImportError, ValueError, OSError):
            pass  # not on this platform: the time limit still holds
    req = Connection(req_fd, writable=False)
    rep = Connection(rep_fd, readable=False)
    while True:
        try:
            meta = json.loads(req.recv_bytes())
            data = req.recv_bytes()
        except EOFError:  # the caller went away
            return
        res = call_in_process(meta["fn"], data, meta["kwargs"])
        if res.array is None:
            rep.send_bytes(json.dumps({"ok": False, "reason": res.reason}).encode())
        else:
            arr = np.ascontiguousarray(res.array)
            rep.send_bytes(json.dumps({"ok": True, "shape": list(arr.shape)}).encode())
            rep.send_bytes(memoryview(arr).cast("B"))


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
