"""Each escalation sweep run publishes the compliance report as a Markdown artifact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.settings import get_settings
from tests.prefect_server import prefect_server  # noqa: F401 - session fixture
from tests.services.report.conftest import NOW, Built
from tests.strong_secret import STRONG_SECRET

pytestmark = pytest.mark.e2e


@pytest.fixture
def flow_env(built: Built, monkeypatch: pytest.MonkeyPatch) -> Iterator[Built]:
    monkeypatch.setenv("ILP_DATABASE_URL", built.url)
    monkeypatch.setenv("ILP_SECRET_KEY", STRONG_SECRET)
    get_settings.cache_clear()
    yield built
    get_settings.cache_clear()


def test_sweep_publishes_the_compliance_artifact(flow_env: Built, prefect_server) -> None:  # noqa: F811
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.escalation import escalation_sweep
    from tasks.notify import COMPLIANCE_ARTIFACT_KEY

    state = escalation_sweep(now=NOW, return_state=True)
    assert state.is_completed(), state
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[COMPLIANCE_ARTIFACT_KEY]))
        )
    assert artifacts and artifacts[0].type == "markdown"
    text = str(artifacts[0].data)
    assert "### ILP compliance as of 2026-10-01" in text
    assert "| **all** | 2 | 2 | 3 | 1 | 3 | 11 | 25% |" in text
