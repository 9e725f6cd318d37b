"""schemathesis against ``llmsize serve``'s ``/openapi.json``: generated bodies, queries and paths
(valid and invalid) never make a 5xx. Bounded: a few examples per operation, no deadline."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the test extra) is not installed")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from llmsize.web.app import create_app  # noqa: E402

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(hosts=("testserver",)))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
