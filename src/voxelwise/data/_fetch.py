"""Download registered datasets with pooch, verifying every file's sha256."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from voxelwise.data._errors import DownloadError
from voxelwise.data._registry import DatasetFile, DatasetInfo, dataset_info
from voxelwise.errors import CorruptFileError

__all__ = ["default_root", "fetch", "select_files"]

ProgressCallback = Callable[[int, int], None]


def default_root() -> Path:
    """The folder datasets are downloaded to when no ``root`` is given (pooch's user cache)."""
    import pooch

    return Path(pooch.os_cache("voxelwise"))


def select_files(info: DatasetInfo, files: str | Sequence[str] | None) -> list[DatasetFile]:
    """The files of ``info`` whose paths match any of the glob patterns ``files`` (all if None)."""
    if files is None:
        return list(info.files)
    patterns = [files] if isinstance(files, str) else list(files)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"Expected files as glob patterns (strings), got {files!r} instead")
    chosen = [f for f in info.files if any(fnmatch.fnmatchcase(f.path, p) for p in patterns)]
    if not chosen:
        examples = ", ".join(f.path for f in info.files[:3])
        raise ValueError(
            f"Expected files= patterns that match files of the {info.name!r} dataset, got "
            f"{files!r} which match none; paths look like {examples}"
        )
    return chosen


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's per-file log lines while we report progress ourselves."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _progress_reporter(
    progress: bool | ProgressCallback | None, total: int, name: str
) -> tuple[ProgressCallback, Callable[[], None]]:
    """Return ``(update(done, total), close())`` for the chosen kind of progress."""
    if progress is None or progress is False:
        return (lambda done, total: None), (lambda: None)
    if callable(progress):
        return progress, (lambda: None)
    if progress is not True:
        raise TypeError(
            f"Expected progress as True, False or a callable progress(done, total), got {progress!r} instead"
        )
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"fetch {name}")

    def update(done: int, total: int) -> None:
        bar.update(done - bar.n)

    return update, bar.close


def _retrieve(file: DatasetFile, url: str, dest: Path) -> None:
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(progressbar=False, timeout=60)
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{file.sha256}",
            fname=dest.name,
            path=dest.parent,
            downloader=downloader,
            progressbar=False,
        )
    except ValueError as e:
        if "hash" not in str(e).lower():
            raise
        raise CorruptFileError(
            f"The file downloaded from {url} does not have the expected sha256 "
            f"{file.sha256} for {file.path!r}, so it was not saved: the server sent a different "
            "file (an outdated mirror, a proxy or error page, or a truncated transfer). Retry, or "
            "check base_url if you use a mirror"
        ) from e
    except requests.exceptions.RequestException as e:
        raise DownloadError(
            f"Could not download {file.path!r} from {url}: {e}. Check the network connection "
            "(and a proxy, if any); if the address is unreachable, download from a mirror of the "
            "data folder with base_url=..."
        ) from e


def fetch(
    name: str,
    *,
    root: str | Path | None = None,
    files: str | Sequence[str] | None = None,
    progress: bool | ProgressCallback | None = True,
    base_url: str | None = None,
) -> Path:
    """Download a registered dataset (or the files missing from a local copy) and verify it.

    Every file is fetched with :func:`pooch.retrieve` and checked against the registry's sha256.
    Files already present with the right checksum are not downloaded again, so a complete local
    copy is verified without any network access.

    Parameters
    ----------
    name : str
        Dataset name or alias (see :func:`datasets`).
    root : str or Path, optional
        Folder that holds one subfolder per dataset. Default: the user cache folder of
        voxelwise (``pooch.os_cache("voxelwise")``).
    files : str or sequence of str, optional
        Glob patterns over the paths inside the dataset folder (``"stack1/raw/*"``) to fetch only
        some files. Default: all files.
    progress : bool or callable, optional
        ``True`` shows a progress bar (bytes); ``False``/``None`` is silent; a callable is called
        as ``progress(done_bytes, total_bytes)`` after each file.
    base_url : str, optional
        Download from a mirror of the data folder instead of the upstream repositories: file
        ``<folder>/<path>`` is fetched from ``<base_url>/<folder>/<path>``.

    Returns
    -------
    Path
        The dataset folder, ``<root>/<folder>``; pass ``root`` (or nothing, for the default) to
        the loaders.

    Raises
    ------
    CorruptFileError
        A downloaded file does not match its checksum (nothing is kept).
    DownloadError
        A file could not be downloaded (network or HTTP error).

    Examples
    --------
    >>> from voxelwise.data import fetch, load_vnc
    >>> folder = fetch("vnc")                    # doctest: +SKIP
    >>> image, labels, meta = load_vnc()         # doctest: +SKIP
    """
    info = dataset_info(name)
    chosen = select_files(info, files)
    base = default_root() if root is None else Path(root)
    folder = base / info.folder
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(f"Expected base_url as a string like 'https://host/data', got {base_url!r}")
    total = sum(f.size for f in chosen)
    update, close = _progress_reporter(progress, total, info.name)
    done = 0
    try:
        with _quiet_pooch():
            for file in chosen:
                url = (
                    file.url
                    if base_url is None
                    else f"{base_url.rstrip('/')}/{info.folder}/{file.path}"
                )
                _retrieve(file, url, folder / file.path)
                done += file.size
                update(done, total)
    finally:
        close()
    return folder
