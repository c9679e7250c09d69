"""deploy/k8s: every overlay renders offline with ``kubectl kustomize`` and every rendered object
validates (strict) against the Kubernetes schemas (``kubernetes-validate``, offline). Skipped
only where no kubectl with kustomize v4+ is installed (CI installs one: .ci/run)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from rag.config import env_reference

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if path.is_dir())
KUBERNETES_VERSION = "1.33.0"


def _kubectl() -> str | None:
    beside_python = Path(sys.executable).parent / "kubectl"  # the pinned wheel .ci/run installs
    kubectl = shutil.which("kubectl") or (str(beside_python) if beside_python.exists() else None)
    if kubectl is None:
        return None
    out = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True)
    match = re.search(r"Kustomize Version: v(\d+)", out.stdout)
    return kubectl if match and int(match.group(1)) >= 4 else None


@cache
def render(overlay: str) -> tuple[dict, ...]:
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("no kubectl with kustomize v4+ installed (.ci/run installs one)")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def by_kind(docs: tuple[dict, ...], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_there_are_single_scaled_and_external_qdrant_overlays() -> None:
    assert {"single", "scaled", "external-qdrant"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    docs = render(overlay)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_is_probed_on_health_and_ready_and_reads_keys_from_a_secret(overlay: str) -> None:
    api = by_kind(render(overlay), "Deployment")["mmrag-api"]
    pod = api["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"mmrag-keys"}
    config = by_kind(render(overlay), "ConfigMap")
    (env,) = (cm["data"] for name, cm in config.items() if name.startswith("mmrag-config"))
    mounts = {m["mountPath"] for m in container["volumeMounts"] if m["name"] == "keys"}
    assert Path(env["MMRAG_API_KEYS_FILE"]).parent.as_posix() in mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_and_workers_share_one_volume_and_use_redis(overlay: str) -> None:
    docs = render(overlay)
    deployments = by_kind(docs, "Deployment")
    claims = set()
    for name in ("mmrag-api", "mmrag-ingest-worker"):
        pod = deployments[name]["spec"]["template"]["spec"]
        claims |= {
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        shared = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/shared"]
        assert shared, f"{name} does not mount /shared"
    assert claims == {"mmrag-shared"}
    assert "mmrag-shared" in by_kind(docs, "PersistentVolumeClaim")
    (env,) = (cm["data"] for cm in by_kind(docs, "ConfigMap").values())
    assert env["MMRAG_SHARED_DIR"] == "/shared"
    assert env["MMRAG_QUEUE__URL"].startswith("redis://redis:")
    assert env["MMRAG_API__EMBEDDED_WORKER"] == "false"
    assert "redis" in by_kind(docs, "Service")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_mmrag_variable_is_a_setting(overlay: str) -> None:
    known = {name for name, _, _ in env_reference()}
    docs = render(overlay)
    names = set()
    for cm in by_kind(docs, "ConfigMap").values():
        names |= set(cm["data"])
    for kind in ("Deployment", "StatefulSet"):
        for obj in by_kind(docs, kind).values():
            for container in obj["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in container.get("env", [])}
    assert {n for n in names if n.startswith("MMRAG_")} <= known


def test_qdrant_is_a_statefulset_or_an_external_url() -> None:
    scaled = render("scaled")
    assert by_kind(scaled, "StatefulSet")["qdrant"]["spec"]["replicas"] == 3
    assert by_kind(render("single"), "StatefulSet")["qdrant"]["spec"]["replicas"] == 1
    external = render("external-qdrant")
    assert "qdrant" not in by_kind(external, "StatefulSet")
    assert "qdrant" not in by_kind(external, "Service")
    (env,) = (cm["data"] for cm in by_kind(external, "ConfigMap").values())
    assert env["MMRAG_STORE__URL"].startswith("https://")


def test_scaled_runs_more_api_replicas_and_workers_than_single() -> None:
    single, scaled = (
        by_kind(render("single"), "Deployment"),
        by_kind(render("scaled"), "Deployment"),
    )
    for name in ("mmrag-api", "mmrag-ingest-worker"):
        assert scaled[name]["spec"]["replicas"] > single[name]["spec"]["replicas"] == 1
    assert "mmrag-api" in by_kind(render("scaled"), "PodDisruptionBudget")
