"""Quality and speed of shallow learning from scribbles (voxelwise.learn) on VNC mitochondria.

Data: the Drosophila VNC ssTEM stack (20 x 1024 x 1024, 50 x 4.6 x 4.6 nm) with its binary
mitochondria ground truth, read from ``../shared/data``.

Scribbles are generated deterministically from the ground truth of sections 0-15 as strokes,
like a user's: in every section, the medial axis (skeleton) of about half of the mitochondria
(eroded by 2 pixels, so strokes stay inside) and 50 straight 40-pixel segments in the
background at least 6 pixels from any mitochondrion, rasterised with radius 1. They cover well
under 1 % of the voxels of those sections. Sections 16-19 are never annotated; IoU of the
mitochondria class is measured there.

Methods, all in one run on the same scribbles:

- anchor: :func:`skimage.feature.multiscale_basic_features` per section (2D, sigma 1-16:
  intensity, edges, texture) and ``RandomForestClassifier(n_estimators=50, max_depth=10,
  max_samples=0.05)`` trained with :func:`skimage.future.fit_segmenter`, predicting every
  section (the scikit-image trainable-segmentation recipe);
- voxel: :class:`voxelwise.learn.Trainer` in voxel mode with a random forest (library
  defaults) on a bank of Gaussian, gradient-magnitude, Laplacian-of-Gaussian and
  Hessian-eigenvalue features at sigma 1, 2, 4 and 8 (in voxels of the finest axis; the filters
  scale sigma per axis by the voxel size, so z gets about a tenth: anisotropy-aware), computed
  chunk by chunk on the fly (not stored), those with sigma >= 4 on the first pyramid level (half
  resolution in y and x) and interpolated back (``multiscale=True``), predicting every voxel;
- supervoxel: SLIC supervoxels (default size 10, i.e. 1 x 10 x 10 voxels), per-supervoxel
  mean and standard deviation of the same features, a random forest, painted back to voxels;
- supervoxel_refined: the same with the Potts MRF on the supervoxel adjacency graph
  (alpha-expansion / graph cut, smoothness 0.15);
- informative: supervoxel_refined with every feature at full resolution (``fullres``), to
  show what the multiscale shortcut costs or gains.

Times are wall seconds of everything a method needs from the image in memory to the label
volume: for voxelwise modes the workspace creation and scribble import (``setup_s``), the
supervoxels (``supervoxels_s``), training (features included) and prediction (writing the
label layer); shared steps are counted in every mode that uses them.

Run from the repository root::

    python benchmarks/shallow_quality.py

Prints ``iou_anchor``, ``iou_voxel``, ``iou_supervoxel``, ``iou_supervoxel_refined``,
``iou_gain_vs_anchor`` (best voxelwise mode minus anchor), ``anchor_s``, ``voxel_s``,
``supervoxel_s``, ``supervoxel_refined_s`` (wall seconds), the same as ``*_cpu_s`` (CPU
seconds of all threads, less sensitive to other load on the machine), and informative lines
(scribble counts, parts of the timings, precision and recall, machine load).
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
TRAIN = range(0, 16)
TEST = slice(16, 20)
MITO, BACKGROUND = 2, 1
SPACING = (50.0, 4.6, 4.6)
FEATURES = [
    f"{name}:sigma={s}"
    for name, sigmas in (
        ("gaussian", (1, 2, 4, 8)),
        ("gradient_magnitude", (1, 2, 4, 8)),
        ("laplacian_of_gaussian", (2, 4, 8)),
        ("hessian_eigenvalues", (1, 2, 4, 8)),
    )
    for s in sigmas
]


def line(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def cpu_seconds() -> float:
    """CPU time of this process, all threads (less sensitive to other load than wall time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """Wall and CPU seconds of a block of work."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = cpu_seconds() - self.cpu


def make_scribbles(
    gt: np.ndarray,
    sections: range,
    *,
    rng: int = 0,
    fg_fraction: float = 0.5,
    bg_segments: int = 50,
    length: int = 40,
    margin: float = 6.0,
) -> np.ndarray:
    """Strokes from the ground truth: skeletons inside some objects, segments in background."""
    from skimage.draw import line as draw_line
    from skimage.morphology import skeletonize

    gen = np.random.default_rng(rng)
    out = np.zeros(gt.shape, np.uint8)
    cross = ndi.generate_binary_structure(2, 1)
    for z in sections:
        mask = gt[z]
        lab, n = ndi.label(mask)
        ids = np.arange(1, n + 1)
        sizes = ndi.sum_labels(mask, lab, ids)
        ids = ids[sizes >= 60]
        chosen = ids[gen.random(ids.size) < fg_fraction]
        inner = ndi.binary_erosion(mask, iterations=2)
        skeleton = skeletonize(np.isin(lab, chosen) & inner)
        out[z][ndi.binary_dilation(skeleton, cross) & inner] = MITO
        free = ndi.distance_transform_edt(~mask) > margin
        placed = tries = 0
        while placed < bg_segments and tries < 20000:
            tries += 1
            y0, x0 = (int(v) for v in gen.integers(0, mask.shape, size=2))
            angle = gen.uniform(0, np.pi)
            y1, x1 = int(y0 + length * np.sin(angle)), int(x0 + length * np.cos(angle))
            if not (0 <= y1 < mask.shape[0] and 0 <= x1 < mask.shape[1]):
                continue
            rr, cc = draw_line(y0, x0, y1, x1)
            if not free[rr, cc].all():
                continue
            stroke = np.zeros(mask.shape, bool)
            stroke[rr, cc] = True
            stroke = ndi.binary_dilation(stroke, cross) & free & (out[z] == 0)
            out[z][stroke] = BACKGROUND
            placed += 1
    return out


def scores(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """IoU, precision and recall of a boolean prediction."""
    inter = float(np.logical_and(pred, gt).sum())
    union = float(np.logical_or(pred, gt).sum())
    return (
        inter / max(union, 1.0),
        inter / max(float(pred.sum()), 1.0),
        inter / max(float(gt.sum()), 1.0),
    )


def anchor(image: np.ndarray, scribbles: np.ndarray) -> tuple[np.ndarray, dict[str, Clock]]:
    """The scikit-image trainable-segmentation recipe, 2D features per section."""
    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    clocks = {}
    with Clock() as clocks["features"]:
        features = np.stack(
            [
                multiscale_basic_features(
                    image[z], intensity=True, edges=True, texture=True, sigma_min=1, sigma_max=16
                )
                for z in range(image.shape[0])
            ]
        )
    with Clock() as clocks["fit"]:
        clf = RandomForestClassifier(
            n_estimators=50, n_jobs=-1, max_depth=10, max_samples=0.05, random_state=0
        )
        clf = fit_segmenter(scribbles, features, clf)
    with Clock() as clocks["predict"]:
        pred = predict_segmenter(features, clf)
    return pred, clocks


def report(name: str, *clocks: Clock) -> None:
    """``name_s`` (wall) and ``name_cpu_s`` lines for the sum of some clocks."""
    line(f"{name}_s", round(sum(c.wall for c in clocks), 2))
    line(f"{name}_cpu_s", round(sum(c.cpu for c in clocks), 2))


def main() -> int:
    from voxelwise import annotate, learn
    from voxelwise.data import load_vnc
    from voxelwise.supervoxels import compute_supervoxels
    from voxelwise.workspace import Workspace

    line("machine", f"{platform.node()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    image_lazy, gt_lazy, meta = load_vnc(DATA, labels="mitochondria")
    image = np.asarray(image_lazy.compute())
    gt = np.asarray(gt_lazy.compute(), dtype=bool)
    scribbles = make_scribbles(gt, TRAIN)
    annotated = int((scribbles > 0).sum())
    line("scribble_voxels", annotated)
    line("scribble_mito_voxels", int((scribbles == MITO).sum()))
    line("scribble_fraction_of_train_sections", round(annotated / scribbles[: len(TRAIN)].size, 5))
    test_gt = gt[TEST]

    # Imports outside the timed blocks, so no method pays for another's first import.
    import skimage.segmentation  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    pred, clocks = anchor(image, scribbles)
    iou_a, prec, rec = scores(pred[TEST] == MITO, test_gt)
    del pred
    line("iou_anchor", round(iou_a, 4))
    line("anchor_precision", round(prec, 4))
    line("anchor_recall", round(rec, 4))
    report("anchor", *clocks.values())
    report("anchor_features", clocks["features"])
    report("anchor_predict", clocks["predict"])

    tmp = Path(tempfile.mkdtemp(prefix="vw-shallow-"))
    try:
        with Clock() as setup:
            ws = Workspace.create(tmp / "vnc.vw", image, spacing=meta.spacing or SPACING)
            ws.add_label("mito", "background", value=BACKGROUND)
            ws.add_label("mito", "mitochondria", value=MITO)
            annotate.import_labels(ws, scribbles, name="scribbles", label_set="mito")
        report("setup", setup)

        def evaluate(layer: str, key: str) -> float:
            value, p, r = scores(np.asarray(ws.get(layer)[TEST]) == MITO, test_gt)
            line(f"iou_{key}", round(value, 4))
            line(f"{key}_precision", round(p, 4))
            line(f"{key}_recall", round(r, 4))
            return value

        outputs = {"probabilities": False, "confidence": False, "overwrite": True}
        with Clock() as train:
            voxel = learn.Trainer(ws, FEATURES, mode="voxel", store_features=False, multiscale=True)
            model = voxel.train("scribbles")
        with Clock() as predict:
            voxel.predict(model, name="voxel", **outputs)
        report("voxel_train", train)
        report("voxel_predict", predict)
        iou_v = evaluate("voxel", "voxel")
        report("voxel", setup, train, predict)

        with Clock() as supervoxels:
            info = compute_supervoxels(ws)
        report("supervoxels", supervoxels)
        line("supervoxels_n", info.params["n_supervoxels"])
        with Clock() as train:
            trainer = learn.Trainer(
                ws, FEATURES, mode="supervoxel", store_features=False, multiscale=True
            )
            model = trainer.train("scribbles")
        with Clock() as predict:
            trainer.predict(model, name="supervoxel", **outputs)
        report("supervoxel_train", train)
        report("supervoxel_predict", predict)
        iou_s = evaluate("supervoxel", "supervoxel")
        report("supervoxel", setup, supervoxels, train, predict)
        with Clock() as refine:
            trainer.predict(model, name="refined", refine=True, **outputs)
        report("supervoxel_refined_predict", refine)
        iou_r = evaluate("refined", "supervoxel_refined")
        report("supervoxel_refined", setup, supervoxels, train, refine)

        with Clock() as full:
            trainer = learn.Trainer(ws, FEATURES, mode="supervoxel", store_features=False)
            model = trainer.train("scribbles")
            trainer.predict(model, name="fullres", refine=True, **outputs)
        evaluate("fullres", "supervoxel_refined_fullres")
        report("supervoxel_refined_fullres", setup, supervoxels, full)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    best = max(iou_v, iou_s, iou_r)
    line("iou_gain_vs_anchor", round(best - iou_a, 4))
    line("load_after", f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
