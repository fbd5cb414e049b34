"""compute_features on a workspace: layers, provenance, label layers, overwrite, progress."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise import filters
from voxelwise.errors import CancelledError, LayerExistsError
from voxelwise.filters import FeatureSpec, FilterInputError
from voxelwise.workspace import Workspace

SPACING = (2.0, 1.0, 1.0)


@pytest.fixture
def image(rng) -> np.ndarray:
    return (rng.random((14, 30, 26)) * 255).astype(np.uint8)


@pytest.fixture
def ws(tmp_path, image) -> Workspace:
    return Workspace.create(tmp_path / "f.vw", image, chunks=(5, 16, 12), spacing=SPACING)


def test_small_preset_writes_one_layer_per_output(ws, image):
    done = []
    names = filters.compute_features(ws, "small", progress=lambda d, t: done.append((d, t)))
    assert names == [
        "gaussian_s1.0",
        "gradmag_s1.0",
        "log_s1.6",
        "hessian_eig1_s1.6",
        "hessian_eig2_s1.6",
        "hessian_eig3_s1.6",
    ]
    for name in names:
        info = ws.layer(name)
        assert info.kind == "feature" and info.sources == ("raw",) and info.dtype == "float32"
    info = ws.layer("hessian_eig2_s1.6")
    assert info.params["filter"] == "hessian_eigenvalues" and info.params["output"] == "eig2"
    assert info.params["sigma"] == 1.6 and info.params["spacing"] == list(SPACING)
    expected = filters.hessian_eigenvalues(image, 1.6, spacing=SPACING)[1]
    np.testing.assert_allclose(ws.get("hessian_eig2_s1.6").compute(), expected, atol=1e-4)
    np.testing.assert_allclose(
        ws.get("gaussian_s1.0").compute(), filters.gaussian(image, 1.0, spacing=SPACING), atol=1e-4
    )
    assert done and done[-1][0] == done[-1][1]  # progress reaches the end
    assert all(d <= t for d, t in done)
    assert [p.name for p in ws.path.iterdir() if p.name.startswith(".features-")] == []


def test_single_feature_and_resolved_params_are_recorded(ws, image):
    assert filters.compute_features(ws, "rescale") == ["rescale"]
    params = ws.layer("rescale").params
    assert params["in_range"] == [float(image.min()), float(image.max())]
    assert filters.compute_features(ws, [FeatureSpec("gaussian", {"sigma": 2}, name="g2")]) == [
        "g2"
    ]


def test_existing_layers_need_overwrite(ws):
    filters.compute_features(ws, "gaussian:sigma=1.0")
    with pytest.raises(LayerExistsError, match=r"gaussian_s1\.0"):
        filters.compute_features(ws, ["gaussian:sigma=1.0", "gaussian:sigma=2.0"])
    assert "gaussian_s2.0" not in ws  # refused before anything was computed
    names = filters.compute_features(
        ws, ["gaussian:sigma=1.0", "gaussian:sigma=2.0"], overwrite=True
    )
    assert names == ["gaussian_s1.0", "gaussian_s2.0"]


def test_intensity_filters_are_refused_on_label_layers(ws, image):
    labels = (image > 128).astype(np.uint16)
    ws.add_layer("cells", labels, kind="labels")
    with pytest.raises(FilterInputError, match="label"):
        filters.compute_features(ws, "gaussian:sigma=1", source="cells")
    names = filters.compute_features(
        ws, ["distance_transform:max_distance=4", "dilation:radius=1.5"], source="cells"
    )
    dist = ws.get(names[0]).compute()
    np.testing.assert_array_equal(
        dist, filters.distance_transform(labels, max_distance=4.0, spacing=SPACING)
    )
    assert ws.layer(names[1]).dtype == "uint8" and ws.layer(names[1]).sources == ("cells",)
    with pytest.raises(LayerExistsError, match="own source"):
        filters.compute_features(ws, [FeatureSpec("threshold", name="cells")], source="cells")


def test_cancelling_leaves_no_partial_layer(ws):
    def cancel(done, total):
        if done > 0:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        filters.compute_features(ws, "small", progress=cancel)
    assert set(ws.layers) == {"raw"}
    assert [p.name for p in ws.path.iterdir() if p.name.startswith(".features-")] == []
