"""docker-compose.yml, checked statically (no Docker engine runs here): both shapes (the default
services, and ``--profile cluster``) validate with ``docker-compose config`` wherever
docker-compose is installed (CI installs it)."""

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
    assert {"qdrant", "ollama", "redis", "api", "ingest-worker"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service.get("volumes"), f"{name} keeps no data"
    assert set(compose["volumes"]) >= {"qdrant-data", "ollama-models", "mmrag-data"}


def test_app_services_wait_for_healthy_dependencies(compose: dict) -> None:
    for name in ("api", "api-2", "ingest-worker"):
        depends = compose["services"][name]["depends_on"]
        assert depends["qdrant"]["condition"] == depends["redis"]["condition"] == "service_healthy"


def test_only_the_api_is_published_and_qdrant_needs_a_key(compose: dict) -> None:
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"api", "api-2"}
    for name in ("qdrant", "qdrant-2", "qdrant-3"):
        assert services[name]["environment"]["QDRANT__SERVICE__API_KEY"]
    assert services["api"]["environment"]["MMRAG_STORE__API_KEY"]


def test_the_cluster_profile_has_three_qdrant_nodes_and_a_second_replica(compose: dict) -> None:
    services = compose["services"]
    nodes = ["qdrant", "qdrant-2", "qdrant-3"]
    for name in nodes:
        assert services[name]["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
    for name in nodes[1:]:
        assert services[name]["profiles"] == ["cluster"]
        assert "--bootstrap" in services[name]["command"]
    assert services["api-2"]["profiles"] == ["cluster"]
    for name in ("api", "api-2", "ingest-worker"):
        env = services[name]["environment"]
        assert env["MMRAG_QUEUE__URL"].startswith("redis://") and env["MMRAG_SHARED_DIR"]
        assert "mmrag-shared:/shared" in services[name]["volumes"]


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


@pytest.mark.parametrize("profile", [[], ["--profile", "cluster"]], ids=["default", "cluster"])
def test_docker_compose_config_validates(profile: list[str]) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install docker-compose (see .ci/run)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), *profile, "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {"qdrant", "api"} <= set(yaml.safe_load(result.stdout)["services"])
