"""schemathesis over the OpenAPI spec: every operation, generated valid and invalid requests
with a valid key; no 5xx, every status documented, every body matching its schema."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from serve_support import new_key, serve_config

from aiprod.serve.app import create_app, service_from
from aiprod.serve.db import make_engine


@pytest.fixture(scope="module")
def served(database_url, tiny_model, tmp_path_factory):
    engine = make_engine(database_url)
    serve = serve_config(tiny_model, tmp_path_factory.mktemp("schema") / "media")
    app = create_app(service_from(serve, engine))
    yield app, new_key(database_url)
    engine.dispose()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_spec(served, mode):
    """Each operation, up to 25 generated requests (schemathesis's pytest loader does not run
    under this pytest, so its strategies drive hypothesis directly)."""
    app, token = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    tried = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case.call_and_validate(
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
            )

        try:
            conforms()
            tried.append(operation.label)
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            assert mode == GenerationMode.NEGATIVE, operation.label
    assert len(tried) >= (9 if mode == GenerationMode.POSITIVE else 6), tried


def test_the_spec_documents_every_endpoint_the_issue_names(served):
    app, _ = served
    paths = TestClient(app).get("/openapi.json").json()["paths"]
    assert {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/video",
        "/v1/uploads",
        "/healthz",
        "/readyz",
    } <= set(paths)
    body = paths["/v1/jobs"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in body["parameters"])
