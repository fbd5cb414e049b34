"""Property-based fuzzing of every operation of the OpenAPI document (schemathesis): no answer
is a 5xx, and every answer matches the documented status codes, content types, headers and
schemas."""

from __future__ import annotations

import pytest
import tifffile

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from voxelwise.data import synthetic_em  # noqa: E402
from voxelwise.server import add_user, create_app, open_db, set_role  # noqa: E402
from voxelwise.workspace import Workspace  # noqa: E402

pytestmark = pytest.mark.slow

FUZZ_HEADERS: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-root")
    tifffile.imwrite(root / "em.tif", synthetic_em((16, 64, 64), rng=0).image)
    db = open_db(root)
    FUZZ_HEADERS["Authorization"] = f"Bearer {add_user(db, 'admin', admin=True)}"
    ws = Workspace.create(root / "workspaces" / "cells.vw", root / "em.tif", chunks=(8, 32, 32))
    ws.add_label("tissue", "membrane")
    set_role(db, "cells", "admin", "owner")
    from voxelwise.annotate import create_layer

    create_layer(ws, "scribbles", label_set="tissue")
    # no cluster: job submissions answer 409 (documented), so fuzzing starts no heavy work
    app = create_app(root, start_cluster=False)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def test_api_conforms_to_its_openapi_document(fuzz_schema):
    """Every operation, positive and negative data: no 5xx, answers as documented."""
    failures = []
    operations = [r.ok() for r in fuzz_schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            case.call_and_validate(headers=FUZZ_HEADERS, checks=CHECKS)

        try:
            run()
        except Exception as e:  # collect all operations' failures before failing
            failures.append(f"{operation.label}: {e}")
    assert not failures, "\n\n".join(failures)


def test_openapi_document_is_complete(fuzz_schema):
    from fastapi.testclient import TestClient

    doc = TestClient(fuzz_schema.app).get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("summary"), (method, path)
            codes = set(op["responses"])
            assert {"401", "404", "422"} <= codes, (method, path, codes)
            ok = [c for c in codes if c.startswith("2")]
            assert ok, (method, path)
            for c in ok:
                if c != "204":
                    assert op["responses"][c].get("content"), (method, path, c)
