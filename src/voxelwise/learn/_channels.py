"""Several image layers as input channels: features are computed from each image.

A fluorescence channel can guide the segmentation of organelles in another modality (as in
SuRVoS2): presets and filter specs are computed from every image layer given, the layers of an
image other than ``raw`` prefixed with its name (``fluo.gaussian_s1.0``), and the classifier
sees all of them side by side.
"""

from __future__ import annotations

from typing import Any

from voxelwise.learn._errors import FeatureMismatchError

__all__ = ["for_source", "parse_sources"]


def parse_sources(ws: Any, source: Any) -> list[str]:
    """Image layers to compute features from (one name or several), each checked."""
    sources = [source] if isinstance(source, str) else list(source)
    if not sources or not all(isinstance(s, str) for s in sources):
        raise TypeError(f"Expected image layer name(s), got {source!r} instead")
    if len(set(sources)) != len(sources):
        raise FeatureMismatchError(f"Image layer(s) given twice in {sources}; list each once")
    for s in sources:
        if s not in ws:
            raise FeatureMismatchError(
                f"No image layer named {s!r} in the workspace {ws.path}; add it first with "
                "voxelwise.workspace.add_image(ws, name, file)"
            )
        if ws.layer(s).is_label:
            raise FeatureMismatchError(
                f"Layer {s!r} is a {ws.layer(s).kind!r} layer of label values; features are "
                "computed from image layers (raw, or those added with add_image)"
            )
    return sources


def for_source(feature: Any, source: str) -> Any:
    """The feature with its layer name(s) prefixed by ``source.`` (unchanged for ``raw``)."""
    from voxelwise.filters import FeatureSpec

    if source == "raw":
        return feature
    spec = feature.spec
    if feature.name is not None:
        base = feature.name
    elif not spec.outputs:
        base = feature.output_names()[0]
    else:
        short = spec.short or spec.name
        base = short + feature.output_names()[0][len(f"{short}_{spec.outputs[0]}") :]
    return FeatureSpec(feature.filter, feature.params, f"{source}.{base}")
