"""``voxelwise run`` and ``voxelwise workflow``: export a workspace's steps, replay them on new data."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from voxelwise.cli._progress import StageBar

__all__ = ["add_parsers", "cmd_run", "cmd_workflow_export", "cmd_workflow_validate"]


def _role_file(text: str) -> tuple[str, str]:
    role, sep, path = text.partition("=")
    if not sep or not role.strip() or not path.strip():
        raise argparse.ArgumentTypeError(
            f"expected ROLE=FILE (e.g. scribbles=new_scribbles.tif), got {text!r}"
        )
    return role.strip(), path.strip()


def add_parsers(sub: Any) -> None:
    """Register ``run`` and ``workflow`` (export, validate) on the top-level subparsers."""
    p = sub.add_parser(
        "run",
        help="replay a recorded workflow (YAML) on a new volume",
        description="Replay the steps of a workflow exported with `voxelwise workflow export` on "
        "a new volume: the same filters, supervoxels, classifiers, networks and analysis with "
        "the same parameters. Training steps train again when their inputs (e.g. scribbles) "
        "are given with --input, and otherwise apply the models the workflow recorded.",
    )
    p.add_argument("workflow", help="workflow YAML file")
    p.add_argument("--image", help="the new volume (any format voxelwise reads)")
    p.add_argument(
        "--workspace",
        metavar="WS",
        help="workspace to create (default ./<image name>.vw); without --image, an existing "
        "workspace to run on",
    )
    p.add_argument(
        "--input",
        action="append",
        default=[],
        type=_role_file,
        metavar="ROLE=FILE",
        help="a file for one of the workflow's input roles, e.g. scribbles=new.tif (repeatable)",
    )
    p.add_argument("--spacing", help="voxel size 'Z,Y,X' of the image (default: from the file)")
    train = p.add_mutually_exclusive_group()
    train.add_argument(
        "--train",
        choices=["auto", "always", "never"],
        default="auto",
        help="auto (default): train where the training inputs are given, else reuse the "
        "recorded models; always; never",
    )
    train.add_argument(
        "--no-train",
        dest="train",
        action="store_const",
        const="never",
        help="apply the recorded models as they are (same as --train never)",
    )
    p.add_argument("--results", help="folder for models and tables (default <workspace>-results)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing workspace and layers"
    )
    p.add_argument(
        "--scheduler",
        help="dask.distributed scheduler address (e.g. tcp://10.0.0.5:8786); default: this machine",
    )
    p.add_argument(
        "--server",
        metavar="URL",
        help="replay as a job on a voxelwise server (e.g. http://10.0.0.5:8130) instead of "
        "here: --workspace names the server's workspace (made from --image, a path under its "
        "data root, when given) and --input files are paths under its data root",
    )
    p.add_argument(
        "--token",
        help="API token for --server (default: the VOXELWISE_TOKEN environment variable)",
    )
    p.set_defaults(func=cmd_run)

    wf = sub.add_parser(
        "workflow", help="export and check recorded workflows (replay them with `voxelwise run`)"
    ).add_subparsers(dest="wf_command", required=True, metavar="ACTION")
    p = wf.add_parser("export", help="write a workspace's recorded steps as a workflow YAML")
    p.add_argument("workspace")
    p.add_argument("--out", required=True, help="workflow YAML file to write")
    p.add_argument("--name", help="title of the workflow (default: the workspace's name)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_workflow_export)
    p = wf.add_parser("validate", help="check a workflow YAML: steps, parameters, references")
    p.add_argument("workflow")
    p.set_defaults(func=cmd_workflow_validate)


def cmd_run(args: argparse.Namespace) -> None:
    from voxelwise.workflows import run_workflow

    if args.server:
        _run_on_server(args)
        return
    with StageBar("workflow", enabled=not args.quiet) as bar:
        report = run_workflow(
            args.workflow,
            args.image,
            workspace=args.workspace,
            inputs=dict(args.input),
            spacing=args.spacing,
            train=args.train,
            results=args.results,
            overwrite=args.overwrite,
            scheduler=args.scheduler,
            progress=bar.progress,
            on_stage=bar.on_stage,
        )
    print(report.summary())


def _run_on_server(args: argparse.Namespace) -> None:
    """``voxelwise run --server URL``: the same replay as a server job, through the client."""
    import os

    from tqdm import tqdm

    from voxelwise.client import Client
    from voxelwise.errors import VoxelwiseError
    from voxelwise.workflows import load_workflow

    if not args.workspace:
        raise VoxelwiseError(
            "--server needs --workspace NAME (the server's workspace to run on, or to create "
            "from --image)"
        )
    token = args.token or os.environ.get("VOXELWISE_TOKEN")
    if not token:
        raise VoxelwiseError(
            "--server needs an API token: --token TOKEN or the VOXELWISE_TOKEN environment "
            "variable (`voxelwise users add NAME` on the server prints one)"
        )
    workflow = load_workflow(args.workflow)  # checked here first: errors name the local file
    with Client(args.server, token) as client:
        if args.image:
            job = client.create_workspace(args.workspace, args.image, overwrite=args.overwrite)
            job.wait()
        job = client.run_workflow(
            args.workspace,
            workflow,
            inputs=dict(args.input),
            train=args.train,
            overwrite=args.overwrite,
        )
        bar = None
        if not args.quiet:
            bar = tqdm(
                desc=f"workflow job {job.id}",
                total=100,
                file=sys.stderr,
                leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}]",
            )

        def progress(fraction: float, message: str) -> None:
            if bar is not None:
                bar.set_postfix_str(message[:60], refresh=False)
                bar.update(100 * fraction - bar.n)

        try:
            result = job.wait(progress=progress) or {}
        finally:
            if bar is not None:
                bar.close()
    print(f"workflow {result.get('workflow')!r} on {args.server} workspace {args.workspace!r}")
    width = max((len(s["id"]) for s in result.get("steps", [])), default=0)
    for s in result.get("steps", []):
        made = f" -> {', '.join(s['outputs'][:4])}" if s["outputs"] else ""
        note = f"  ({s['note']})" if s.get("note") else ""
        print(f"  {s['id']:<{width}}  {s['status']:<7} {s['seconds']:6.1f} s{made}{note}")
    print(f"  took     {result.get('seconds', 0.0):.1f} s")


def cmd_workflow_export(args: argparse.Namespace) -> None:
    from pathlib import Path

    from voxelwise.errors import OutputExistsError
    from voxelwise.workflows import export_workflow, save_workflow
    from voxelwise.workspace import Workspace

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"{out} exists already; pass --overwrite to replace it")
    workflow = export_workflow(Workspace.open(args.workspace), name=args.name)
    save_workflow(workflow, out)
    roles = ", ".join(
        f"{r}{'' if s['required'] else ' (optional)'}" for r, s in workflow["inputs"].items()
    )
    print(f"wrote {out}: {len(workflow['steps'])} steps; inputs: {roles}")
    for item in workflow.get("skipped", []):
        print(f"  not replayable: {item['record']}: {item['reason']}")


def cmd_workflow_validate(args: argparse.Namespace) -> None:
    from voxelwise.workflows import load_workflow

    workflow = load_workflow(args.workflow)
    steps = ", ".join(f"{s['id']} ({s['step']})" for s in workflow["steps"])
    print(f"{args.workflow}: valid; inputs: {', '.join(workflow['inputs'])}; steps: {steps}")
