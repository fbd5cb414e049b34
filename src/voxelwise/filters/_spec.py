"""``FilterSpec``: what the registry knows about one filter, and the in-memory runner.

Every filter is written once, as a *core* function over a block that carries at least ``halo``
voxels of context on every side; the core returns only the block's interior (the block minus
``margin`` on each side). The same core runs on a whole in-memory image (padded by symmetric
reflection, :func:`run_array`) and on every chunk of a dask array (:func:`apply_filter`, through
:func:`voxelwise.blockwise.map_chunks`, which pads the volume's border the same way), so the
chunked result equals the whole-array result.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxelwise.filters._errors import FilterParameterError
from voxelwise.filters._params import as_image, parse_spacing_opt

__all__ = ["FilterSpec", "embed_core", "run_array"]

Halo = tuple[int, int, int]


@dataclass(frozen=True)
class FilterSpec:
    """Description of one filter of the bank.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"gaussian"``.
    func : callable
        The public array function ``func(image, essential=..., *, ...)``; its signature is the
        filter's parameter schema (see :meth:`parameters`).
    check : callable
        ``check(**params) -> dict``: validates the parameters and returns all of them, normalised.
    halo : callable
        ``halo(**params) -> (z, y, x)``: voxels of context the filter needs on each side.
    core : callable
        ``core(block, *, margin, **params)``: computes the filter on ``block`` and returns its
        interior (``block`` minus ``margin`` voxels on each side), ``(Z, Y, X)`` or, for several
        outputs, ``(C, Z, Y, X)``.
    outputs : tuple of str
        Names of the outputs of a multi-output filter (``("eig1", "eig2", "eig3")``); empty for
        one output.
    accepts : frozenset of str
        Input kinds that make sense: ``"image"`` (intensities) and/or ``"labels"`` (label or mask
        layers, for thresholding, morphology and distance transforms).
    dtype : str
        Output dtype.
    resolve : callable, optional
        ``resolve(image, params, scheduler) -> params`` fills in parameters that depend on the
        whole volume (e.g. the noise level of wavelet denoising) with one chunked pass over the
        dask ``image``, before the chunks are filtered.
    summary : str
        One line describing the filter (for ``voxelwise features --list``).
    short : str
        Prefix of default output layer names (``"hessian"`` gives ``hessian_eig1_s1.0``);
        default :attr:`name`.
    """

    name: str
    func: Callable[..., Any]
    check: Callable[..., dict[str, Any]]
    halo: Callable[..., Halo]
    core: Callable[..., np.ndarray]
    outputs: tuple[str, ...] = ()
    accepts: frozenset[str] = field(default_factory=lambda: frozenset({"image"}))
    dtype: str = "float32"
    resolve: Callable[..., dict[str, Any]] | None = None
    summary: str = ""
    short: str = ""

    @property
    def n_outputs(self) -> int:
        return max(1, len(self.outputs))

    def parameters(self) -> dict[str, Any]:
        """Parameter names and defaults, from the signature of :attr:`func` (image excluded)."""
        params = list(inspect.signature(self.func).parameters.values())[1:]
        return {
            p.name: (None if p.default is inspect.Parameter.empty else p.default) for p in params
        }

    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the schema and return every parameter, normalised."""
        known = self.parameters()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise FilterParameterError(
                f"The filter {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are {', '.join(known)}"
            )
        return self.check(**params)

    def halo_of(self, params: Mapping[str, Any]) -> Halo:
        """The halo for already normalised ``params``."""
        return self.halo(**params)


def run_array(spec: FilterSpec, image: Any, params: Mapping[str, Any]) -> np.ndarray:
    """Run ``spec`` on a whole in-memory 2D or 3D image (the array functions call this).

    The image is padded by the filter's halo with symmetric reflection (``d c b a | a b c d``,
    scipy's ``mode='reflect'``), the core runs on it and returns the interior. Parameters that
    depend on the whole image (:attr:`FilterSpec.resolve`) are computed from the image first.
    """
    arr, was_2d = as_image(image)
    params = dict(params)
    if was_2d and params.get("spacing") is not None:
        params["spacing"] = parse_spacing_opt(params["spacing"])
    p = spec.normalize(params)
    if spec.resolve is not None:
        import dask.array as da

        p = spec.resolve(da.from_array(arr, chunks=arr.shape), p, "sync")
    halo = spec.halo_of(p)
    block = arr if not any(halo) else np.pad(arr, [(h, h) for h in halo], mode="symmetric")
    out = spec.core(block, margin=halo, **p)
    if was_2d:
        out = out[..., 0, :, :]
    return np.ascontiguousarray(out, dtype=np.dtype(spec.dtype))


def embed_core(core: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Wrap a core (which returns the block's interior) as a chunk function for
    :func:`voxelwise.blockwise.map_chunks`, which expects the block's full shape and trims the
    halo itself. Only the interior of the returned array is written; the rest is never read."""

    def func(block: np.ndarray, *, margin: Halo, **params: Any) -> np.ndarray:
        inner = core(block, margin=margin, **params)
        out = np.empty((*inner.shape[:-3], *block.shape[-3:]), dtype=inner.dtype)
        index = [slice(m, n - m) for m, n in zip(margin, block.shape[-3:])]
        out[..., index[0], index[1], index[2]] = inner
        return out

    func.__name__ = getattr(core, "__name__", "filter")
    return func
