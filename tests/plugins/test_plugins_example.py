"""The example plugin package: its filter and classifier through the library and the CLI, and
broken plugins listed with their errors while the rest keep working."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from voxelwise import filters, learn, plugins
from voxelwise.cli._main import main
from voxelwise.workspace import Workspace

SHARPEN = "voxelwise_example_plugin.sharpen"
CENTROID = "voxelwise_example_plugin.centroid"


@pytest.fixture
def bad_plugins(example_plugin, tmp_path, monkeypatch):
    """A second installed distribution (a bare .dist-info) with broken filter plugins."""
    dist = tmp_path / "bad_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[voxelwise.filters]\n"
        "explode = bad_plugins_explode:blur\n"
        "nohalo = bad_plugins_ok:nohalo\n"
        "untyped = bad_plugins_ok:untyped\n"
    )
    (tmp_path / "bad_plugins_explode.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "bad_plugins_ok.py").write_text(
        textwrap.dedent(
            '''
            def nohalo(image, *, amount: float = 1.0):
                """Forgets its halo."""
                return image

            def untyped(image, *, table: dict = None):
                """Unsupported parameter type."""
                return image
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    yield
    for name in [n for n in filters.FILTERS if n.startswith("bad_plugins")]:
        del filters.FILTERS[name]


@pytest.fixture
def ws(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, (12, 40, 40)).astype(np.float32)
    image[:, 10:30, 10:30] += 40
    return Workspace.create(tmp_path / "ws.vw", image, chunks=(6, 20, 20))


def test_discovery_is_lazy():
    code = (
        "import sys, voxelwise, voxelwise.filters, voxelwise.learn, voxelwise.workspace; "
        "print(sorted(m for m in sys.modules if m.startswith(('voxelwise.plugins', "
        "'voxelwise_example'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_list_plugins_with_schema(example_plugin):
    found = {p.name: p for p in plugins.list_plugins()}
    sharpen = found[SHARPEN]
    assert sharpen.ok and sharpen.kind == "filter" and sharpen.error is None
    assert sharpen.schema["properties"] == {
        "amount": {"type": "number", "default": 1.0},
        "sigma": {"type": "number", "default": 1.0},
    }
    assert sharpen.summary.startswith("Unsharp mask")
    assert sharpen.distribution == "voxelwise-example-plugin 0.1.0"
    record = found[CENTROID].to_dict()
    json.dumps(record)  # JSON-able, as the API lists it
    assert record["kind"] == "classifier" and record["status"] == "ok"
    assert record["schema"]["properties"]["metric"]["enum"] == ["euclidean", "manhattan"]
    broken = found["voxelwise_example_plugin.broken"]
    assert broken.status == "broken" and broken.schema is None
    assert "ImportError" in broken.error and "not-installed-anywhere" in broken.error
    assert [p.name for p in plugins.list_plugins("classifier")] == [CENTROID]
    with pytest.raises(plugins.BrokenPluginError, match="installed but broken"):
        plugins.get_plugin("step", "voxelwise_example_plugin.broken")
    with pytest.raises(plugins.PluginNotFoundError, match=r"plugin filters: .*sharpen"):
        plugins.get_plugin("filter", "voxelwise_example_plugin.nope")


def test_plugin_filter_chunked_equals_whole(example_plugin):
    import dask.array as da
    from scipy import ndimage

    image = np.random.default_rng(1).random((14, 30, 26)).astype(np.float32)
    lazy = filters.apply_filter(da.from_array(image, chunks=(5, 11, 9)), SHARPEN, amount=2)
    padded = np.pad(image, 5, mode="symmetric")
    blurred = ndimage.gaussian_filter(padded, 1.2, mode="reflect")[5:-5, 5:-5, 5:-5]
    expected = image + 2.0 * (image - blurred)
    got = lazy.compute()
    assert got.dtype == np.float32
    # sigma 1.2 differs from the run (1.0), so first check the real parameters match exactly:
    whole = filters.apply_filter(image, SHARPEN, amount=2).compute()
    np.testing.assert_allclose(got, whole, atol=1e-5)
    assert not np.allclose(got, expected, atol=1e-3)  # the sigma parameter is honoured
    again = filters.apply_filter(image, SHARPEN, amount=2, sigma=1.2).compute()
    np.testing.assert_allclose(again, expected, atol=1e-4)


def test_cli_features_with_plugin_filter(example_plugin, ws, capsys):
    code = main(["-q", "features", str(ws.path), "--filter", f"{SHARPEN}:amount=2"])
    assert code == 0
    assert "sharpen_a2.0" in capsys.readouterr().out
    info = Workspace.open(ws.path).layer("sharpen_a2.0")
    assert info.kind == "feature" and info.params["filter"] == SHARPEN
    assert info.params["amount"] == 2.0 and info.params["sigma"] == 1.0
    expected = filters.apply_filter(ws.get("raw"), SHARPEN, amount=2.0).compute()
    np.testing.assert_allclose(ws.get("sharpen_a2.0").compute(), expected, rtol=1e-6)


def test_cli_bad_plugin_parameter_is_one_line_error(example_plugin, ws, capsys):
    code = main(["-q", "features", str(ws.path), "--filter", f"{SHARPEN}:amount=strong"])
    err = capsys.readouterr().err
    assert code == 2 and SHARPEN in err and "amount" in err and "number" in err
    code = main(["-q", "features", str(ws.path), "--filter", f"{SHARPEN}:radius=2"])
    assert code == 2 and "has no parameter 'radius'" in capsys.readouterr().err


def test_cli_plugins_list(example_plugin, capsys):
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert SHARPEN in out and "amount:number=1.0" in out
    assert "voxelwise_example_plugin.broken  BROKEN: ImportError" in out
    assert main(["plugins", "list", "--kind", "classifier", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == [CENTROID]
    assert records[0]["schema"]["properties"]["temperature"]["default"] == 1.0


def test_plugin_classifier_trains_predicts_and_saves(example_plugin, ws, tmp_path):
    truth = np.zeros(ws.shape, np.uint8)
    truth[:, 10:30, 10:30] = 1
    scribbles = np.zeros(ws.shape, np.uint16)
    scribbles[:, 2:6, 2:38] = 1
    scribbles[:, 15:25, 15:25] = 2
    ws.add_layer("scribbles", scribbles, kind="annotation")
    model = learn.train(
        ws,
        annotations="scribbles",
        features=["gaussian:sigma=1.0", f"{SHARPEN}:amount=1"],
        classifier=CENTROID,
        params={"temperature": 0.5},
        save=tmp_path / "model.npz",
    )
    assert model.classifier == CENTROID and model.params["temperature"] == 0.5
    assert model.params["metric"] == "euclidean"
    assert any(e["filter"] == SHARPEN for e in model.recipe)
    loaded = learn.load_model(tmp_path / "model.npz")
    x = np.random.default_rng(0).normal(100, 30, (50, 2)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), rtol=1e-6)
    learn.predict(ws, loaded, name="seg")
    seg = ws.get("seg").compute()
    iou = ((seg == 2) & (truth == 1)).sum() / ((seg == 2) | (truth == 1)).sum()
    assert iou > 0.8
    assert learn.default_params(CENTROID) == {"temperature": 1.0, "metric": "euclidean"}
    with pytest.raises(learn.LearnError, match="temperature of the plugin"):
        learn.train(
            ws,
            annotations="scribbles",
            features=["gaussian_s1.0"],
            classifier=CENTROID,
            params={"temperature": "hot"},
        )
    with pytest.raises(learn.LearnError, match="No classifier plugin named"):
        learn.parse_classifier("voxelwise_example_plugin.nope")


def test_broken_plugins_listed_rest_work(bad_plugins, capsys):
    found = {p.name: p for p in plugins.list_plugins("filter")}
    explode = found["bad_plugins_explode.explode"]
    assert explode.status == "broken" and explode.error == "RuntimeError: boom at import"
    untyped = found["bad_plugins_ok.untyped"]
    assert untyped.status == "broken"
    assert "'bad_plugins_ok.untyped': parameter 'table' has the type dict" in untyped.error
    assert found[SHARPEN].ok
    with pytest.raises(filters.UnknownFilterError, match="installed but broken: RuntimeError"):
        filters.get_filter("bad_plugins_explode.explode")
    with pytest.raises(filters.UnknownFilterError, match="does not declare its halo"):
        filters.get_filter("bad_plugins_ok.nohalo")
    assert filters.get_filter(SHARPEN).name == SHARPEN  # the others still work
    listed = filters.list_filters(plugins=True)
    assert SHARPEN in listed and "gaussian" in listed and "bad_plugins_ok.untyped" not in listed
    assert main(["plugins", "list", "--kind", "filter"]) == 0
    out = capsys.readouterr().out
    assert "bad_plugins_explode.explode  BROKEN: RuntimeError: boom at import" in out
