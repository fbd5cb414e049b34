"""Registry, presets, the CLI filter syntax and bad input."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest

from voxelwise import filters
from voxelwise.errors import InvalidVolumeError, OutputExistsError, VoxelwiseError
from voxelwise.filters import (
    FeatureSpec,
    FilterParameterError,
    FilterSpec,
    PresetError,
    PresetNotFoundError,
    UnknownFilterError,
)


def test_registry_lists_and_describes_every_filter():
    names = filters.list_filters()
    assert len(names) == len(set(names)) == len(filters.FILTERS) == 22
    for name in names:
        spec = filters.get_filter(name)
        assert spec.name == name and spec.summary
        assert callable(spec.func) and spec.func.__doc__ and "Examples" in spec.func.__doc__
        params = spec.parameters()
        assert "image" not in params
        halo = spec.halo_of(spec.normalize({"low": 0.0} if name == "clip" else {}))
        assert len(halo) == 3 and all(isinstance(h, int) and h >= 0 for h in halo)
        assert getattr(filters, spec.func.__name__) is spec.func
    assert filters.get_filter("hessian_eigenvalues").outputs == ("eig1", "eig2", "eig3")


def test_halo_follows_the_parameters():
    g = filters.get_filter("gaussian")
    assert g.halo_of(g.normalize({"sigma": 2.0})) == (8, 8, 8)
    assert g.halo_of(g.normalize({"sigma": 2.0, "spacing": (4, 1, 1)})) == (2, 8, 8)
    assert g.halo_of(g.normalize({"sigma": 2.0, "truncate": 2.0})) == (4, 4, 4)
    # derivatives keep at least one voxel of context even for tiny per-axis sigmas
    h = filters.get_filter("hessian_eigenvalues")
    assert h.halo_of(h.normalize({"sigma": 0.7, "spacing": (10, 1, 1)})) == (2, 3, 3)
    st = filters.get_filter("structure_tensor_eigenvalues")
    assert st.halo_of(st.normalize({"sigma": 2.0})) == (12, 12, 12)
    tv = filters.get_filter("tv_denoise")
    assert tv.halo_of(tv.normalize({"n_iter": 7})) == (8, 8, 8)
    dt = filters.get_filter("distance_transform")
    assert dt.halo_of(dt.normalize({"max_distance": 6.0, "spacing": (3, 1, 1)})) == (2, 6, 6)


def test_unknown_filter_suggests_a_name():
    with pytest.raises(UnknownFilterError, match="did you mean 'gaussian'") as info:
        filters.get_filter("gausian")
    assert isinstance(info.value, KeyError) and "gaussian" in str(info.value)


def test_register_a_plugin_filter():
    def double(image, factor=2.0):
        """Multiply.

        Examples
        --------
        >>> 1
        1
        """
        return np.asarray(image, np.float32) * factor

    spec = FilterSpec(
        "test_double",
        double,
        lambda factor=2.0: {"factor": float(factor)},
        lambda **_: (0, 0, 0),
        lambda block, *, margin, factor: np.asarray(block, np.float32) * factor,
        summary="doubles",
    )
    filters.register(spec)
    try:
        assert "test_double" in filters.list_filters()
        with pytest.raises(ValueError, match="registered already"):
            filters.register(spec)
        out = filters.apply_filter(np.ones((2, 3, 4)), "test_double", factor=3.0).compute()
        assert out.tolist() == np.full((2, 3, 4), 3.0).tolist()
    finally:
        del filters.FILTERS["test_double"]


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf])
def test_non_positive_or_nan_sigma_is_refused(bad):
    image = np.zeros((4, 5, 6))
    with pytest.raises(FilterParameterError, match="sigma") as info:
        filters.gaussian(image, bad)
    assert isinstance(info.value, ValueError) and isinstance(info.value, VoxelwiseError)
    with pytest.raises(FilterParameterError):
        filters.apply_filter(da.zeros((4, 5, 6)), "hessian_eigenvalues", sigma=bad)


def test_other_bad_parameters_say_how_to_fix():
    image = np.zeros((4, 5, 6))
    with pytest.raises(TypeError, match="spacing"):
        filters.gaussian(image, [1.0, 2.0, 2.0])
    with pytest.raises(TypeError, match="number"):
        filters.gaussian(image, "2")
    with pytest.raises(FilterParameterError, match="truncate"):
        filters.gaussian(image, 1.0, truncate=0)
    with pytest.raises(FilterParameterError, match="voxel size"):
        filters.gaussian(image, 1.0, spacing=(0, 1, 1))
    with pytest.raises(FilterParameterError, match="ratio > 1"):
        filters.difference_of_gaussians(image, 1.0, ratio=0.5)
    with pytest.raises(FilterParameterError, match="no parameter 'sigmaa'"):
        filters.apply_filter(da.zeros((4, 5, 6)), "gaussian", sigmaa=1.0)
    with pytest.raises(FilterParameterError, match="mode"):
        filters.wavelet_denoise(image, mode="medium")
    with pytest.raises(FilterParameterError, match="low, high or both"):
        filters.clip(image)
    with pytest.raises(FilterParameterError, match="low < high"):
        filters.rescale(image, (5, 1))
    with pytest.raises(TypeError, match="whole number"):
        filters.tv_denoise(image, 1.0, n_iter=2.5)


def test_bad_images_are_refused():
    with pytest.raises(TypeError, match="apply_filter"):
        filters.gaussian(da.zeros((4, 5, 6)), 1.0)
    with pytest.raises(InvalidVolumeError, match="channel"):
        filters.gaussian(np.zeros((2, 3, 4, 5)), 1.0)
    with pytest.raises(TypeError, match="real-valued"):
        filters.gaussian(np.zeros((3, 4, 5), complex), 1.0)
    with pytest.raises(InvalidVolumeError):
        filters.apply_filter(da.zeros((4, 5)), "gaussian")
    image = np.random.default_rng(0).random((4, 5, 6))
    before = image.copy()
    filters.tv_denoise(image, 0.1)
    np.testing.assert_array_equal(image, before)  # input never mutated


def test_presets_load_with_the_expected_outputs():
    assert {"default", "small"} <= set(filters.list_presets())
    default = filters.load_preset("default")
    names = [n for f in default for n in f.output_names()]
    assert len(names) == len(set(names)) == 29
    families = {f.filter for f in default}
    assert families == {
        "gaussian",
        "gradient_magnitude",
        "laplacian_of_gaussian",
        "difference_of_gaussians",
        "hessian_eigenvalues",
        "structure_tensor_eigenvalues",
    }
    sigmas = sorted({f.params["sigma"] for f in default})
    assert sigmas[0] == 0.7 and sigmas[-1] == 5.0
    assert "hessian_eig1_s1.6" in names
    assert "ilastik" in filters.preset_description("default")
    assert len(filters.load_preset("small")) == 4


def test_save_and_load_a_preset(tmp_path):
    specs = [
        FeatureSpec("gaussian", {"sigma": 2.0}),
        FeatureSpec("frangi", {"sigmas": (1.0, 2.0), "black_ridges": False}, name="vessels"),
        filters.parse_filter_arg("median:radius=1.5"),
    ]
    path = filters.save_preset(specs, tmp_path / "mine", description="test")
    assert path.name == "mine.yaml"
    loaded = filters.load_preset(path)
    assert [f.output_names() for f in loaded] == [["gaussian_s2.0"], ["vessels"], ["median_r1.5"]]
    assert loaded[1].params == {"sigmas": [1.0, 2.0], "black_ridges": False}
    assert filters.preset_description(path) == "test"
    with pytest.raises(OutputExistsError):
        filters.save_preset(specs, path)
    assert filters.save_preset(specs, path, overwrite=True) == path


def test_malformed_presets(tmp_path):
    with pytest.raises(PresetNotFoundError, match="default"):
        filters.load_preset("no-such-preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("features:\n  - {filter: gaussian, params: {sigma: -1}}\n")
    with pytest.raises(PresetError, match=r"feature #1.*sigma"):
        filters.load_preset(bad)
    bad.write_text("features:\n  - {filter: gausian}\n")
    with pytest.raises(PresetError, match="did you mean"):
        filters.load_preset(bad)
    bad.write_text("features:\n  - {filter: gaussian, sigma: 1}\n")
    with pytest.raises(PresetError, match="unknown key"):
        filters.load_preset(bad)
    bad.write_text("features:\n  - {filter: gaussian}\n  - {filter: gaussian}\n")
    with pytest.raises(PresetError, match=r"same layer 'gaussian_s1\.0'"):
        filters.load_preset(bad)
    bad.write_text("just text\n")
    with pytest.raises(PresetError, match="features"):
        filters.load_preset(bad)


def test_parse_filter_arg():
    f = filters.parse_filter_arg("gaussian:sigma=2,truncate=3")
    assert f == FeatureSpec("gaussian", {"sigma": 2, "truncate": 3})
    f = filters.parse_filter_arg("frangi:sigmas=[1,2.5],black_ridges=false,gamma=1e-3")
    assert f.params == {"sigmas": [1, 2.5], "black_ridges": False, "gamma": 0.001}
    f = filters.parse_filter_arg("rescale:in_range=(0,255),name=scaled")
    assert f.params == {"in_range": [0, 255]} and f.output_names() == ["scaled"]
    assert filters.parse_filter_arg("hessian_eigenvalues").output_names()[0] == "hessian_eig1_s1.0"
    with pytest.raises(UnknownFilterError):
        filters.parse_filter_arg("gaus:sigma=1")
    with pytest.raises(PresetError, match="key=value"):
        filters.parse_filter_arg("gaussian:sigma")
    with pytest.raises(PresetError, match="sigma"):
        filters.parse_filter_arg("gaussian:sigma=0")


def test_importing_filters_loads_no_heavy_stack():
    import json
    import subprocess
    import sys

    code = "import sys, json, voxelwise.filters; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    heavy = {"torch", "napari", "fastapi", "uvicorn", "qtpy", "PyQt5", "PyQt6", "skimage"}
    assert not heavy & loaded
