"""The service's memory under a threaded server: glibc's allocator settings, and memory
given back to the system after a large job (issue 19).

What the soak showed (``bench/soak.py``, ``bench/memprobe.py``): the service's resident
memory grew in steps with each 20,000-row ledger import and export although Python
held no more objects afterwards. glibc's malloc gives every thread that allocates its
own arena (up to 8 per core); an import or export on a waitress thread grows that
thread's arena by tens of megabytes of pandas columns, text and libpq results, and a
freed arena keeps its pages unless the very top of it is free. With eight threads the
peaks of eight jobs stay resident, one after another.

- :func:`configure` (``gridmap serve``, before its threads start) caps the arenas at
  ``memory.arena_max`` (2), so every thread's large job reuses the same free memory,
  unless ``MALLOC_ARENA_MAX`` is set in the environment (glibc read it itself).
- :func:`release` (after a large job's response has gone out) collects cyclic garbage
  and ``malloc_trim(0)``: every arena's free pages go back to the system.

Both do nothing where the C library is not glibc (musl, macOS).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time

log = logging.getLogger(__name__)
M_ARENA_MAX = -8          # mallopt parameter numbers from glibc's malloc.h
_released = threading.Lock()
_libc = None
_state = {"trim": True, "releases": 0, "last_s": 0.0}


def _glibc():
    """glibc's functions, or None elsewhere."""
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL("libc.so.6", use_errno=True)
            lib.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            lib.malloc_trim.argtypes = (ctypes.c_size_t,)
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    return _libc or None


def configure(cfg: dict) -> dict:
    """Apply ``cfg["memory"]`` to this process (call before threads allocate); returns
    what was set, for the start-up line."""
    settings = cfg.get("memory") or {}
    _state["trim"] = bool(settings.get("trim_after_jobs", True))
    done: dict = {"trim_after_jobs": _state["trim"]}
    lib = _glibc()
    if lib is None:
        return done
    arenas = settings.get("arena_max")
    if os.environ.get("MALLOC_ARENA_MAX"):
        done["arena_max"] = f"{os.environ['MALLOC_ARENA_MAX']} (MALLOC_ARENA_MAX)"
    elif arenas and int(arenas) > 0 and lib.mallopt(M_ARENA_MAX, int(arenas)) == 1:
        done["arena_max"] = int(arenas)
    return done


def release() -> bool:
    """After a large job: free cyclic garbage and give every arena's free pages back to
    the system. One at a time (another thread's call already does the work); False when
    skipped."""
    if not _state["trim"] or not _released.acquire(blocking=False):
        return False
    try:
        started = time.perf_counter()
        gc.collect()
        lib = _glibc()
        if lib is not None:
            lib.malloc_trim(0)
        _state["releases"] += 1
        _state["last_s"] = time.perf_counter() - started
        return True
    except Exception:  # never let giving memory back fail a request
        log.exception("could not release memory")
        return False
    finally:
        _released.release()
