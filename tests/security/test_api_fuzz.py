"""The JSON API fuzzed from its own OpenAPI document (schemathesis): no 5xx, no off-schema reply.

Each operation gets a fixed, derandomised set of generated cases, signed in as therapist A with
the CSRF header, so the requests reach the handlers rather than stopping at the sign-in check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import Engine

from alliance.config import load_settings
from alliance.store.engine import make_engine
from alliance.web import create_app
from alliance.web.csrf import CSRF_COOKIE, CSRF_HEADER
from tests.security.conftest import SECRET
from tests.web.clinic import build_clinic
from tests.web.conftest import send_csrf_token, sign_in


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    engine: Engine = make_engine(url)
    build_clinic(engine)
    app = create_app(load_settings(database_url=url, secret_key=SECRET), engine=engine)
    with TestClient(app) as client:
        send_csrf_token(client)
        sign_in(client, "tess")
        cookies = dict(client.cookies.items())
        yield {
            "app": app,
            "cookies": cookies,
            "headers": {CSRF_HEADER: cookies[CSRF_COOKIE]},
        }
    engine.dispose()


MAX_EXAMPLES = 25


def test_it_survives_generated_requests(fuzz_target: dict[str, Any]) -> None:
    api = schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_target["app"])
    results = list(api.get_all_operations())
    # A schema the loader cannot read is itself a failure, not something to skip.
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 8  # every /api operation, the health check included
    failures: dict[str, str] = {}
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call_and_validate(
                headers=fuzz_target["headers"],
                cookies=fuzz_target["cookies"],
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )
            statuses.append(response.status_code)

        try:
            run()
        except Exception as failure:
            failures[operation.label] = str(failure)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    # The session and token held: requests reached the handlers, and some were accepted.
    assert len(statuses) >= 8 * 10
    assert 401 not in statuses
    assert any(200 <= status < 300 for status in statuses)
