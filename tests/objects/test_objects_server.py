"""Objects and points over HTTP: a real ``voxelwise serve`` (subprocess, embedded cluster) driven
through the Python client: find, label, train, predict, tables; import, edit, export,
rasterise, refine and cluster points; bad input answers 4xx with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from voxelwise.client import Client, ServerError
from voxelwise.data import synthetic_em
from voxelwise.server import ServerProcess

pytestmark = pytest.mark.slow

SHAPE = (16, 64, 64)
NAMES = {1: "background", 3: "mito"}


@pytest.fixture(scope="module")
def volume():
    return synthetic_em(SHAPE, rng=1)


@pytest.fixture(scope="module")
def client(tmp_path_factory, volume):
    root = tmp_path_factory.mktemp("objects-root")
    tifffile.imwrite(root / "em.tif", volume.image)
    tifffile.imwrite(root / "truth.tif", (volume.labels + 1).astype(np.uint8))
    (root / "centres.csv").write_text("z,y,x,class\n8,20,20,1\n8,40,40,2\n99,1,1,1\n")
    with ServerProcess(root, workers=1) as proc:
        assert proc.token, proc.log
        with Client(proc.url, proc.token, timeout=120) as c:
            c.create_workspace("cells", "em.tif", chunks=[8, 32, 32]).wait(timeout=120)
            c.import_labels("cells", "truth.tif", "truth").wait(timeout=120)
            yield c


@pytest.fixture(scope="module")
def objects(client, volume):
    """Objects of background (1) and mitochondria (3) of the truth, and each one's class."""
    result = client.find_objects("cells", "truth", value=[1, 3]).wait(timeout=120)
    assert result["layer"] == "truth_objects"
    ids = np.asarray(client.get("cells", "truth_objects"))
    truth = volume.labels + 1
    classes = {}
    for i in np.unique(ids[ids > 0]):
        values, counts = np.unique(truth[ids == i], return_counts=True)
        classes[int(i)] = NAMES[int(values[np.argmax(counts)])]
    assert set(classes.values()) == set(NAMES.values())
    return classes


def test_labelling_queue_and_labels(client, objects):
    table = client.object_table("cells", "truth_objects")
    assert table["rows"] == len(objects)
    assert sorted(table["columns"]["id"]) == sorted(objects)
    first = client.next_objects("cells", "truth_objects", n=3, seed=4, preview=True)
    ids = [o["id"] for o in first["objects"]]
    assert len(ids) == 3 and set(ids) <= set(objects)
    assert first["preview"][:8] == b"\x89PNG\r\n\x1a\n"
    # the same seed gives the same order; labelled and skipped objects leave the queue
    again = client.next_objects("cells", "truth_objects", n=3, seed=4)
    assert [o["id"] for o in again["objects"]] == ids
    client.label_objects("cells", "truth_objects", {ids[0]: objects[ids[0]]}, skip=[ids[1]])
    after = client.next_objects("cells", "truth_objects", n=1, seed=4)
    assert after["objects"][0]["id"] == ids[2]
    chosen = client.next_objects("cells", "truth_objects", ids=[ids[2], ids[0]])
    # the user's ids in their order, labelled ones left out
    assert [o["id"] for o in chosen["objects"]] == [ids[2]]
    state = client.object_labels("cells", "truth_objects")
    assert state["labels"] == {ids[0]: objects[ids[0]]}
    assert state["skipped"] == [ids[1]]
    client.label_objects("cells", "truth_objects", unlabel=[ids[0], ids[1]])
    assert client.object_labels("cells", "truth_objects")["labels"] == {}


