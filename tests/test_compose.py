"""docker-compose.yml, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rag.config import env_reference

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_volumes_and_health_checks(compose: dict) -> None:
    services = compose["services"]
    assert {"qdrant", "ollama", "api", "ingest-worker"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service.get("volumes"), f"{name} keeps no data"
    assert set(compose["volumes"]) >= {"qdrant-data", "ollama-models", "mmrag-data"}


def test_app_services_wait_for_healthy_dependencies(compose: dict) -> None:
    for name in ("api", "ingest-worker"):
        depends = compose["services"][name]["depends_on"]
        assert depends["qdrant"]["condition"] == "service_healthy"


def test_environment_uses_real_setting_names(compose: dict) -> None:
    known = {name for name, _, _ in env_reference()}
    for name, service in compose["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("MMRAG_"):
                assert key in known, f"{name}: {key} is not a setting"


def test_app_commands_run_outside_docker(compose: dict) -> None:
    """The commands the containers run are mmrag's own entry points."""
    assert compose["services"]["api"]["command"][:2] == ["mmrag", "serve"]
    assert compose["services"]["ingest-worker"]["command"] == ["python", "-m", "ingest"]


def test_docker_compose_config_validates() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install docker-compose (see .ci/run)")
        pytest.skip("docker-compose is not installed (CI installs it)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
