"""examples/kubernetes: valid for the Kubernetes API, and consistent with the image and settings."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from fastflyer.settings import FlyerSettings

from tests.support import REPO

MANIFEST = REPO / "examples" / "kubernetes" / "fastflyer.yaml"
# The oldest Kubernetes release still commonly run, and the newest the validator knows.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc}


@pytest.fixture(scope="module")
def pod(docs) -> dict:
    return docs["Deployment"]["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod) -> dict:
    return pod["containers"][0]


def env_of(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_against_the_api_schema(docs, version):
    assert set(docs) == {"Deployment", "Service"}
    for doc in docs.values():
        kubernetes_validate.validate(doc, version, strict=True)


def test_probes_use_liveness_and_readiness_endpoints(container):
    assert container["livenessProbe"]["httpGet"]["path"] == "/health_check"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health_check/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health_check"
    port = container["ports"][0]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])
    assert int(env_of(container)["flyer_port"]) == port["containerPort"]


def test_grace_period_covers_drain_delay_and_graceful_timeout(pod, container):
    env = env_of(container)
    settings = FlyerSettings(graceful_timeout=env["flyer_graceful_timeout"],
                             drain_delay=env["flyer_drain_delay"])
    needed = settings.drain_delay_seconds + settings.graceful_timeout_seconds
    assert pod["terminationGracePeriodSeconds"] > needed
    assert "lifecycle" not in container  # no preStop sleep: the drain delay is the server's


def test_memory_limit_holds_the_workers_it_allows(container):
    limit = container["resources"]["limits"]
    memory = int(limit["memory"].removesuffix("Mi"))
    assert memory // FlyerSettings().worker_memory == int(limit["cpu"])


def test_runs_as_the_image_user_on_a_read_only_root(pod, container):
    uid = re.search(r"^USER (\d+)", (REPO / "image" / "Dockerfile").read_text(), re.M).group(1)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(uid)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_resources_are_bounded(container):
    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind])


def test_service_selects_the_pods(docs, container):
    deployment, service = docs["Deployment"], docs["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
