"""Property-based requests from the app's own OpenAPI schema (schemathesis): no request makes the server fail.

Bounded: at most :data:`EXAMPLES` examples per operation, each with a deadline; calls are authenticated as a
staff admin (who may call every staff endpoint and is refused, with a 4xx, where only borrowers may act).
Runs on SQLite with a book already holding an application, a line and a loan (ids 1), so ids the
generator tries reach real objects as well as missing ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.api.conftest import application_body

EXAMPLES = 25


@pytest.fixture
def api_schema(smelend_env: Path, applicants: dict[str, list[dict[str, Any]]]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from smelend.api.app import create_app
    from smelend.risk.providers.simulated import SimulatedProvider
    from smelend.store import add_person, open_store
    from smelend.store.access import create_user

    engine = open_store(f"sqlite:///{smelend_env.parent / 'schemathesis.db'}")
    app = create_app(engine, provider=SimulatedProvider(seed=0))
    entry = applicants["approve"][0]
    with engine.begin() as conn:
        person = add_person(conn, entry["applicant"]["name"], entry["applicant"]["id_number"], entry["applicant"]["mobile"])
        borrower = create_user(conn, "borrower", "borrower", person)[1]
        app.state.admin_token = create_user(conn, "admin", "admin")[1]
    with TestClient(app) as client:
        auth = {"authorization": f"Bearer {borrower}"}
        applied = client.post("/v1/applications", json=application_body(entry), headers=auth).json()
        line = client.post(f"/v1/offers/{applied['offer']['id']}/accept", headers=auth).json()
        client.post(f"/v1/lines/{line['id']}/draws", json={"amount": "1000.00", "method": "revolving", "term": 3}, headers=auth)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    engine.dispose()


def test_no_server_errors(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    token = api_schema.app.state.admin_token
    failures: list[Any] = []
    statuses: dict[int, int] = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=2000, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
            def run(case: Any) -> None:
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append((case.method, case.formatted_path, case.query, case.body, response.status_code, response.text[:300]))

            try:
                run()
            except Unsatisfiable:  # nothing to break (an operation without parameters), in negative mode
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, failures[:5]
    assert sum(statuses.values()) >= 10 * len(operations) and 200 in statuses and 422 in statuses, statuses
