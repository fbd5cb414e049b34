"""A nearest-centroid classifier: a plugin classifier is a class with typed keyword parameters.

voxelwise calls ``fit(x, y)`` with (N, F) float32 features and class indices ``0..K-1`` and
``predict_proba(x)`` for (N, K) probabilities. ``to_arrays()`` / ``from_arrays(arrays)`` let a
trained model be saved in voxelwise's pickle-free model files.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


class NearestCentroid:
    """Nearest class centroid of standardised features, soft-maxed distances as probabilities.

    Parameters
    ----------
    temperature : float
        Softness of the probabilities (larger is softer).
    metric : {"euclidean", "manhattan"}
        Distance to the centroids.
    """

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        metric: Literal["euclidean", "manhattan"] = "euclidean",
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"Expected temperature > 0, got {temperature!r} instead")
        self.temperature = float(temperature)
        self.metric = metric
        self.centroids = np.zeros((0, 0))
        self.mean = np.zeros(0)
        self.scale = np.ones(0)

    def fit(self, x: np.ndarray, y: np.ndarray) -> NearestCentroid:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        self.mean = x.mean(axis=0)
        scale = x.std(axis=0)
        self.scale = np.where(scale > 1e-12, scale, 1.0)
        xs = (x - self.mean) / self.scale
        self.centroids = np.stack([xs[y == k].mean(axis=0) for k in range(int(y.max()) + 1)])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        xs = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        diff = xs[:, None, :] - self.centroids[None, :, :]
        if self.metric == "manhattan":
            dist = np.abs(diff).sum(axis=2)
        else:
            dist = np.sqrt((diff**2).sum(axis=2))
        logits = -dist / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self.centroids, "mean": self.mean, "scale": self.scale}

    def from_arrays(self, arrays: dict[str, np.ndarray]) -> NearestCentroid:
        self.centroids = np.asarray(arrays["centroids"], dtype=np.float64)
        self.mean = np.asarray(arrays["mean"], dtype=np.float64)
        self.scale = np.asarray(arrays["scale"], dtype=np.float64)
        return self
