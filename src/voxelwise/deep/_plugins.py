"""Networks from plugins: a function or class registered under ``voxelwise.networks``.

A plugin network is called as ``factory(classes, *, option: type = default, ...)`` with its
type-annotated keyword options (``in_channels: int = 1`` when it should train on several image
layers) and returns a :class:`torch.nn.Module` that takes ``(N, C, Y, X)`` (``ndim = 2``) or
``(N, C, Z, Y, X)`` (``ndim = 3``) float input and returns ``(N, classes, ...)`` logits of the
same spatial shape. The factory declares:

``ndim`` (required)
    2 or 3: which patches it is trained on and how it predicts.
``divisor`` (optional)
    Spatial multiple the input is padded to (e.g. ``(4, 4)`` for two poolings); default 1.
``patch_size`` (optional)
    Default patch size (2 or 3 values); default ``(256, 256)`` or ``(16, 128, 128)``.

The module may have ``embed(x) -> (N, D)`` (features for the 'kmeans', 'coreset' and 'hybrid'
active-learning strategies). A model file stores the plugin's name and options and the
network's weights, never its code: loading it needs the plugin installed.
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = [
    "BUILTIN_NDIM",
    "default_patch",
    "divisor_of",
    "is_plugin_arch",
    "network_ndim",
    "network_plugin",
]

#: Dimensionality of the built-in architectures.
BUILTIN_NDIM = {"unet2d": 2, "unet3d": 3, "hybrid": 3}
_BUILTIN_PATCH = {"unet2d": (256, 256), "unet3d": (16, 128, 128), "hybrid": (5, 128, 128)}
_DEFAULT_PATCH = {2: (256, 256), 3: (16, 128, 128)}


def is_plugin_arch(arch: Any) -> bool:
    """Whether ``arch`` names a plugin network (a dotted ``package.name``)."""
    return isinstance(arch, str) and "." in arch


def network_plugin(arch: str) -> Any:
    """The :class:`~voxelwise.plugins.PluginInfo` of the network plugin ``arch``.

    Raises
    ------
    PluginNotFoundError, BrokenPluginError
        Not installed, or installed but failing to load.
    """
    from voxelwise.plugins import get_plugin

    return get_plugin("network", arch)


def network_ndim(arch: str) -> int:
    """2 or 3: the patches an architecture (built-in or plugin) takes.

    Raises
    ------
    ValueError
        An unknown built-in name.
    PluginError
        A plugin that is missing, broken, or declares no valid ``ndim``.
    """
    if arch in BUILTIN_NDIM:
        return BUILTIN_NDIM[arch]
    if not is_plugin_arch(arch):
        raise ValueError(
            f"Expected arch as one of {tuple(BUILTIN_NDIM)} or a plugin network "
            f"('package.name'), got {arch!r} instead"
        )
    from voxelwise.plugins import PluginError

    obj = network_plugin(arch).obj
    ndim = getattr(obj, "ndim", None)
    if isinstance(ndim, bool) or not isinstance(ndim, numbers.Integral) or ndim not in (2, 3):
        raise PluginError(
            f"The network plugin {arch!r} declares ndim={ndim!r}; it must set ndim = 2 (it takes "
            "(N, C, Y, X) patches) or ndim = 3 ((N, C, Z, Y, X)) on its function or class"
        )
    return int(ndim)


def default_patch(arch: str) -> tuple[int, ...]:
    """The default patch size of an architecture (a plugin's ``patch_size``, else by ndim)."""
    ndim = network_ndim(arch)
    if arch in _BUILTIN_PATCH:
        return _BUILTIN_PATCH[arch]
    declared = getattr(network_plugin(arch).obj, "patch_size", None)
    if declared is None:
        return _DEFAULT_PATCH[ndim]
    from voxelwise.plugins import PluginError

    try:
        patch = tuple(int(v) for v in declared)
    except (TypeError, ValueError) as e:
        raise PluginError(
            f"The network plugin {arch!r} declares patch_size={declared!r}; expected {ndim} "
            "whole numbers"
        ) from e
    if len(patch) != ndim or min(patch) < 1:
        raise PluginError(
            f"The network plugin {arch!r} declares patch_size={declared!r}; expected {ndim} "
            f"whole numbers >= 1 for a {ndim}D network"
        )
    return patch


def divisor_of(arch: str, obj: Any, ndim: int) -> tuple[int, ...]:
    """The spatial multiple a plugin network's input is padded to (``divisor``, default 1)."""
    declared: Any = getattr(obj, "divisor", 1)
    values: Any = (declared,) * ndim if isinstance(declared, numbers.Integral) else declared
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    if len(out) != ndim or min(out) < 1:
        from voxelwise.plugins import PluginError

        raise PluginError(
            f"The network plugin {arch!r} declares divisor={declared!r}; expected a whole number "
            f">= 1 or {ndim} of them"
        )
    return out
