"""The feature bank: filters over (Z, Y, X) volumes, each declaring its halo.

Every filter is an array function, ``gaussian(image, sigma=1.0, *, spacing=None,
truncate=4.0)``: the array first, one essential parameter, the rest keyword-only, float32
output (uint8 for masks), borders by symmetric reflection (scipy's ``mode='reflect'``). Each is
registered (:func:`get_filter`, :func:`list_filters`) with its halo, so it runs chunk by chunk
on a dask volume (:func:`apply_filter`) or a workspace layer (:func:`compute_features`) with a
result equal to the whole-array one.

The spacing rule
    Lengths (``sigma``, ``radius``, ``max_distance``) are in voxels of the finest axis. With
    ``spacing=(sz, sy, sx)`` each axis gets the length times ``min(spacing) / spacing[axis]``,
    so on thick z sections the z sigma, in voxels, is proportionally smaller and the filter is
    isotropic in physical space. Derivatives and distances are per voxel of the finest axis.

Filters
    Smoothing and edges: :func:`gaussian`, :func:`difference_of_gaussians`,
    :func:`laplacian_of_gaussian`, :func:`gradient_magnitude`, :func:`local_center`,
    :func:`local_normalize`. Texture: :func:`hessian_eigenvalues`,
    :func:`structure_tensor_eigenvalues`, :func:`frangi`. Denoising: :func:`median`,
    :func:`tv_denoise`, :func:`wavelet_denoise`. Masks: :func:`threshold`, :func:`dilation`,
    :func:`erosion`, :func:`opening`, :func:`closing`, :func:`distance_transform`. Intensity:
    :func:`gamma`, :func:`rescale`, :func:`clip`, :func:`invert`.
Banks and presets
    :class:`FeatureSpec` (filter, params, output name), :func:`feature_arrays` (lazy outputs
    of many features sharing work per chunk), presets :func:`load_preset` / :func:`save_preset`
    (built-in ``default``, an ilastik-like multiscale bank, and ``small``), and
    :func:`parse_filter_arg` for the CLI's ``--filter gaussian:sigma=2``.

Examples
--------
>>> import numpy as np
>>> from voxelwise import filters
>>> image = np.random.default_rng(0).random((16, 32, 32)).astype(np.float32)
>>> filters.hessian_eigenvalues(image, 1.0, spacing=(2.0, 1.0, 1.0)).shape
(3, 16, 32, 32)
>>> lazy = filters.apply_filter(image, "gaussian", sigma=2.0)  # dask array
"""

from __future__ import annotations

from voxelwise.filters._bank import FeatureSpec, feature_arrays
from voxelwise.filters._denoise import median, tv_denoise, wavelet_denoise
from voxelwise.filters._errors import (
    FilterInputError,
    FilterParameterError,
    PresetError,
    PresetNotFoundError,
    UnknownFilterError,
)
from voxelwise.filters._features import compute_features
from voxelwise.filters._frangi import frangi
from voxelwise.filters._gaussian import (
    difference_of_gaussians,
    gaussian,
    gradient_magnitude,
    laplacian_of_gaussian,
)
from voxelwise.filters._intensity import clip, gamma, invert, rescale, threshold
from voxelwise.filters._lazy import apply_filter
from voxelwise.filters._morphology import closing, dilation, distance_transform, erosion, opening
from voxelwise.filters._presets import (
    list_presets,
    load_preset,
    parse_filter_arg,
    preset_description,
    save_preset,
)
from voxelwise.filters._registry import FILTERS, get_filter, list_filters, register
from voxelwise.filters._spec import FilterSpec
from voxelwise.filters._texture import (
    hessian_eigenvalues,
    local_center,
    local_normalize,
    structure_tensor_eigenvalues,
)

__all__ = [
    "FILTERS",
    "FeatureSpec",
    "FilterInputError",
    "FilterParameterError",
    "FilterSpec",
    "PresetError",
    "PresetNotFoundError",
    "UnknownFilterError",
    "apply_filter",
    "clip",
    "closing",
    "compute_features",
    "difference_of_gaussians",
    "dilation",
    "distance_transform",
    "erosion",
    "feature_arrays",
    "frangi",
    "gamma",
    "gaussian",
    "get_filter",
    "gradient_magnitude",
    "hessian_eigenvalues",
    "invert",
    "laplacian_of_gaussian",
    "list_filters",
    "list_presets",
    "load_preset",
    "local_center",
    "local_normalize",
    "median",
    "opening",
    "parse_filter_arg",
    "preset_description",
    "register",
    "rescale",
    "save_preset",
    "structure_tensor_eigenvalues",
    "threshold",
    "tv_denoise",
    "wavelet_denoise",
]
