"""fetch() for real, offline: a loopback HTTP server stands in for the upstream host."""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from voxelwise.data import DownloadError, UnknownDatasetError, dataset_info, fetch, load_isbi2012
from voxelwise.errors import CorruptFileError

SMALL = ["train-labels_png/0.png", "train-labels_png/1.png", "train-volume_png/10.png"]


class _Mirror:
    """An HTTP server on 127.0.0.1 serving ``folder``, recording the paths it was asked for."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def small_mirror(tmp_path, shared_data, no_proxy):
    """A mirror of three small ISBI files laid out as ``<folder>/<path>``."""
    root = tmp_path / "served"
    for rel in SMALL:
        dest = root / "isbi2012_em_membranes" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "isbi2012_em_membranes" / rel, dest)
    mirror = _Mirror(root)
    mirror.root = root  # type: ignore[attr-defined]
    yield mirror
    mirror.close()


def test_fetch_downloads_verifies_and_skips_present_files(tmp_path, shared_data, small_mirror):
    seen: list[tuple[int, int]] = []
    cache = tmp_path / "cache"
    folder = fetch(
        "isbi2012",
        root=cache,
        files=SMALL,
        base_url=small_mirror.url + "/",
        progress=lambda d, t: seen.append((d, t)),
    )
    assert folder == cache / "isbi2012_em_membranes"
    for rel in SMALL:
        assert (folder / rel).read_bytes() == (
            shared_data / "isbi2012_em_membranes" / rel
        ).read_bytes()
    assert sorted(small_mirror.requests) == sorted(f"/isbi2012_em_membranes/{rel}" for rel in SMALL)
    total = sum(dataset_info("isbi2012").file(rel).size for rel in SMALL)
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    fetch("isbi2012", root=cache, files=SMALL, base_url=small_mirror.url, progress=False)
    assert len(small_mirror.requests) == 3  # verified by checksum, not downloaded again


def test_fetch_glob_patterns_with_progress_bar(tmp_path, small_mirror, capsys):
    folder = fetch(
        "isbi2012", root=tmp_path, files="train-labels_png/[01].png", base_url=small_mirror.url
    )
    assert sorted(p.name for p in (folder / "train-labels_png").iterdir()) == ["0.png", "1.png"]
    assert "fetch isbi2012" in capsys.readouterr().err  # the default progress bar
    with pytest.raises(ValueError, match="match none"):
        fetch("isbi2012", root=tmp_path, files="*.tif", base_url=small_mirror.url)


def test_checksum_mismatch_raises_and_keeps_nothing(tmp_path, small_mirror):
    served = small_mirror.root / "isbi2012_em_membranes" / "train-labels_png" / "1.png"
    data = bytearray(served.read_bytes())
    data[100] ^= 0xFF
    served.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(CorruptFileError, match="sha256") as e:
        fetch("isbi2012", root=cache, files=SMALL[:2], base_url=small_mirror.url, progress=False)
    assert "train-labels_png/1.png" in str(e.value)
    assert isinstance(e.value, OSError)
    folder = cache / "isbi2012_em_membranes" / "train-labels_png"
    assert (folder / "0.png").is_file()  # the good file before it was kept
    assert sorted(p.name for p in folder.iterdir()) == ["0.png"]


def test_http_error_raises_download_error(tmp_path, small_mirror):
    with pytest.raises(DownloadError, match=r"train-labels_png/2\.png.*base_url"):
        fetch(
            "isbi2012",
            root=tmp_path,
            files="train-labels_png/2.png",
            base_url=small_mirror.url,
            progress=False,
        )


def test_unreachable_server_raises_download_error(tmp_path, no_proxy):
    with pytest.raises(DownloadError, match="Could not download"):
        fetch(
            "isbi2012", root=tmp_path, files=SMALL[0], base_url="http://127.0.0.1:9", progress=False
        )


def test_complete_local_copy_is_verified_without_network(shared_data, no_proxy):
    # Every file is present with the right checksum, so nothing is requested from the dead host.
    folder = fetch("isbi2012", root=shared_data, base_url="http://127.0.0.1:9", progress=False)
    assert folder == shared_data / "isbi2012_em_membranes"


def test_fetch_whole_dataset_then_load(tmp_path, shared_data, no_proxy):
    mirror = _Mirror(shared_data)
    try:
        folder = fetch("isbi2012", root=tmp_path, base_url=mirror.url, progress=False)
    finally:
        mirror.close()
    assert len(mirror.requests) == 60
    image, labels, meta = load_isbi2012(tmp_path)
    assert meta.folder == folder
    reference = load_isbi2012(shared_data)
    np.testing.assert_array_equal(
        image[[0, 10, 29]].compute(), reference.image[[0, 10, 29]].compute()
    )
    np.testing.assert_array_equal(labels[10].compute(), reference.labels[10].compute())


def test_fetch_argument_errors(tmp_path):
    with pytest.raises(UnknownDatasetError):
        fetch("nope", root=tmp_path)
    with pytest.raises(TypeError, match="progress"):
        fetch("isbi2012", root=tmp_path, files=SMALL[0], progress="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="glob patterns"):
        fetch("isbi2012", root=tmp_path, files=[1])  # type: ignore[list-item]
