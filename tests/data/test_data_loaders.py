"""Loaders of the real datasets: lazy arrays whose shapes, dtypes and class fractions match the
README of ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from voxelwise.data import _readers, dataset_info, load, load_flyem, load_isbi2012, load_vnc
from voxelwise.errors import CorruptFileError, NotAVolumeFileError


@pytest.fixture(scope="module")
def flyem_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("flyem-cache")


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def test_vnc_classes_match_readme_fractions(shared_data):
    image, labels, meta = load_vnc(shared_data)
    assert image.shape == labels.shape == (20, 1024, 1024)
    assert image.dtype == labels.dtype == np.uint8
    assert image.chunksize == (1, 1024, 1024)
    fractions = np.bincount(labels.compute().ravel(), minlength=5) / labels.size
    np.testing.assert_allclose(fractions, [0.741, 0.172, 0.029, 0.054, 0.006], atol=0.003)
    assert meta.spacing == (50.0, 4.6, 4.6)
    assert meta.unit == "nanometer"
    assert meta.labels == "classes"
    assert meta.class_names[3] == "mitochondria"
    assert "Gerhard" in meta.citation
    assert meta.folder == shared_data / "drosophila_vnc_sstem"


def test_vnc_image_is_the_raw_tiff_in_order(shared_data):
    image, labels, _ = load_vnc(shared_data, labels=None)
    assert labels is None
    raw = shared_data / "drosophila_vnc_sstem" / "stack1" / "raw"
    np.testing.assert_array_equal(image[7].compute(), _png(raw / "07.tif"))
    np.testing.assert_array_equal(image[19].compute(), _png(raw / "19.tif"))


@pytest.mark.parametrize(
    ("kind", "fraction", "tol"),
    [("mitochondria", 0.054, 0.005), ("synapses", 0.006, 0.002), ("membranes", 0.204, 0.01)],
)
def test_vnc_binary_masks(shared_data, kind, fraction, tol):
    _, mask, meta = load_vnc(shared_data, labels=kind)
    assert mask.dtype == bool
    assert mask.shape == (20, 1024, 1024)
    assert abs(float(mask.mean().compute()) - fraction) < tol
    assert meta.class_names[1] in kind


def test_vnc_mitochondria_mask_agrees_with_class_map(shared_data):
    _, mask, _ = load_vnc(shared_data, labels="mitochondria")
    _, classes, _ = load_vnc(shared_data)
    sl = slice(0, 4)
    agree = (mask[sl] == (classes[sl] == 3)).mean().compute()
    assert agree > 0.99


def test_loaders_read_nothing_until_computed(shared_data, monkeypatch):
    calls: list[str] = []
    original = _readers.read_gray

    def counting(path, shape):
        calls.append(path)
        return original(path, shape)

    monkeypatch.setattr(_readers, "read_gray", counting)
    image, _, _ = load_vnc(shared_data, labels=None)
    assert calls == []
    image[3:5, :10, :10].compute()
    assert sorted(p.rsplit("/", 1)[1] for p in calls) == ["03.tif", "04.tif"]


def test_flyem_bodies_and_boundaries(shared_data, flyem_cache):
    image, bodies, meta = load_flyem(shared_data, cache_dir=flyem_cache)
    assert image.shape == bodies.shape == (250, 250, 250)
    assert image.dtype == np.uint8
    assert bodies.dtype == np.int32
    assert bodies.chunks == image.chunks
    ids = np.unique(bodies.compute())
    assert ids.size == 526
    assert meta.spacing == (10.0, 10.0, 10.0)
    assert meta.class_names is None

    _, boundaries, meta = load_flyem(shared_data, labels="boundaries", cache_dir=flyem_cache)
    assert boundaries.dtype == bool
    assert abs(float(boundaries.mean().compute()) - 0.088) < 0.01
    assert meta.class_names == {0: "interior", 1: "boundary"}


def test_flyem_boundaries_chunked_equal_whole_array(shared_data, flyem_cache):
    _, bodies, _ = load_flyem(shared_data, cache_dir=flyem_cache)
    _, boundaries, _ = load_flyem(shared_data, labels="boundaries", cache_dir=flyem_cache)
    crop = (slice(30, 130), slice(0, 120), slice(40, 160))  # spans a chunk border at z = 50, 100
    whole = _readers.forward_faces(bodies.compute())
    np.testing.assert_array_equal(boundaries[crop].compute(), whole[crop])


def test_flyem_supervoxels_and_cache(shared_data, flyem_cache):
    _, sv, _ = load_flyem(shared_data, labels="supervoxels", cache_dir=flyem_cache)
    assert sv.dtype == np.int32
    assert np.unique(sv.compute()).size == 21317
    copies = list(flyem_cache.glob("groundtruth-*.h5"))
    assert len(copies) == 1
    stamp = copies[0].stat().st_mtime_ns
    load_flyem(shared_data, labels="bodies", cache_dir=flyem_cache)
    assert copies[0].stat().st_mtime_ns == stamp  # decompressed once, then reused
    assert not list(flyem_cache.glob(".tmp-*"))


def test_flyem_image_slices_in_z_order(shared_data):
    image, labels, _ = load_flyem(shared_data, labels=None)
    assert labels is None
    maps = shared_data / "flyem_medulla_fibsem_neuroproof" / "training_sample2" / "grayscale_maps"
    np.testing.assert_array_equal(image[0].compute(), _png(maps / "iso.2600.png"))
    np.testing.assert_array_equal(image[249].compute(), _png(maps / "iso.2849.png"))


def test_isbi_membranes_and_natural_order(shared_data):
    image, membranes, meta = load_isbi2012(shared_data)
    assert image.shape == membranes.shape == (30, 512, 512)
    assert image.dtype == np.uint8
    assert membranes.dtype == bool
    assert abs(float(membranes.mean().compute()) - 0.22) < 0.02
    folder = shared_data / "isbi2012_em_membranes"
    for z in (2, 9, 10, 29):  # "10.png" sorts after "9.png", not after "1.png"
        np.testing.assert_array_equal(
            image[z].compute(), _png(folder / "train-volume_png" / f"{z}.png")
        )
    np.testing.assert_array_equal(
        membranes[10].compute(), _png(folder / "train-labels_png" / "10.png") == 0
    )
    assert meta.spacing == (50.0, 4.0, 4.0)
    assert meta.class_names == {0: "cell interior", 1: "membrane"}


def test_load_dispatches_by_name_or_alias(shared_data):
    a = load("isbi2012_em_membranes", shared_data, labels=None)
    assert a.meta.name == "isbi2012"
    assert a.labels is None
    b = load("vnc", shared_data, labels="synapses")
    assert b.labels.dtype == bool
    image, labels, meta = b  # a plain tuple too
    assert image is b.image
    assert labels is b.labels
    assert meta.labels == "synapses"


def test_root_may_be_the_dataset_folder_itself(shared_data):
    image, _, meta = load_isbi2012(shared_data / "isbi2012_em_membranes")
    assert meta.folder == shared_data / "isbi2012_em_membranes"
    assert image.shape == (30, 512, 512)


def test_missing_data_says_how_to_fetch(tmp_path):
    with pytest.raises(NotAVolumeFileError, match=r"fetch\('vnc'\)") as e:
        load_vnc(tmp_path)
    assert isinstance(e.value, FileNotFoundError)


def test_incomplete_folder_names_missing_files(tmp_path, shared_data):
    folder = tmp_path / "isbi2012_em_membranes"
    (folder / "train-volume_png").mkdir(parents=True)
    src = shared_data / "isbi2012_em_membranes" / "train-volume_png"
    for z in range(30):
        (folder / "train-volume_png" / f"{z}.png").symlink_to(src / f"{z}.png")
    image, _, _ = load_isbi2012(tmp_path, labels=None)  # the image alone is complete
    assert image.shape == (30, 512, 512)
    with pytest.raises(NotAVolumeFileError, match=r"incomplete: train-labels_png/0.png.*27 more"):
        load_isbi2012(tmp_path)


def test_corrupt_file_raises_on_compute(tmp_path, shared_data):
    folder = tmp_path / "isbi2012_em_membranes"
    (folder / "train-volume_png").mkdir(parents=True)
    src = shared_data / "isbi2012_em_membranes" / "train-volume_png"
    for z in range(30):
        (folder / "train-volume_png" / f"{z}.png").symlink_to(src / f"{z}.png")
    (folder / "train-volume_png" / "5.png").unlink()
    (folder / "train-volume_png" / "5.png").write_bytes(b"not a png")
    image, _, _ = load_isbi2012(tmp_path, labels=None)
    image[4].compute()
    with pytest.raises(CorruptFileError, match=r"5\.png"):
        image[5].compute()


def test_bad_labels_argument(shared_data):
    with pytest.raises(ValueError, match="'bodies', 'supervoxels', 'boundaries' or None"):
        load_flyem(shared_data, labels="classes")
    with pytest.raises(TypeError, match="labels as a string"):
        load_vnc(shared_data, labels=3)  # type: ignore[arg-type]


def test_registry_shape_matches_loaded_shape(shared_data):
    for name in ("vnc", "flyem", "isbi2012"):
        image = load(name, shared_data, labels=None).image
        assert image.shape == dataset_info(name).shape
