"""A cache of decoded chunks of layers that never change in place.

A viewer scrolling through z asks for slice after slice of the same chunks; decoding each
chunk once instead of once per slice makes slice requests several times cheaper. Only layers
that no edit rewrites in place are cached (image, feature, probability, confidence and
supervoxel layers: annotation edits change label-like layers chunk by chunk); replacing a layer
writes a new directory, so cached chunks of the old one can never be served for the new one.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["CACHED_KINDS", "ChunkCache"]

CACHED_KINDS = frozenset({"image", "feature", "probabilities", "confidence", "supervoxels"})

Key = tuple[str, str, int, tuple[int, ...]]


class ChunkCache:
    """LRU of decoded chunks, bounded by ``max_bytes``; safe to share between threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self._items: OrderedDict[Key, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, key: Key) -> np.ndarray | None:
        with self._lock:
            block = self._items.get(key)
            if block is not None:
                self._items.move_to_end(key)
            return block

    def _put(self, key: Key, block: np.ndarray) -> None:
        if block.nbytes > self.max_bytes // 8:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = block
            self.bytes += block.nbytes
            while self.bytes > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self.bytes -= old.nbytes

    def read(
        self, array: Any, box: tuple[slice, ...], *, scope: tuple[str, str, int]
    ) -> np.ndarray:
        """``array[box]`` (``box`` of slices with steps of 1), assembled from decoded chunks.

        ``scope`` names the array: (workspace path, layer directory, level).
        """
        chunks = tuple(int(c) for c in array.chunks)
        shape = tuple(int(s) for s in array.shape)
        out = np.empty(tuple(b.stop - b.start for b in box), dtype=array.dtype)
        ranges = [range(b.start // c, -(-b.stop // c)) for b, c in zip(box, chunks)]
        for index in itertools.product(*ranges):
            key: Key = (scope[0], scope[1], scope[2], tuple(index))
            block = self._get(key)
            if block is None:
                cbox = tuple(
                    slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape)
                )
                block = np.asarray(array[cbox])
                block.setflags(write=False)
                self._put(key, block)
            lo = [max(b.start, i * c) for b, i, c in zip(box, index, chunks)]
            hi = [min(b.stop, (i + 1) * c) for b, i, c in zip(box, index, chunks)]
            src = tuple(slice(a - i * c, z - i * c) for a, z, i, c in zip(lo, hi, index, chunks))
            dst = tuple(slice(a - b.start, z - b.start) for a, z, b in zip(lo, hi, box))
            out[dst] = block[src]
        return out
