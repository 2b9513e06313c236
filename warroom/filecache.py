"""A directory of YAML read once and kept until a file in it changes: runbooks and on-call schedules are read
by every run, triage and gate, and edited by people at any time."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
Stamp = tuple[tuple[str, int, int], ...]


def stamp(directory: Path) -> Stamp:
    """Each YAML file's name, modification time and size: any edit, new file or removal changes it."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    out = []
    for e in entries:
        if e.name.endswith((".yaml", ".yml")):
            try:
                st = e.stat()
            except FileNotFoundError:  # removed while we looked
                continue
            out.append((e.name, st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


class DirectoryCache(Generic[T]):
    """``load(directory)`` once per change of the directory's YAML files; thread-safe."""

    def __init__(self, directory: Path, load: Callable[[Path], T]) -> None:
        self.directory = directory
        self._load = load
        self._stamp: Stamp | None = None
        self._value: T | None = None
        self._lock = threading.Lock()
        self.loads = 0  # how many times it read the files (what a test of the cache counts)

    def get(self) -> T:
        now = stamp(self.directory)
        with self._lock:
            if self._value is None or now != self._stamp:
                self._value = self._load(self.directory)
                self._stamp = now
                self.loads += 1
            return self._value


_SHARED: dict[tuple[str, Path], DirectoryCache[object]] = {}
_AS_ASKED: dict[tuple[str, Path], DirectoryCache[object]] = {}  # by the absolute path as given
_SHARED_LOCK = threading.Lock()


def shared(what: str, directory: Path, load: Callable[[Path], T]) -> DirectoryCache[T]:
    """The process's one cache of ``what`` in ``directory`` (a worker runs many flows; they share it)."""
    asked = _AS_ASKED.get((what, directory))
    if asked is not None:  # the receiver asks once per alert: resolving the path was 3 % of its ledger line
        return asked  # type: ignore[return-value]
    key = (what, directory.resolve())
    with _SHARED_LOCK:
        cache = _SHARED.get(key)
        if cache is None:
            cache = _SHARED[key] = DirectoryCache(directory, load)
        if directory.is_absolute():  # a relative one means another directory after a chdir
            _AS_ASKED[(what, directory)] = cache
        return cache  # type: ignore[return-value]
