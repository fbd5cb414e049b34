"""volume-segmantics 0.4.0 in its own virtual environment, for ``benchmarks/deep_quality.py``.

volume-segmantics pins ``torch<2.11`` and ``numpy<2`` (see ``../shared/notes/stack-facts.md``),
so it lives in ``<repo>/.bench-venvs/volseg/`` (created on first use, then reused): torch
2.13.0 (the CPU build, through ``constraints.txt``) and ``numpy<2``, then
``volume-segmantics==0.4.0 --no-deps``, then its other requirements (read from its own
metadata) and ``rich``.

Its command-line programs are run through this file as a launcher inside that environment
(``python _volseg.py train|predict BUDGET_S THREADS -- ARGS``), which

- registers a ``torchvision`` fragment library with the ``nms``/``qnms`` schemas before
  anything imports torchvision: torchvision 0.28's wheel is a CUDA build whose compiled ops
  cannot load next to the CPU torch, and segmentation-models-pytorch / timm import it;
- sets the torch thread count;
- for training, gives ``pytorch_lightning.Trainer`` a ``max_time`` of the budget left after
  start-up and slicing (so the whole ``model-train-2d`` run fits the budget; Lightning's timer
  starts after its validation sanity check, training stops after the step that crosses it,
  and volume-segmantics then validates, saves its final weights and writes its diagnostic
  plots, as at the end of any run: the wall time overshoots the budget by these), and turns off Lightning's own ``.ckpt`` checkpoints
  (volume-segmantics writes and uses its own ``.pytorch`` file; the ``.ckpt`` copy with
  optimiser state would cost a ~300 MB write per epoch);
- then calls volume-segmantics' own ``model-train-2d`` / ``model-predict-2d`` entry points.

Only the standard library is imported at module level: the launcher half runs in the other
environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".bench-venvs" / "volseg"
VERSION = "0.4.0"
_MARKER = "volseg-installed.json"
_RESULT = "VOLSEG_RESULT "


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip(venv: Path, *args: str, log: Path) -> None:
    cmd = [str(_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", *args]
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"pip failed while building {venv}:\n{tail}")


def ensure_venv(venv: Path = VENV) -> Path:
    """Create the volume-segmantics environment once; return its python. Reused afterwards."""
    marker = venv / _MARKER
    if marker.exists():
        return _python(venv)
    t0 = time.perf_counter()
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    log = venv / "install.log"
    constraints = str(ROOT / "constraints.txt")
    _pip(venv, "-c", constraints, "torch==2.13.0", "numpy<2", log=log)
    _pip(venv, "--no-deps", f"volume-segmantics=={VERSION}", log=log)
    code = (
        "import importlib.metadata as m\n"
        "for r in m.requires('volume-segmantics') or []:\n"
        "    if 'extra ==' not in r: print(r)\n"
    )
    reqs = subprocess.run(
        [str(_python(venv)), "-c", code], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    # torch and numpy are installed above (torch 2.13.0 against its torch<2.11 pin)
    names = [(re.match(r"[A-Za-z0-9_.\-]+", r.strip()), r.strip()) for r in reqs if r.strip()]
    keep = [r for m, r in names if m is None or m.group(0).lower() not in ("torch", "numpy")]
    _pip(venv, "-c", constraints, "torch==2.13.0", "numpy<2", *keep, "rich", log=log)
    marker.write_text(
        json.dumps(
            {
                "volume_segmantics": VERSION,
                "requirements": keep,
                "seconds": time.perf_counter() - t0,
            }
        )
    )
    return _python(venv)


def train_settings(
    *, image_size: int, crop: int, lr: float, seed: int, encoder: str = "resnet34"
) -> dict[str, Any]:
    """``2d_model_train_settings.yaml`` (keys of its example file, values for this benchmark)."""
    return {
        "data_im_dirname": "data",
        "seg_im_out_dirname": "seg",
        "model_output_fn": "trained_2d_model",
        "clip_data": True,
        "st_dev_factor": 2.575,
        "data_hdf5_path": "/data",
        "seg_hdf5_path": "/data",
        "minmax_norm": False,
        "training_axes": "Z",
        "image_size": int(image_size),
        "downsample": False,
        "training_set_proportion": 0.85,
        "cuda_device": 0,
        "num_cyc_frozen": 0,  # no pretrained encoder: nothing to keep frozen
        "num_cyc_unfrozen": 100000,  # the time budget stops training
        "patience": 100000,
        "loss_criterion": "CombinedCEDiceLoss",  # as pipeline.yaml's semantic head (dice_ce)
        "alpha": 0.75,
        "beta": 0.25,
        "eval_metric": "MeanIoU",
        "pct_lr_inc": 0.3,
        "starting_lr": float(lr),
        "end_lr": 50,
        "lr_find_epochs": 1,
        "lr_reduce_factor": 500,
        "plot_lr_graph": False,
        "encoder_weights_path": False,
        "full_weights_path": False,
        "random_seed": int(seed),
        "model": {"type": "U_Net", "encoder_name": encoder, "encoder_weights": None},
        "_crop": int(crop),  # read by the launcher (pipeline.yaml), ignored by volume-segmantics
    }


def predict_settings(*, defaults: bool = False) -> dict[str, Any]:
    """``2d_model_predict_settings.yaml``: single-axis (Z) prediction, labels only; with
    ``defaults``, its shipped "medium" quality (three axes fused by maximum probability)."""
    return {
        "quality": "medium" if defaults else "low",
        "prediction_axis": "Z",
        "output_probs": False,
        "output_entropy": False,
        "clip_data": True,
        "st_dev_factor": 2.575,
        "data_hdf5_path": "/data",
        "cuda_device": 0,
        "downsample": False,
        "one_hot": False,
        "minmax_norm": False,
        "use_higher_bit_depth": False,
    }


def _write_h5(path: Path, array: Any) -> Path:
    import h5py

    with h5py.File(path, "w") as fh:
        fh.create_dataset("data", data=array)
    return path


def _run(
    python: Path, mode: str, budget_s: float, threads: int, args: list[str], log: Path
) -> dict[str, Any]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env.update(
        VOLSEG_NUM_WORKERS="0",  # data loading in the training process, like voxelwise
        NO_ALBUMENTATIONS_UPDATE="1",
        HF_HUB_OFFLINE="1",
        PYTHONWARNINGS="ignore",
    )
    env.pop("PYTHONPATH", None)
    cmd = [str(python), __file__, mode, str(budget_s), str(threads), "--", *args]
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    text = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"volume-segmantics {mode} failed (log {log}):\n{text[-4000:]}")
    lines = [ln for ln in text.splitlines() if ln.startswith(_RESULT)]
    return json.loads(lines[-1][len(_RESULT) :]) if lines else {}


def train_and_predict(
    train_image: Any,
    train_labels: Any,
    test_image: Any,
    *,
    workdir: Path,
    budget_s: float,
    threads: int,
    crop: int = 256,
    tile: int = 0,
    lr: float = 1e-3,
    seed: int = 0,
    defaults: bool = False,
) -> dict[str, Any]:
    """Train volume-segmantics on (Z, Y, X) arrays within ``budget_s``, predict ``test_image``.

    ``train_labels`` is a binary mask (0 background, 1 foreground). ``tile`` > 0 (the hand
    tuning of issue 11): every Z section is cut into native-resolution ``tile`` x ``tile``
    tiles, stacked as the slices of the volumes volume-segmantics trains and predicts on
    (``image_size`` = ``tile``; the prediction is put back together). Otherwise each training
    sample is a random ``crop`` x ``crop`` crop of a native-resolution Z slice (``crop=0``: the
    whole slice, volume-segmantics' default). ``defaults=True`` runs volume-segmantics as shipped
    instead: slices resized to ``image_size`` 256, training on all three axes, prediction
    along three axes fused by maximum probability ("medium" quality). Returns ``train_s`` (wall
    seconds of the whole ``model-train-2d`` run: slicing, training, saving), ``predict_s``,
    ``pred`` (the predicted (Z, Y, X) label volume, 0/1), ``epochs`` and ``steps``.
    """
    import numpy as np
    import tifffile
    import yaml

    python = ensure_venv()
    workdir.mkdir(parents=True, exist_ok=True)
    settings = workdir / "volseg-settings"
    settings.mkdir(exist_ok=True)
    shape = np.shape(test_image)
    if tile > 0 and not defaults:
        train_image, train_labels, test_image = (
            to_tiles(np.asarray(a), tile) for a in (train_image, train_labels, test_image)
        )
        crop = 0
    else:
        tile = 0
    size = -(-max(np.shape(train_image)[1:]) // 32) * 32  # native resolution, multiple of 32
    crop = 0 if crop <= 0 or crop >= size or defaults else crop
    tset = train_settings(image_size=256 if defaults else size, crop=crop, lr=lr, seed=seed)
    if defaults:
        tset["training_axes"] = "All"
    (settings / "2d_model_train_settings.yaml").write_text(yaml.safe_dump(tset, sort_keys=False))
    pset = predict_settings(defaults=defaults)
    (settings / "2d_model_predict_settings.yaml").write_text(yaml.safe_dump(pset, sort_keys=False))
    img = _write_h5(workdir / "train_image.h5", np.asarray(train_image, dtype=np.uint8))
    lab = _write_h5(workdir / "train_labels.h5", np.asarray(train_labels, dtype=np.uint8))
    test = _write_h5(workdir / "test_image.h5", np.asarray(test_image, dtype=np.uint8))

    t0 = time.perf_counter()
    info = _run(
        python,
        "train",
        budget_s,
        threads,
        ["--data", str(img), "--labels", str(lab), "--data_dir", str(workdir)],
        workdir / "train.log",
    )
    train_s = time.perf_counter() - t0
    models = sorted(workdir.glob("*.pytorch"))
    if not models:
        tail = (workdir / "train.log").read_text()[-3000:]
        raise RuntimeError(f"volume-segmantics saved no model in {workdir}:\n{tail}")
    t0 = time.perf_counter()
    _run(
        python,
        "predict",
        0,
        threads,
        [str(models[-1]), str(test), "--data_dir", str(workdir)],
        workdir / "predict.log",
    )
    predict_s = time.perf_counter() - t0
    outputs = sorted(workdir.glob("*_2d_model_vol_pred.tif"))
    if not outputs:
        tail = (workdir / "predict.log").read_text()[-3000:]
        raise RuntimeError(f"volume-segmantics wrote no prediction in {workdir}:\n{tail}")
    pred = tifffile.imread(outputs[-1])
    if tile:
        pred = from_tiles(pred, shape)
    return {
        "train_s": train_s,
        "predict_s": predict_s,
        "pred": pred,
        "crop": crop,
        "tile": tile,
        **info,
    }


def to_tiles(volume: Any, tile: int) -> Any:
    """(Z, Y, X) -> (Z * Y/tile * X/tile, tile, tile): each section's tiles, row by row."""
    z, y, x = volume.shape
    if y % tile or x % tile:
        raise ValueError(f"Expected sections of a multiple of {tile} pixels, got {volume.shape}")
    t = volume.reshape(z, y // tile, tile, x // tile, tile).transpose(0, 1, 3, 2, 4)
    return t.reshape(-1, tile, tile)


def from_tiles(tiles: Any, shape: tuple[int, ...]) -> Any:
    """The inverse of :func:`to_tiles` for a volume of ``shape``."""
    z, y, x = shape
    tile = tiles.shape[-1]
    t = tiles.reshape(z, y // tile, x // tile, tile, tile).transpose(0, 1, 3, 2, 4)
    return t.reshape(z, y, x)


# ---- launcher: runs inside the volume-segmantics environment ------------------------------


def _register_torchvision_fragment() -> Any:
    import torch

    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return lib  # keep a reference: the registration lives as long as the object


def _write_pipeline_yaml(data_dir: Path) -> None:
    """volume-segmantics' shipped default pipeline, plus a random crop to ``_crop`` pixels.

    Without a ``pipeline.yaml`` its Lightning trainer uses no augmentation at all; the shipped
    default list (flips, rotations, brightness/contrast, noise) is used here, preceded by a
    random ``_crop`` x ``_crop`` crop of each native-resolution slice (``_crop`` 0: whole
    slices, volume-segmantics' own behaviour). Its ``Rotate`` entry says
    ``border_mode: reflect``, which albumentations 1.4 (the newest its ``<2`` pin allows)
    rejects; it is given as the equivalent OpenCV constant.
    """
    import yaml
    from volume_segmantics import settings as shipped

    settings_dir = data_dir / "volseg-settings"
    train = yaml.safe_load((settings_dir / "2d_model_train_settings.yaml").read_text())
    default = Path(shipped.__file__).parent / "pipeline.default.yaml"
    pipeline = yaml.safe_load(default.read_text())
    crop = int(train["_crop"])
    transforms = pipeline["augmentations"]["train_transforms"]
    for spec in transforms:  # the shipped file says 'reflect'; albumentations 1.4 wants cv2's int
        if spec.get("border_mode") == "reflect":
            spec["border_mode"] = 4  # cv2.BORDER_REFLECT_101, numpy's 'reflect'
    if crop > 0:
        transforms.insert(0, {"name": "RandomCrop", "height": crop, "width": crop, "p": 1.0})
    (settings_dir / "pipeline.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))


def _launch(argv: list[str]) -> None:
    t0 = time.monotonic()
    mode, budget_s, threads = argv[0], float(argv[1]), int(argv[2])
    rest = argv[argv.index("--") + 1 :]
    import torch

    torch.set_num_threads(threads)
    keep = _register_torchvision_fragment()  # noqa: F841
    if mode == "train":
        from datetime import timedelta

        import pytorch_lightning as pl

        _write_pipeline_yaml(Path(rest[rest.index("--data_dir") + 1]))
        made: list[Any] = []
        original = pl.Trainer.__init__

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            left = budget_s - (time.monotonic() - t0)
            kwargs["max_time"] = timedelta(seconds=max(left, 1.0))
            kwargs["enable_checkpointing"] = False
            original(self, *args, **kwargs)
            made.append(self)

        pl.Trainer.__init__ = init
        fit_times: dict[str, float] = {}
        original_fit = pl.Trainer.fit

        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return original_fit(self, *args, **kwargs)
            finally:
                fit_times["fit_s"] = time.monotonic() - start
                fit_times["before_fit_s"] = start - t0
                fit_times["fit_end"] = time.monotonic()

        pl.Trainer.fit = fit
        from volume_segmantics.scripts.train_2d_model import main

        sys.argv = ["model-train-2d", *rest]
        main()
        trainer = made[-1] if made else None
        result = {
            "epochs": int(trainer.current_epoch) if trainer else 0,
            "steps": int(trainer.global_step) if trainer else 0,
            "launcher_s": time.monotonic() - t0,
            "fit_s": fit_times.get("fit_s"),
            "before_fit_s": fit_times.get("before_fit_s"),
            "after_fit_s": time.monotonic() - fit_times["fit_end"] if fit_times else None,
        }
    elif mode == "predict":
        from volume_segmantics.scripts.predict_2d_model import main

        sys.argv = ["model-predict-2d", *rest]
        main()
        result = {"launcher_s": time.monotonic() - t0}
    else:
        raise SystemExit(f"unknown mode {mode!r}; expected 'train' or 'predict'")
    print(_RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    _launch(sys.argv[1:])