def test_bad_object_requests_are_refused(client, objects):
    with pytest.raises(ServerError, match="No labelled objects") as e:
        client.train_objects("cells", "truth_objects", method="forest")
    assert e.value.status == 422
    with pytest.raises(ServerError, match="No object with id 9999") as e:
        client.label_objects("cells", "truth_objects", {9999: "mito"})
    assert e.value.status == 422
    with pytest.raises(ServerError, match=r"body\.set\.\d+: String should match pattern") as e:
        client.label_objects("cells", "truth_objects", {min(objects): "no spaces"})
    assert e.value.status == 422
    with pytest.raises(ServerError, match="instance layer") as e:
        client.next_objects("cells", "raw")
    assert e.value.status == 422
    with pytest.raises(ServerError, match="No object model named 'nothing'") as e:
        client.predict_objects("cells", "truth_objects", model="nothing")
    assert e.value.status == 404
    with pytest.raises(ServerError) as e:
        client.object_table("cells", "missing_layer")
    assert e.value.status == 404


def test_train_and_predict_objects(client, objects):
    ids = sorted(objects)
    by_class: dict[str, list[int]] = {}
    for i in ids:
        by_class.setdefault(objects[i], []).append(i)
    chosen = {i: c for c, members in by_class.items() for i in members[:3]}
    client.label_objects("cells", "truth_objects", chosen)
    result = client.train_objects("cells", "truth_objects", model="forest", method="forest")
    result = result.wait(timeout=120)
    assert result["method"] == "forest" and result["class_names"] == ["background", "mito"]
    cnn = client.train_objects("cells", "truth_objects", model="cnn", epochs=2).wait(timeout=300)
    assert cnn["method"] == "cnn" and cnn["plan"]["ndim"] == 2
    assert client.object_models("cells") == {"cnn": "cnn", "forest": "forest"}
    with pytest.raises(ServerError, match="exists already") as e:
        client.train_objects("cells", "truth_objects", model="forest", method="forest")
    assert e.value.status == 409

    out = client.predict_objects("cells", "truth_objects", model="forest").wait(timeout=120)
    assert out["layer"] == "truth_objects_classes" and out["objects"] == len(objects)
    table = client.object_predictions("cells", "truth_objects")
    cols = table["columns"]
    assert table["rows"] == len(objects)
    assert {"id", "class", "class_name", "confidence", "prob_mito", "labelled"} <= set(cols)
    predicted = dict(zip(cols["id"], cols["class_name"]))
    correct = np.mean([predicted[i] == objects[i] for i in ids])
    assert correct >= 0.75, predicted
    assert all(0.5 <= c <= 1.0 for c in cols["confidence"])
    layer = np.asarray(client.get("cells", "truth_objects_classes"))
    instances = np.asarray(client.get("cells", "truth_objects"))
    first = ids[0]
    assert set(np.unique(layer[instances == first]).tolist()) == {
        cols["class"][cols["id"].index(first)]
    }
    assert (layer[instances == 0] == 0).all()

    cnn_out = client.predict_objects(
        "cells", "truth_objects", model="cnn", name="cnn_classes"
    ).wait(timeout=300)
    assert cnn_out["objects"] == len(objects)
    assert client.object_predictions("cells", "truth_objects", name="cnn_classes")["rows"] == len(
        objects
    )
    with pytest.raises(ServerError, match="exists already") as e:
        client.predict_objects("cells", "truth_objects", model="forest")
    assert e.value.status == 409

    # patches at points described by the CNN's embedding
    client.add_points("cells", "probe", [{"z": 8, "y": 8 * k, "x": 30} for k in range(1, 7)])
    job = client.cluster_points("cells", "probe", model="cnn", min_cluster_size=2, embedding="pca")
    job.wait(timeout=120)
    assert client.point_clusters("cells", "probe")["rows"] == 6
    with pytest.raises(ServerError, match="need a CNN") as e:
        client.cluster_points("cells", "probe", model="forest", min_cluster_size=2)
    assert e.value.status == 422


