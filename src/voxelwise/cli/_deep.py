"""``voxelwise train`` and ``voxelwise predict``: deep learning over :mod:`voxelwise.deep`.

torch loads only when one of these commands runs (never for ``--help`` or other commands).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

from voxelwise.cli._progress import progress_bar
from voxelwise.errors import OutputExistsError, VoxelwiseError

__all__ = ["add_parsers", "cmd_predict", "cmd_train"]

OUTPUTS = ("labels", "probabilities", "confidence", "entropy")
_STOPPED = {
    "epochs": "all epochs run",
    "early_stopping": "early stopping",
    "max_minutes": "wall-time budget reached",
}


def add_parsers(sub: Any) -> None:
    """Register ``train`` and ``predict`` on the top-level subparsers."""
    p = sub.add_parser(
        "train",
        help="train a deep network (2D/3D U-Net) on image and label volumes",
        description="Train a segmentation network. Labels: 0 = unlabelled (ignored), class c "
        "stored as c + 1 (e.g. background 1, mitochondria 2). The model lands at --out; the "
        "reports (metrics.csv, metrics.png, config.yaml, ...) in <stem>.train/ beside it.",
    )
    p.add_argument(
        "--image", action="append", default=[], metavar="FILE", help="image volume (repeatable)"
    )
    p.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="FILE",
        help="label volume of the same shape, one per --image (repeatable)",
    )
    p.add_argument(
        "--workspace", metavar="WS", help="train on layers of this workspace instead of files"
    )
    p.add_argument(
        "--image-layer", default="raw", metavar="NAME", help="workspace image layer (default: raw)"
    )
    p.add_argument(
        "--images",
        nargs="+",
        metavar="NAME",
        help="several workspace image layers as input channels, in order (e.g. raw fluo); "
        "`predict --workspace` reads the same layers",
    )
    p.add_argument("--labels-layer", metavar="NAME", help="workspace labels/annotation layer")
    p.add_argument(
        "--config", metavar="YAML", help="training settings YAML (see docs/deep-learning.md)"
    )
    p.add_argument("--arch", choices=["unet2d", "unet3d", "hybrid"], help="network")
    p.add_argument(
        "--encoder",
        choices=["resnet18", "resnet34"],
        help="2D U-Net on a ResNet encoder (with --arch unet2d, the default)",
    )
    p.add_argument(
        "--encoder-weights",
        metavar="WEIGHTS",
        help="pretrained encoder: 'imagenet' (downloaded once; pip install "
        "'voxelwise[pretrained]') or a .safetensors/.pth file",
    )
    p.add_argument(
        "--freeze-epochs",
        type=int,
        metavar="N",
        help="with --encoder-weights: epochs that train the decoder alone (default 2)",
    )
    p.add_argument(
        "--context",
        type=int,
        metavar="N",
        help="2D models: 2.5D input, N neighbouring slices on each side as extra channels "
        "(default 0)",
    )
    p.add_argument(
        "--epochs", type=int, metavar="N", help="number of epochs (overrides the config)"
    )
    p.add_argument("--max-minutes", type=float, metavar="M", help="wall-time budget in minutes")
    p.add_argument("--roi", help="region of every pair to use 'z0:z1,y0:y1,x0:x1'")
    p.add_argument(
        "--device", default="auto", metavar="DEVICE", help="auto (default), cpu, cuda or cuda:N"
    )
    p.add_argument(
        "--seed", type=int, metavar="S", help="seed patch sampling, augmentation and weights"
    )
    p.add_argument("--init-model", metavar="MODEL", help="fine-tune or resume from this model file")
    p.add_argument(
        "--out", required=True, metavar="MODEL.pt", help="model file to write, ending in .pt"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict",
        help="segment a volume (or a workspace layer) with trained deep model(s)",
        description="Tiled prediction of a volume of any size into a .zarr folder (arrays "
        "labels, probabilities, confidence, entropy), or into layers of a workspace.",
    )
    p.add_argument("model", help="model file from `voxelwise train`")
    p.add_argument("image", nargs="?", help="volume file to segment (not with --workspace)")
    p.add_argument("out", nargs="?", help="output folder ending in .zarr (not with --workspace)")
    p.add_argument("--key", help="dataset inside an HDF5/Zarr container")
    p.add_argument("--roi", help="region of IMAGE to segment 'z0:z1,y0:y1,x0:x1'")
    p.add_argument(
        "--workspace", metavar="WS", help="segment a layer of this workspace into new layers"
    )
    p.add_argument(
        "--layer", default="raw", metavar="NAME", help="workspace layer to segment (default: raw)"
    )
    p.add_argument(
        "--name", default="prediction", metavar="NAME", help="output layer name (workspace)"
    )
    p.add_argument("--label-set", metavar="NAME", help="label set of the output layer (workspace)")
    p.add_argument("--axes", default="auto", help="2D models: slice axes, auto or e.g. z, zyx")
    p.add_argument(
        "--fusion",
        choices=["auto", "weighted", "max", "mean"],
        default="auto",
        help="multi-axis fusion: auto weights axes by their validation scores (default)",
    )
    p.add_argument(
        "--tta", action="store_true", help="test-time augmentation (in-plane flips/rotations)"
    )
    p.add_argument(
        "--ensemble",
        nargs="+",
        action="extend",
        default=[],
        metavar="MODEL",
        help="more model files; their probabilities are averaged with MODEL's",
    )
    p.add_argument(
        "--top-k", type=int, metavar="K", help="ensemble: keep the K best by validation mIoU"
    )
    p.add_argument(
        "--outputs",
        default=",".join(OUTPUTS),
        help=f"comma-separated outputs (default: {','.join(OUTPUTS)})",
    )
    p.add_argument("--probability-dtype", choices=["float16", "uint8"], default="float16")
    p.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="patches per forward pass (default: from the device's free memory)",
    )
    p.add_argument(
        "--device", default="auto", metavar="DEVICE", help="auto (default), cpu, cuda or cuda:N"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=cmd_predict)


def _deep() -> Any:
    """``voxelwise.deep``, or a one-line error naming the extra to install."""
    from voxelwise._optional import optional_import

    optional_import("torch", feature="deep learning (voxelwise train/predict)")
    import voxelwise.deep

    return voxelwise.deep


def _check_device(deep: Any, device: str) -> None:
    """Refuse a CUDA device where none is available (the library falls back with a warning)."""
    from voxelwise.errors import VoxelwiseWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", VoxelwiseWarning)
        try:
            deep.parse_device(device)
        except VoxelwiseWarning as w:
            raise VoxelwiseError(
                f"--device {device} asks for a CUDA GPU but none is available to PyTorch; "
                "use --device cpu (or auto, which takes a GPU when there is one)"
            ) from w


def _at_least(value: float | None, low: float, option: str, *, strict: bool = False) -> None:
    if value is None:
        return
    if value < low or (strict and value == low):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"Expected {option} {bound}, got {value:g} instead")


def _train_config(deep: Any, path: str | None, arch: str | None) -> Any:
    """The TrainConfig from ``--config`` (if any) with ``--arch`` applied."""
    import yaml

    try:
        if path is None:
            return deep.TrainConfig(arch=arch) if arch else deep.TrainConfig()
        if not Path(path).is_file():
            raise FileNotFoundError(f"No training config file at {path}; give a YAML file")
        cfg = deep.TrainConfig.from_yaml(path)
        if arch and arch != cfg.arch:
            data = cfg.to_dict()
            if tuple(cfg.patch_size) == deep.TrainConfig(arch=cfg.arch).patch_size:
                data.pop("patch_size")  # the default of the old network: take the new one's
            return deep.TrainConfig.from_dict({**data, "arch": arch})
        return cfg
    except FileNotFoundError:
        raise
    except (ValueError, TypeError, OSError, yaml.YAMLError) as e:  # syntax, keys, types, values
        where = f" in {path}" if path else ""
        raise VoxelwiseError(f"Invalid training settings{where}: {e}") from e


def _with_options(deep: Any, cfg: Any, args: argparse.Namespace) -> Any:
    """``cfg`` with ``--encoder``, ``--encoder-weights``, ``--freeze-epochs`` and
    ``--context`` applied."""
    given = {
        "encoder": args.encoder,
        "encoder_weights": args.encoder_weights,
        "freeze_epochs": args.freeze_epochs,
        "context": args.context,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return cfg
    try:
        return deep.TrainConfig.from_dict({**cfg.to_dict(), **given})
    except (ValueError, TypeError) as e:
        raise VoxelwiseError(f"Invalid training settings: {e}") from e


def _model_out(path: str, overwrite: bool) -> Path:
    out = Path(path)
    if out.suffix != ".pt":
        raise ValueError(f"Expected --out as a model file ending in .pt, got {path!r} instead")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists already; pass --overwrite to replace it")
    if out.is_dir():
        raise OutputExistsError(f"{out} is a folder; give a model file path ending in .pt")
    return out


def _file_pairs(args: argparse.Namespace) -> tuple[Any, Any]:
    if not args.image or len(args.image) != len(args.labels):
        raise ValueError(
            f"Expected one --labels per --image, got {len(args.image)} --image and "
            f"{len(args.labels)} --labels; or train on a workspace with "
            "--workspace WS --labels-layer NAME"
        )
    if len(args.image) == 1:
        return args.image[0], args.labels[0]
    return list(args.image), list(args.labels)


def cmd_train(args: argparse.Namespace) -> None:
    if args.workspace and (args.image or args.labels):
        raise ValueError(
            "Expected either --image/--labels files or --workspace with --labels-layer, not both"
        )
    if args.workspace and not args.labels_layer:
        raise ValueError("Expected --labels-layer NAME with --workspace (the labels to learn)")
    if args.images and not args.workspace:
        raise ValueError(
            "Expected --images with --workspace (layers as channels); for files, stack the "
            "channels with voxelwise.deep.stack_channels in Python"
        )
    _at_least(args.epochs, 1, "--epochs")
    _at_least(args.max_minutes, 0, "--max-minutes", strict=True)
    out = _model_out(args.out, args.overwrite)
    pairs = None if args.workspace else _file_pairs(args)
    deep = _deep()
    _check_device(deep, args.device)
    cfg = _train_config(deep, args.config, args.arch)
    cfg = _with_options(deep, cfg, args)
    common: dict[str, Any] = {
        "out": out,
        "config": cfg,
        "roi": args.roi,
        "epochs": args.epochs,
        "max_minutes": args.max_minutes,
        "init_model": args.init_model,
        "device": args.device,
        "rng": args.seed,
    }
    with progress_bar("train", enabled=not args.quiet, unit="epoch") as progress:
        if pairs is None:
            from voxelwise.workspace import Workspace

            ws = Workspace.open(args.workspace)
            result = deep.train_workspace(
                ws,
                args.labels_layer,
                image=args.image_layer,
                images=args.images,
                progress=progress,
                **common,
            )
        else:
            result = deep.train(*pairs, progress=progress, **common)
    reports = out.with_name(f"{out.stem}.train")
    arch = deep.load_model(result.model_path).metadata["arch"]  # --init-model sets it
    print(
        f"trained {arch}: best validation mIoU {result.best_val_miou:.3f}, "
        f"{result.epochs} epoch(s) in {result.seconds:.1f} s "
        f"({_STOPPED.get(result.stopped, result.stopped)})"
    )
    print(f"model    {result.model_path}")
    print(f"reports  {reports}/")


def _outputs(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in items if t not in OUTPUTS]
    if unknown or not items:
        raise ValueError(
            f"Expected --outputs as a comma-separated list from {','.join(OUTPUTS)}, "
            f"got {text!r} instead"
        )
    return items


def _describe(out: Path) -> list[str]:
    import zarr

    group = zarr.open_group(out, mode="r")
    arrays = dict(group.arrays())
    attrs: dict[str, Any] = dict(group.attrs)
    models = int(attrs.get("models") or 1)
    lines = [f"wrote {out}" + (f" (ensemble of {models} models):" if models > 1 else ":")]
    for name in OUTPUTS:
        if name in arrays:
            shape = " x ".join(str(s) for s in arrays[name].shape)
            lines.append(f"  {name:<14} {shape:<20} {arrays[name].dtype}")
    values, names = attrs.get("label_values") or [], attrs.get("label_names") or []
    if values:
        classes = ", ".join(f"{v} = {n}" for v, n in zip(values, names))
        lines.append(f"  label values   {classes}")
    return lines


def cmd_predict(args: argparse.Namespace) -> None:
    outputs = _outputs(args.outputs)
    _at_least(args.top_k, 1, "--top-k")
    _at_least(args.batch_size, 1, "--batch-size")
    if args.workspace:
        if args.image or args.out:
            raise ValueError(
                "Expected no IMAGE/OUT with --workspace: the results become layers "
                f"({args.name!r} and its probabilities); choose them with --layer and --name"
            )
        if args.roi or args.key:
            raise ValueError("Expected no --roi/--key with --workspace: a layer is segmented whole")
    elif not (args.image and args.out):
        raise ValueError(
            "Expected MODEL IMAGE OUT (OUT a folder ending in .zarr), or MODEL --workspace WS"
        )
    elif Path(args.out).suffix != ".zarr":
        raise ValueError(f"Expected OUT as a folder ending in .zarr, got {args.out!r} instead")
    elif Path(args.out).exists() and not args.overwrite:
        raise OutputExistsError(f"{args.out} exists already; pass --overwrite to replace it")
    deep = _deep()
    _check_device(deep, args.device)
    models = [deep.load_model(m) for m in [args.model, *args.ensemble]]
    model: Any = models if len(models) > 1 else models[0]
    options: dict[str, Any] = {
        "axes": args.axes,
        "fusion": args.fusion,
        "tta": args.tta,
        "ensemble": args.top_k,
        "outputs": outputs,
        "probability_dtype": args.probability_dtype,
        "batch_size": args.batch_size,
        "device": args.device,
        "overwrite": args.overwrite,
    }
    if args.workspace:
        from voxelwise.workspace import Workspace

        ws = Workspace.open(args.workspace)
        with progress_bar("predict", enabled=not args.quiet) as progress:
            result = deep.predict_workspace(
                ws,
                model,
                image=args.layer,
                name=args.name,
                label_set=args.label_set,
                progress=progress,
                **options,
            )
        n = len(result.layers)
        print(f"wrote {n} layer{'s' if n != 1 else ''} to {ws.path}: {', '.join(result.layers)}")
        return
    from voxelwise.io import open_volume

    vol = open_volume(args.image, key=args.key, roi=args.roi)
    with progress_bar("predict", enabled=not args.quiet, unit="patch") as progress:
        out = deep.predict(model, vol.data, args.out, progress=progress, **options)
    for line in _describe(Path(out)):
        print(line)
