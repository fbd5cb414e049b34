"""Maintainer tool: refresh the file lists of ``datasets.yaml`` from a local copy of the data.

Usage::

    python -m voxelwise.data._make_registry /path/to/data [--check]

``/path/to/data`` holds one folder per dataset (named as the registry's ``folder``), each an
unmodified copy of the upstream files. For every file the registry's ``source.include`` selects,
the tool computes its sha256 and size and its download URL
``https://raw.githubusercontent.com/<repository>/<commit>/<upstream path>``, where the upstream
path comes from the local path through ``source.paths`` (local prefix -> upstream prefix). The
``files:`` blocks of ``datasets.yaml`` are rewritten in place; everything else is kept as written.
With ``--check`` nothing is written and the exit status says whether the registry is up to date.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from voxelwise.data._registry import REGISTRY_FILE, read_registry

RAW_URL = "https://raw.githubusercontent.com/{repository}/{commit}/{path}"


def sha256_of(path: Path, *, block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def upstream_path(local: str, paths: dict[str, str]) -> str:
    """Map a local path to the upstream repository path with the longest matching prefix."""
    for prefix in sorted(paths, key=len, reverse=True):
        if local.startswith(prefix):
            return paths[prefix] + local[len(prefix) :]
    raise ValueError(f"No source.paths prefix matches {local!r}; add one to the registry")


def list_files(entry: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    """The ``files`` entries of one dataset computed from ``root/<folder>``."""
    from natsort import natsorted

    folder = root / entry["folder"]
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist; pass the folder that holds {entry['folder']}/"
        )
    source = entry["source"]
    include = [str(p) for p in source["include"]]
    found = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and any(
            rel == p or (p.endswith("/") and rel.startswith(p)) for p in include
        ):
            found.append(rel)
    files = []
    for rel in natsorted(found):
        url = RAW_URL.format(
            repository=source["repository"],
            commit=source["commit"],
            path=upstream_path(rel, source["paths"]),
        )
        files.append(
            {
                "path": rel,
                "size": (folder / rel).stat().st_size,
                "sha256": sha256_of(folder / rel),
                "url": url,
            }
        )
    return files


def render(text: str, files_by_name: dict[str, list[dict[str, Any]]]) -> str:
    """Replace each dataset's ``files:`` block in the YAML ``text``."""
    out: list[str] = []
    current: str | None = None
    skipping = False
    for line in text.splitlines():
        if skipping and line.startswith("  - "):
            continue
        skipping = False
        if line.startswith("- name: "):
            current = line[len("- name: ") :].strip()
        if line.startswith("  files:") and current is not None:
            out.append("  files:")
            for f in files_by_name[current]:
                out.append(
                    f"  - {{path: '{f['path']}', size: {f['size']}, sha256: '{f['sha256']}', "
                    f"url: '{f['url']}'}}"
                )
            skipping = True
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding one subfolder per dataset")
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args(argv)

    registry = read_registry()
    files_by_name = {e["name"]: list_files(e, args.root) for e in registry["datasets"]}
    target = Path(__file__).with_name(REGISTRY_FILE)
    old = target.read_text(encoding="utf-8")
    new = render(old, files_by_name)
    counts = ", ".join(f"{n}: {len(f)} files" for n, f in files_by_name.items())
    if args.check:
        print(f"{'up to date' if new == old else 'OUT OF DATE'} ({counts})")
        return 0 if new == old else 1
    target.write_text(new, encoding="utf-8")
    print(f"wrote {target} ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