def test_points_import_edit_export(client):
    with pytest.raises(ServerError, match=r"expected z, y, x, class \(required\)") as e:
        client.import_points("cells", csv="z,y,x\n1,2,3\n", name="bad")
    assert e.value.status == 422
    assert "the CSV text" in str(e.value) and "/tmp" not in str(e.value)
    answer = client.import_points("cells", "centres.csv")
    assert answer["name"] == "centres" and answer["points"] == 2
    assert [s["line"] for s in answer["skipped"]] == [4]
    assert "outside the volume" in answer["message"]
    with pytest.raises(ServerError) as e:
        client.import_points("cells", "../outside.csv")
    assert e.value.status == 400

    text = "z,y,x,class,size\n4,10,12,1,6\n4,50,50,2,8\n"
    assert client.import_points("cells", csv=text, name="spots")["points"] == 2
    sets = client.point_sets("cells")
    assert sets["centres"] == 2 and sets["spots"] == 2
    added = client.add_points(
        "cells", "spots", [{"z": 12, "y": 30, "x": 30, "class": 2, "size": 5}]
    )
    assert added["ids"] == [3] and added["points"] == 3
    client.update_points("cells", "spots", {1: {"class": 3, "x": 14.5}})
    with pytest.raises(ServerError, match="outside the volume") as e:
        client.update_points("cells", "spots", {2: {"z": 500}})
    assert e.value.status == 422
    with pytest.raises(ServerError, match="No point with id 77") as e:
        client.remove_point("cells", "spots", 77)
    assert e.value.status == 422
    client.remove_point("cells", "spots", 2)
    points = client.points("cells", "spots")
    assert [p["id"] for p in points] == [1, 3]
    assert points[0] == {"id": 1, "z": 4.0, "y": 10.0, "x": 14.5, "class": 3, "size": 6.0}
    csv = client.export_points("cells", "spots")
    assert csv.splitlines()[0] == "id,z,y,x,class,size" and len(csv.splitlines()) == 3
    assert client.import_points("cells", csv=csv, name="copy")["points"] == 2
    assert client.points("cells", "copy") == points
    client.delete_points("cells", "copy")
    with pytest.raises(ServerError, match="No point set named 'copy'") as e:
        client.points("cells", "copy")
    assert e.value.status == 404


def test_points_rasterize_refine_and_cluster(client, volume):
    rng = np.random.default_rng(0)
    # two kinds of places: inside mitochondria (class 2) and in the background (class 1)
    mito = np.argwhere(volume.labels == 2)
    back = np.argwhere(volume.labels == 0)
    picks = [(mito[i], 2) for i in rng.choice(len(mito), 12, replace=False)]
    picks += [(back[i], 1) for i in rng.choice(len(back), 12, replace=False)]
    records = [{"z": int(p[0]), "y": int(p[1]), "x": int(p[2]), "class": c} for p, c in picks]
    client.add_points("cells", "mixed", records)

    with pytest.raises(ServerError, match="have no size") as e:
        client.rasterize_points("cells", "mixed")
    assert e.value.status == 422
    out = client.rasterize_points("cells", "mixed", size=6.0).wait(timeout=120)
    assert out["layer"] == "mixed_objects"
    layer = np.asarray(client.get("cells", "mixed_objects"))
    for p, c in picks[:3]:
        assert layer[tuple(p)] == c
    refined = client.rasterize_points(
        "cells", "mixed", size=6.0, refine="chan_vese", name="mixed_refined", iterations=5
    ).wait(timeout=120)
    assert refined["layer"] == "mixed_refined"
    assert np.asarray(client.get("cells", "mixed_refined")).any()

    result = client.cluster_points(
        "cells", "mixed", size=[1, 16, 16], min_cluster_size=3, embedding="pca"
    ).wait(timeout=120)
    assert result["points"] == "mixed"
    clusters = client.point_clusters("cells", "mixed")
    assert clusters["rows"] == len(picks)
    assert clusters["png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert set(clusters["columns"]) >= {"id", "cluster", "embed_x", "embed_y"}
    assert "mixed" in client.point_sets("cells")  # the clusters table is no point set
    with pytest.raises(ServerError, match="min_cluster_size") as e:
        client.cluster_points("cells", "spots", min_cluster_size=50)
    assert e.value.status == 422
