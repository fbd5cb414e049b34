"""The dataset registry: facts match ../shared/data/README.md, files match the local originals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from voxelwise.data import DatasetInfo, UnknownDatasetError, dataset_info, datasets
from voxelwise.data._make_registry import main as make_registry
from voxelwise.data._make_registry import upstream_path

# Facts from ../shared/data/README.md.
FACTS = {
    "vnc": ("drosophila_vnc_sstem", (20, 1024, 1024), (50.0, 4.6, 4.6), 101),
    "flyem": ("flyem_medulla_fibsem_neuroproof", (250, 250, 250), (10.0, 10.0, 10.0), 254),
    "isbi2012": ("isbi2012_em_membranes", (30, 512, 512), (50.0, 4.0, 4.0), 60),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_three_datasets_with_readme_facts():
    infos = datasets()
    assert [i.name for i in infos] == ["vnc", "flyem", "isbi2012"]
    for info in infos:
        folder, shape, spacing, n_files = FACTS[info.name]
        assert info.folder == folder
        assert info.shape == shape
        assert info.spacing == spacing
        assert info.dtype == "uint8"
        assert info.unit == "nanometer"
        assert len(info.files) == n_files
        assert info.citation
        assert info.licence
        assert info.licence_url.startswith("http")
        assert info.size == sum(f.size for f in info.files) > 1_000_000


def test_names_and_aliases_resolve_case_insensitively():
    assert dataset_info("vnc") is dataset_info("drosophila_vnc_sstem")
    assert dataset_info("FlyEM").name == "flyem"
    assert dataset_info(" isbi2012_em_membranes ").name == "isbi2012"
    info = dataset_info("vnc")
    assert dataset_info(info) is info


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownDatasetError, match="'vnc', 'flyem', 'isbi2012'") as e:
        dataset_info("cremi")
    assert isinstance(e.value, ValueError)
    with pytest.raises(TypeError, match="string"):
        dataset_info(3)  # type: ignore[arg-type]


def test_label_kinds_and_class_names():
    vnc = dataset_info("vnc")
    assert vnc.label_kinds == ("classes", "mitochondria", "synapses", "membranes")
    assert vnc.label_kind("classes").class_names == {
        0: "intracellular",
        1: "membrane",
        2: "glia/extracellular",
        3: "mitochondria",
        4: "synapse",
    }
    assert dataset_info("flyem").label_kind("bodies").class_names is None
    assert dataset_info("isbi2012").label_kind("membranes").class_names == {
        0: "cell interior",
        1: "membrane",
    }
    with pytest.raises(ValueError, match="'classes', 'mitochondria'"):
        vnc.label_kind("cells")


@pytest.mark.parametrize("name", ["vnc", "flyem", "isbi2012"])
def test_urls_are_raw_github_at_the_pinned_commit(name):
    info: DatasetInfo = dataset_info(name)
    prefix = f"https://raw.githubusercontent.com/{info.repository}/{info.commit}/"
    assert len(info.commit) == 40
    for f in info.files:
        assert f.url.startswith(prefix)
        assert len(f.sha256) == 64
        assert int(f.sha256, 16) >= 0
    paths = [f.path for f in info.files]
    assert len(set(paths)) == len(paths)


def test_isbi_urls_map_to_the_upstream_layout():
    info = dataset_info("isbi2012")
    assert info.file("train-volume_png/10.png").url.endswith("data/membrane/train/image/10.png")
    assert info.file("train-labels_png/3.png").url.endswith("data/membrane/train/label/3.png")
    assert upstream_path("a/b.png", {"": "", "a/": "x/"}) == "x/b.png"
    with pytest.raises(KeyError):
        info.file("nope.png")


@pytest.mark.parametrize("name", ["vnc", "flyem", "isbi2012"])
def test_every_file_matches_the_local_original(shared_data, name):
    info = dataset_info(name)
    folder = shared_data / info.folder
    for f in info.files:
        path = folder / f.path
        assert path.is_file(), f.path
        assert path.stat().st_size == f.size, f.path
        assert _sha256(path) == f.sha256, f.path


@pytest.mark.parametrize("name", ["vnc", "flyem", "isbi2012"])
def test_registry_lists_every_upstream_file(shared_data, name):
    info = dataset_info(name)
    folder = shared_data / info.folder
    local = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    provenance = {"SOURCE.txt", "LICENSE_zhixuhao_unet_code_MIT.txt"}  # local notes, not upstream
    assert local - provenance == {f.path for f in info.files}


def test_maintainer_tool_reports_registry_up_to_date(shared_data, capsys):
    assert make_registry([str(shared_data), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
