"""Argument parsing and dispatch for ``voxelwise``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from voxelwise import __version__
from voxelwise.errors import VoxelwiseError

__all__ = ["build_parser", "main"]

EXIT_USER_ERROR = 2


def _common_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", help="dataset inside an HDF5/Zarr container (listed when needed)")
    p.add_argument("--roi", help="region of interest 'z0:z1,y0:y1,x0:x1' (a side may be empty)")
    p.add_argument(
        "--bin", default="1", help="integer binning on open, one or three factors (z,y,x)"
    )


def _scheduler_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        help="dask.distributed scheduler address (e.g. tcp://10.0.0.5:8786); default: this machine",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``voxelwise`` argument parser (exposed for docs and tests)."""
    from voxelwise.cli import _commands as c

    parser = argparse.ArgumentParser(
        prog="voxelwise",
        description="Segment and measure large 3D microscopy volumes, out of core.",
    )
    parser.add_argument("--version", action="version", version=f"voxelwise {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "info", help="shape, dtype, chunks, voxel size and value range of a volume file"
    )
    p.add_argument(
        "path", help="volume file or folder (TIFF, slices, HDF5, MRC, Zarr, OME-Zarr, NPY)"
    )
    p.add_argument("--key", help="dataset inside an HDF5/Zarr container")
    p.add_argument("--level", type=int, default=0, help="OME-Zarr pyramid level")
    p.add_argument(
        "--no-range", action="store_true", help="skip the pass over the data for min/max"
    )
    p.set_defaults(func=c.cmd_info)

    p = sub.add_parser("convert", help="convert a volume to another format, chunk by chunk")
    p.add_argument("input")
    p.add_argument(
        "output",
        help="output path; format from the suffix (.ome.zarr, .zarr, .tif, .h5, .mrc, .npy)",
    )
    _common_source_options(p)
    p.add_argument("--chunks", help="output chunks 'Z,Y,X'")
    p.add_argument("--spacing", help="voxel size 'Z,Y,X' when the input has none")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_convert)

    ws = sub.add_parser("workspace", help="create and inspect workspaces").add_subparsers(
        dest="ws_command", required=True, metavar="ACTION"
    )
    p = ws.add_parser("create", help="create a workspace folder from a volume file")
    p.add_argument("workspace", help="workspace folder to create")
    p.add_argument("image", help="volume file to import")
    _common_source_options(p)
    p.add_argument("--spacing", help="voxel size 'Z,Y,X' (default: from the file, else 1,1,1)")
    p.add_argument("--chunks", help="storage chunks 'Z,Y,X'")
    p.add_argument("--overwrite", action="store_true", help="replace an existing workspace")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_workspace_create)

    p = ws.add_parser("info", help="summarise a workspace: image, layers, label sets")
    p.add_argument("workspace")
    p.set_defaults(func=c.cmd_workspace_info)

    p = ws.add_parser("export", help="write one layer to a file")
    p.add_argument("workspace")
    p.add_argument("layer")
    p.add_argument("output")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=c.cmd_workspace_export)

    p = ws.add_parser("delete-layer", help="remove a layer")
    p.add_argument("workspace")
    p.add_argument("layer")
    p.set_defaults(func=c.cmd_workspace_delete_layer)

    p = sub.add_parser("features", help="compute image features (filters) as workspace layers")
    p.add_argument("workspace")
    p.add_argument("--preset", help="a named preset (default, small) or a preset YAML file")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="NAME:K=V,...",
        help="one filter with parameters, e.g. gaussian:sigma=2 (repeatable)",
    )
    p.add_argument("--source", default="raw", help="input layer (default: raw)")
    p.add_argument("--list", action="store_true", help="list the filters and presets, then exit")
    p.add_argument("--overwrite", action="store_true", help="replace existing feature layers")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_features)

    p = sub.add_parser("supervoxels", help="compute supervoxels (3D SLIC or seeded watershed)")
    p.add_argument("workspace")
    p.add_argument("--source", default="raw", help="input layer (default: raw)")
    p.add_argument("--name", default="supervoxels", help="output layer name")
    p.add_argument("--method", choices=["slic", "watershed"], default="slic")
    p.add_argument("--size", type=float, default=10, help="target supervoxel edge in voxels")
    p.add_argument("--compactness", type=float, help="shape regularity (default: per method)")
    p.add_argument("--mask", help="layer restricting where supervoxels are made")
    p.add_argument("--overwrite", action="store_true")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_supervoxels)

    an = sub.add_parser("annotate", help="annotation layers").add_subparsers(
        dest="an_command", required=True, metavar="ACTION"
    )
    p = an.add_parser("import", help="import a label volume (scribbles or dense labels)")
    p.add_argument("workspace")
    p.add_argument("file", help="label volume in any supported format, of the workspace's shape")
    p.add_argument("--name", required=True, help="name of the annotation layer")
    p.add_argument("--key", help="dataset inside an HDF5/Zarr container")
    p.add_argument("--roi", help="region of the file to import 'z0:z1,y0:y1,x0:x1'")
    p.add_argument("--set", dest="label_set", help="label set describing the values")
    p.add_argument(
        "--add-missing", action="store_true", help="add values missing from the set as labels"
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=c.cmd_annotate_import)

    lb = sub.add_parser(
        "labels", help="label sets: names, values, colours, hierarchy"
    ).add_subparsers(dest="lb_command", required=True, metavar="ACTION")
    p = lb.add_parser("add", help="add a label to a label set (the set is created if needed)")
    p.add_argument("workspace")
    p.add_argument("--set", dest="label_set", required=True, help="label set name")
    p.add_argument("--label", required=True, help="label name")
    p.add_argument("--value", type=int, help="voxel value (default: next free)")
    p.add_argument("--color", help="colour, e.g. '#ff8800'")
    p.add_argument("--parent", help="parent label of the same set")
    p.set_defaults(func=c.cmd_labels_add)
    p = lb.add_parser("list", help="list the label sets")
    p.add_argument("workspace")
    p.set_defaults(func=c.cmd_labels_list)

    sh = sub.add_parser("shallow", help="shallow learning from scribbles (random forest, ...)")
    sh_sub = sh.add_subparsers(dest="sh_command", required=True, metavar="ACTION")
    p = sh_sub.add_parser("train", help="train a classifier on an annotation layer")
    p.add_argument("workspace")
    p.add_argument("--annotations", required=True, help="annotation layer with the scribbles")
    p.add_argument(
        "--features",
        action="append",
        default=[],
        help="feature layers, a preset name or filter specs (repeatable; default: preset default)",
    )
    p.add_argument("--mode", choices=["voxel", "supervoxel"], default="voxel")
    p.add_argument(
        "--classifier",
        default="rf",
        metavar="NAME",
        help="rf (default), extra_trees, hgb, svm, logistic, or a plugin classifier by its "
        "dotted name (voxelwise plugins list --kind classifier)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a classifier parameter, e.g. n_estimators=200 (repeatable)",
    )
    p.add_argument(
        "--images",
        action="append",
        default=[],
        metavar="LAYER",
        help="image layers (channels) the preset/filter-spec features are computed from "
        "(repeatable; default raw), e.g. --images raw --images fluo for a second modality",
    )
    p.add_argument(
        "--supervoxels", default="supervoxels", help="supervoxel layer (supervoxel mode)"
    )
    p.add_argument("--parent", help="hierarchy: train the children of this label only")
    p.add_argument("--save", help="model file (default: next to the workspace, WS.shallow.npz)")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_shallow_train)

    p = sh_sub.add_parser("predict", help="predict labels, probabilities and confidence")
    p.add_argument("workspace")
    p.add_argument("--model", help="model file (default: the last one trained on this workspace)")
    p.add_argument("--refine", action="store_true", help="Markov random field refinement")
    p.add_argument("--smoothness", type=float, default=0.15, help="MRF smoothness weight")
    p.add_argument("--name", default="prediction", help="output layer name")
    p.add_argument("--parent-layer", help="hierarchy: layer holding the parent label's region")
    p.add_argument("--overwrite", action="store_true")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_shallow_predict)

    from voxelwise.cli import _deep

    _deep.add_parsers(sub)  # train, predict: deep learning (torch loads only when they run)

    from voxelwise.cli import _weak

    _weak.add_parsers(sub)  # deep from-shallow: weak annotation (torch loads only when it runs)

    from voxelwise.cli import _plugins

    _plugins.add_parsers(sub)  # plugins list, workspace add-image

    from voxelwise.cli import _models

    _models.add_parsers(sub)  # models ..., workspace roi/pull-back/relink, labels export

    from voxelwise.cli import _objects

    _objects.add_parsers(sub)  # objects find|label|train|predict, points import|...|cluster

    from voxelwise.cli import _active

    _active.add_parsers(sub)  # al: active learning (torch loads only when a model is used)

    from voxelwise.cli import _workflow

    _workflow.add_parsers(sub)  # run WORKFLOW.yaml, workflow export|validate

    p = sub.add_parser("analyze", help="measure every object of a label layer into a table")
    p.add_argument("workspace")
    p.add_argument("labels", help="instance (or label) layer to measure")
    p.add_argument(
        "--intensity",
        action="append",
        default=[],
        help="layer to summarise per object (repeatable)",
    )
    p.add_argument("--out", required=True, help="table file (.csv or .parquet)")
    p.add_argument("--no-surface", action="store_true", help="skip surface area and sphericity")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_analyze)

    p = sub.add_parser("split", help="assign objects to classes with ordered rules")
    p.add_argument("workspace")
    p.add_argument("table", help="measurement table from `voxelwise analyze`")
    p.add_argument("--rules", required=True, help="rules YAML file")
    p.add_argument("--name", help="output class layer name")
    p.add_argument("--out", help="write the table with its class column here")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=c.cmd_split)

    p = sub.add_parser("metrics", help="IoU, Dice, precision, recall of a segmentation")
    p.add_argument("pred", help="prediction: a file, or a layer name with --workspace")
    p.add_argument("truth", help="ground truth: a file, or a layer name with --workspace")
    p.add_argument("--workspace", help="read PRED and TRUTH as layers of this workspace")
    p.add_argument("--classes", help="class values to report, e.g. 1,2,3 (default: all present)")
    p.add_argument("--ignore-label", type=int, help="truth value to leave out (e.g. 0)")
    p.add_argument("--instances", action="store_true", help="instance metrics (matched IoU)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_metrics)

    ds = sub.add_parser("datasets", help="public sample datasets").add_subparsers(
        dest="ds_command", required=True, metavar="ACTION"
    )
    p = ds.add_parser("list", help="list the registered datasets")
    p.set_defaults(func=c.cmd_datasets_list)
    p = ds.add_parser("fetch", help="download a dataset (checksums verified)")
    p.add_argument("name")
    p.add_argument("--root", help="download folder (default: the user cache)")
    p.set_defaults(func=c.cmd_datasets_fetch)

    p = sub.add_parser(
        "demo",
        help="the main job: the SuRVoS2 pipeline end to end on a sample, with a report",
    )
    p.add_argument(
        "--data",
        "--dataset",
        dest="dataset",
        default="synthetic",
        help="synthetic (default, generated), a registered dataset (vnc, flyem, isbi2012), or "
        "a volume file (with --truth)",
    )
    p.add_argument("--truth", help="ground truth of a --data file: class values 0, 1, 2, ...")
    p.add_argument(
        "--data-root", help="folder holding the registered datasets (e.g. ../shared/data)"
    )
    p.add_argument("--roi", help="region to annotate and learn on 'z0:z1,y0:y1,x0:x1'")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a tiny run for smoke tests (real volumes: their central 16 x 128 x 128)",
    )
    p.add_argument("--threads", type=int, help="torch threads for the U-Net (default: cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument(
        "--out", default="voxelwise-demo", help="output folder (default: ./voxelwise-demo)"
    )
    p.add_argument("--overwrite", action="store_true", default=True, help=argparse.SUPPRESS)
    _scheduler_option(p)
    p.set_defaults(func=c.cmd_demo)

    from voxelwise.cli import _serve

    _serve.add_server_parsers(sub)  # serve, users: the REST server (FastAPI loads only in serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except VoxelwiseError as e:
        print(f"voxelwise: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (TypeError, ValueError, FileNotFoundError, FileExistsError, ConnectionError) as e:
        # parse_* helpers raise plain TypeError for wrong argument types: still a user mistake
        if not _is_user_error(e):
            raise
        print(f"voxelwise: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("voxelwise: interrupted", file=sys.stderr)
        return 130
    return 0


def _is_user_error(e: BaseException) -> bool:
    """Errors raised by our own validation code (messages start with 'Expected' or name a path)."""
    msg = str(e)
    return msg.startswith("Expected") or isinstance(
        e, FileNotFoundError | FileExistsError | ConnectionError
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
