"""The deployment as shipped: deploy/k8s rendered like `kubectl kustomize` and checked against the
Kubernetes API schemas, the manifests checked against each other (labels, selectors, ports,
probes, the image, the database connections they add up to) and against the service itself;
the Dockerfile checked against the project; and, when .ci/run has built it
(DEPLOY_TEST_IMAGE), the container image run the way the Deployment runs it."""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
import shutil
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
K8S_MONITORING = ROOT / "deploy" / "k8s-monitoring"
# The Kubernetes releases the manifests must be valid for: the oldest one supported here and
# the newest whose schemas kubernetes-validate (pinned in pyproject.toml) ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")
# Kinds of CustomResourceDefinitions, which have no schema in kubernetes-validate: checked by
# hand below (test_the_service_monitor_scrapes_the_service).
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# PostgreSQL's default max_connections, less its superuser_reserved_connections (3) and room
# for the operators' own clients (psql, backups, monitoring: 10).
POSTGRES_CONNECTION_BUDGET = 100 - 3 - 10
# The image: the base (python:3.11-slim or the local Debian one, about 110-125 MB) and the
# virtual environment (about 130 MB). It once was 459 MB, wheels and all.
IMAGE_SIZE_LIMIT_MB = 300
IMAGE_UID = 10001


# --- rendering ---------------------------------------------------------------------------


def _image_name(image: str) -> str:
    """registry/name:tag@sha256:… → registry/name."""
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return image[: len(image) - len(last)] + last.split(":", 1)[0]


def pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    kind = document.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return document["spec"]["template"]["spec"]
    if kind == "CronJob":
        return document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind == "Pod":
        return document["spec"]
    return None


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(document)
    return [] if spec is None else [*spec.get("initContainers", []), *spec.get("containers", [])]


def render(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize directory` for what these kustomizations use (resources, labels
    without selectors, images); anything else is refused rather than rendered wrongly."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - {
        "apiVersion",
        "kind",
        "resources",
        "labels",
        "images",
    }
    assert not unknown, f"{directory}: kustomization fields test_deploy.render does not implement: {unknown}"
    assert kustomization.get("kind") == "Kustomization"
    documents: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            documents.extend(render(path))
        else:
            # kustomize's load restriction: a file must lie under the kustomization's folder.
            assert path.is_relative_to(directory.resolve()), f"{entry} is outside {directory}"
            documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for label in kustomization.get("labels", []):
        assert set(label) <= {"pairs", "includeSelectors", "includeTemplates"}, label
        assert not label.get("includeSelectors") and not label.get("includeTemplates"), (
            "labels into selectors or templates: not implemented by test_deploy.render"
        )
        for document in documents:
            document.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    for image in kustomization.get("images", []):
        for document in documents:
            for container in containers(document):
                current = container["image"]
                if _image_name(current) != image["name"]:
                    continue
                new = image.get("newName", image["name"])
                if "digest" in image:
                    new += "@" + image["digest"]
                elif "newTag" in image:
                    new += ":" + str(image["newTag"])
                elif current != _image_name(current):
                    new += current[len(_image_name(current)) :]
                container["image"] = new
    return documents


def by_kind(documents: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        kinds.setdefault(document["kind"], []).append(document)
    return kinds


def one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(documents).get(kind, [])
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) matches these labels."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False  # an empty selector selects everything: never what a manifest here means
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values", []),
        )
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render(K8S)


@pytest.fixture(scope="module")
def rendered_with_monitoring() -> list[dict[str, Any]]:
    return render(K8S_MONITORING)


@pytest.fixture(scope="module")
def secret_example() -> dict[str, Any]:
    return yaml.safe_load((K8S / "secret.example.yaml").read_text())


def pod_labels(documents: list[dict[str, Any]]) -> dict[str, str]:
    return one(documents, "Deployment")["spec"]["template"]["metadata"]["labels"]


def server(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's container that runs `lenadex serve`."""
    serving = [
        c
        for c in one(documents, "Deployment")["spec"]["template"]["spec"]["containers"]
        if c.get("command") == ["lenadex"] and c.get("args", [])[:1] == ["serve"]
    ]
    assert len(serving) == 1, "one container of the Deployment runs `lenadex serve`"
    return serving[0]


def container_port(container: dict[str, Any], port: str | int) -> int:
    """A Service's targetPort or a NetworkPolicy's port (a name or a number) in the container."""
    for declared in container.get("ports", []):
        if port in (declared.get("name"), declared["containerPort"]):
            return int(declared["containerPort"])
    raise AssertionError(f"port {port!r} is not a port of container {container['name']}")


def settings_environment(documents: list[dict[str, Any]], secret: dict[str, Any]) -> dict[str, str]:
    """The LENADEX_ variables of the serving container: the ConfigMap, the Secret, its env."""
    container = server(documents)
    environment: dict[str, str] = {}
    configmaps = {d["metadata"]["name"]: d for d in by_kind(documents).get("ConfigMap", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(configmaps[source["configMapRef"]["name"]]["data"])
        if "secretRef" in source:
            assert source["secretRef"]["name"] == secret["metadata"]["name"]
            environment.update(secret["stringData"])
    environment.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return environment


# --- rendering and schemas ---------------------------------------------------------------


def _kind_and_name(document: dict[str, Any]) -> tuple[str, str]:
    return document["kind"], document["metadata"]["name"]


def test_the_renderer_agrees_with_kustomize():
    """test_deploy.render is what the cluster gets, where kubectl (or kustomize) is at hand."""
    tools = [
        [tool, "kustomize"] if tool == "kubectl" else [tool, "build"]
        for tool in ("kubectl", "kustomize")
        if shutil.which(tool)
    ]
    if not tools:
        pytest.skip("neither kubectl nor kustomize is installed: the render is this file's alone")
    for directory in (K8S, K8S_MONITORING):
        done = subprocess.run(
            [*tools[0], str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        theirs = [d for d in yaml.safe_load_all(done.stdout) if d]
        ours = render(directory)
        assert sorted(theirs, key=_kind_and_name) == sorted(ours, key=_kind_and_name)


def test_every_document_is_valid_for_the_kubernetes_api(rendered_with_monitoring, secret_example):
    import kubernetes_validate

    documents = [*rendered_with_monitoring, secret_example]
    checked = set()
    for document in documents:
        if (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES:
            continue
        for version in KUBERNETES_VERSIONS:
            # strict: a field the API does not know (a typo, a field in the wrong place) fails.
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(part) for part in error.path)
                pytest.fail(
                    f"{document['kind']}/{document['metadata']['name']} on Kubernetes {version}: "
                    f"{where}: {error.message}"
                )
        checked.add(document["kind"])
    assert checked >= {
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
    }


def test_the_monitoring_variant_is_the_base_and_a_service_monitor(rendered, rendered_with_monitoring):
    extra = [d for d in rendered_with_monitoring if d not in rendered]
    assert [(d["apiVersion"], d["kind"]) for d in extra] == [("monitoring.coreos.com/v1", "ServiceMonitor")]
    assert [d for d in rendered_with_monitoring if d in rendered] == rendered


# --- the manifests against each other ----------------------------------------------------


def test_the_selectors_select_the_pods(rendered):
    deployment = one(rendered, "Deployment")
    labels = pod_labels(rendered)
    assert selects(deployment["spec"]["selector"], labels), "Deployment selector"
    assert selects({"matchLabels": one(rendered, "Service")["spec"]["selector"]}, labels), "Service selector"
    assert selects(one(rendered, "PodDisruptionBudget")["spec"]["selector"], labels), "PDB selector"
    assert selects(one(rendered, "NetworkPolicy")["spec"]["podSelector"], labels), "NetworkPolicy podSelector"
    for constraint in deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
        assert selects(constraint["labelSelector"], labels), "topologySpreadConstraints labelSelector"


def test_the_service_reaches_the_server_port(rendered):
    for port in one(rendered, "Service")["spec"]["ports"]:
        container_port(server(rendered), port["targetPort"])


def test_the_autoscaler_alone_sets_the_replicas(rendered):
    deployment = one(rendered, "Deployment")
    hpa = one(rendered, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    # A count in the Deployment would be set back on every apply, under the HPA's feet.
    assert "replicas" not in deployment["spec"]
    # CPU utilisation is measured against the containers' requests: they must have them.
    if any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"]):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container.get("resources", {}).get("requests", {}).get("cpu"), container["name"]
    pdb = one(rendered, "PodDisruptionBudget")
    # Otherwise a node drain at the minimum would be blocked for good.
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_the_network_policy_lets_in_the_ingress_and_out_the_dependencies(rendered):
    policy = one(rendered, "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    for rule in policy["ingress"]:
        for port in rule["ports"]:
            container_port(server(rendered), port["port"])
    namespaces = {
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        for rule in policy["ingress"]
        for peer in rule.get("from", [])
    }
    assert "ingress-nginx" in namespaces, "the ingress controller (ingress.yaml's class nginx) may call"
    assert one(rendered, "Ingress")["spec"]["ingressClassName"] == "nginx"
    egress_ports = {(port.get("protocol", "TCP"), port["port"]) for rule in policy["egress"] for port in rule["ports"]}
    # DNS, PostgreSQL, and https to the EHR's FHIR server and JWKS.
    assert {("UDP", 53), ("TCP", 5432), ("TCP", 443)} <= egress_ports


def test_the_ingress_is_the_public_url_over_tls(rendered, secret_example):
    ingress = one(rendered, "Ingress")["spec"]
    service = one(rendered, "Service")
    public = urlsplit(settings_environment(rendered, secret_example)["LENADEX_PUBLIC_BASE_URL"])
    assert public.scheme == "https"
    tls_hosts = {host for entry in ingress["tls"] for host in entry["hosts"]}
    assert all(entry.get("secretName") for entry in ingress["tls"])
    paths = []
    for rule in ingress["rules"]:
        # The JWT's aud is checked against LENADEX_PUBLIC_BASE_URL: the host the EHR calls.
        assert rule["host"] == public.hostname
        assert rule["host"] in tls_hosts
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"].get("name") in {p["name"] for p in service["spec"]["ports"]} or backend["port"].get(
                "number"
            ) in {p["port"] for p in service["spec"]["ports"]}
            paths.append(path["path"])
    prefix = public.path.rstrip("/")
    assert f"{prefix}/cds-services" in paths
    # Metrics and probes answer without a token: they stay inside the cluster.
    for internal in ("/metrics", "/livez", "/readyz", "/healthz"):
        url = prefix + internal
        assert not [path for path in paths if url == path or url.startswith(path.rstrip("/") + "/")], internal


def test_the_service_monitor_scrapes_the_service(rendered_with_monitoring):
    monitor = one(rendered_with_monitoring, "ServiceMonitor")
    service = one(rendered_with_monitoring, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {
        "selector",
        "endpoints",
        "namespaceSelector",
        "jobLabel",
    }
    assert selects(monitor["spec"]["selector"], service["metadata"].get("labels", {}))
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"]
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["port"] in port_names
        assert endpoint.get("path", "/metrics") == "/metrics"
    # Prometheus must also be let through the NetworkPolicy.
    policy = one(rendered_with_monitoring, "NetworkPolicy")["spec"]
    assert "monitoring" in {
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        for rule in policy["ingress"]
        for peer in rule.get("from", [])
    }


def test_the_pods_are_locked_down(rendered):
    documents = by_kind(rendered)
    spec = one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    accounts = {d["metadata"]["name"]: d for d in documents["ServiceAccount"]}
    assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == dockerfile_user()
    for container in containers(one(rendered, "Deployment")):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"], container["name"]


def test_every_container_runs_the_one_image(rendered):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    images = {container["image"] for document in rendered for container in containers(document)}
    assert len(images) == 1, images
    (image,) = images
    # Set by the kustomization's images: (a name or a digest is set in one place).
    entry = next(e for e in kustomization["images"] if e["name"] == "lenadex")
    assert _image_name(image) == entry["newName"]
    assert image.endswith(f"@{entry['digest']}" if "digest" in entry else f":{entry['newTag']}")
    # The docs say how to pin it by digest.
    kubernetes = operations_section("Kubernetes")
    assert "@sha256:" in kubernetes and "kustomize edit set image" in kubernetes


def test_the_settings_are_settings(rendered, secret_example):
    """Every LENADEX_ variable given to the pods is a setting, with a value it accepts."""
    from service.settings import load_settings, unknown_variables

    environment = settings_environment(rendered, secret_example)
    assert unknown_variables(environment) == []
    load_settings(**{name.removeprefix("LENADEX_").lower(): value for name, value in environment.items()})
    assert environment["LENADEX_MIGRATE_AT_START"] == "false"


def test_the_schema_is_migrated_before_the_server_starts(rendered, secret_example):
    spec = one(rendered, "Deployment")["spec"]["template"]["spec"]
    (migrate,) = [c for c in spec["initContainers"] if c.get("args") == ["migrate"]]
    assert migrate["command"] == ["lenadex"] and migrate["image"] == server(rendered)["image"]
    # The same store as the server's.
    assert migrate["envFrom"] == server(rendered)["envFrom"]
    from service.cli import main

    with pytest.raises(SystemExit) as usage:  # `lenadex migrate` is a command
        main(["migrate", "--help"])
    assert usage.value.code == 0


def test_the_probes_ask_the_right_questions(rendered, secret_example, tmp_path, monkeypatch):
    """Liveness /livez, readiness and startup /readyz; answered without a token under the
    pod's settings (LENADEX_AUTH=jwt), like the ServiceMonitor's /metrics, once the init
    container's `lenadex migrate` has run."""
    from service.app import create_app
    from service.cli import main
    from service.settings import load_settings

    container = server(rendered)
    probes = {name: container[name]["httpGet"] for name in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probes["livenessProbe"]["path"] == "/livez"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["startupProbe"]["path"] == "/readyz"
    for probe in probes.values():
        container_port(container, probe["port"])
    # A slow start (the FHIR models) gets a minute before the kubelet gives up.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60

    environment = settings_environment(rendered, secret_example)
    environment["LENADEX_DATABASE_URL"] = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.auth == "jwt" and settings.migrate_at_start is False
    # Not ready before the init container has migrated the store; alive all the same.
    client = create_app(settings).test_client()
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert main(["migrate"]) == 0
    for path in ("/livez", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200, path
    # and the rest needs the EHR's token
    assert client.get("/cds-services").status_code == 401


def test_shutdown_waits_for_the_endpoints_then_for_the_calls(rendered):
    from service.http_worker import GRACEFUL_TIMEOUT_SECONDS

    spec = one(rendered, "Deployment")["spec"]["template"]["spec"]
    command = server(rendered)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert pause >= 5, "kube-proxy and the ingress controller need a few seconds to drop the pod"
    # The grace period runs from the start of preStop: the pause, then gunicorn's own drain.
    assert spec["terminationGracePeriodSeconds"] >= pause + GRACEFUL_TIMEOUT_SECONDS + 1


def test_the_postgres_connections_fit(rendered, secret_example, monkeypatch):
    """Each worker has its own pool (SQLAlchemy's default: 5, up to 15 with overflow; there is
    no setting for it) and holds one connection per thread at a time, so the most the
    Deployment can hold is pods × workers × threads, plus the init containers migrating."""
    from service import gunicorn_conf
    from service.settings import Settings

    deployment = one(rendered, "Deployment")
    hpa = one(rendered, "HorizontalPodAutoscaler")
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    most = hpa["spec"]["maxReplicas"]
    surge_pods = math.ceil(most * int(surge[:-1]) / 100) if isinstance(surge, str) else int(surge)
    pods = most + surge_pods

    container = server(rendered)
    args = container["args"]
    requested = int(args[args.index("--workers") + 1]) if "--workers" in args else Settings().workers
    cpu = str(container["resources"]["limits"]["cpu"])
    cpus = max(1, int(int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)))
    monkeypatch.setattr(gunicorn_conf, "available_cpus", lambda: cpus)
    workers = gunicorn_conf.worker_count(requested)

    environment = settings_environment(rendered, secret_example)
    threads = int(environment.get("LENADEX_THREADS", Settings().threads))
    pool_ceiling = 5 + 10  # SQLAlchemy QueuePool: pool_size 5, max_overflow 10
    assert threads <= pool_ceiling
    connections = pods * workers * threads + surge_pods
    assert connections <= POSTGRES_CONNECTION_BUDGET, (
        f"{pods} pods × {workers} workers × {threads} threads + {surge_pods} migrating = {connections} "
        f"PostgreSQL connections, over {POSTGRES_CONNECTION_BUDGET}: fewer replicas or threads, or PgBouncer"
    )
    # The docs give the same arithmetic.
    assert f"{pods} × {workers} × {threads}" in operations_section("Kubernetes")


# --- the Dockerfile ----------------------------------------------------------------------


def dockerfile_lines() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def dockerfile_user() -> int:
    users = [line.split()[1] for line in dockerfile_lines() if line.startswith("USER ")]
    return int(users[-1])


def operations_section(title: str) -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    match = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^##)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/operations.md has no section {title!r}"
    return match.group(1)


def project_packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file() and any(fnmatch.fnmatch(path.name, p) for p in patterns)
    )


def test_the_image_holds_every_package_and_nothing_else():
    lines = dockerfile_lines()
    copied = {line.split()[1] for line in lines if line.startswith("COPY ") and "--from" not in line}
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", ".dockerignore lets in only what it names"
    packages = project_packages()
    assert {"service", "rules", "fhir_mappings"} <= set(packages)
    for name in [*packages, "pyproject.toml", "README.md"]:
        assert name in copied or any(name in line.split()[1:-1] for line in lines if line.startswith("COPY ")), name
        assert f"!{name}" in ignore or f"!{name}/" in ignore, f".dockerignore keeps {name} out"


def test_the_dockerfile_builds_from_any_base_and_keeps_no_wheels():
    lines = dockerfile_lines()
    raw = (ROOT / "Dockerfile").read_text()
    # A "# syntax=" line would make the build pull a frontend image from Docker Hub.
    assert not re.search(r"^#\s*syntax=", raw, re.MULTILINE | re.IGNORECASE)
    first_from = next(i for i, line in enumerate(lines) if line.startswith("FROM "))
    assert "ARG BASE_IMAGE=python:3.11-slim" in lines[:first_from]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2 and all(line.split()[1] == "${BASE_IMAGE}" for line in stages)
    final = lines[lines.index(stages[-1]) :]
    assert not any("wheel" in line for line in final), "no wheel reaches the final stage"
    assert not any("pip wheel" in line or "/wheels" in line for line in lines)
    assert dockerfile_user() == IMAGE_UID
    exposed = [int(line.split()[1]) for line in final if line.startswith("EXPOSE ")]
    assert exposed == [container_port(server(render(K8S)), "http")]
    cmd = json.loads(next(line for line in final if line.startswith("CMD "))[4:])
    assert cmd[:2] == ["lenadex", "serve"]


# --- the image, when .ci/run has built it --------------------------------------------------

IMAGE = os.environ.get("DEPLOY_TEST_IMAGE", "")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr.strip()[-2000:]}"
    return done


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def store_volume() -> Iterator[str]:
    name = f"lenadex-test-{uuid.uuid4().hex[:12]}"
    docker("volume", "create", name)
    try:
        yield name
    finally:
        docker("volume", "rm", "-f", name, check=False)


needs_image = pytest.mark.skipif(
    not IMAGE,
    reason="no image under test: .ci/run builds one when a Docker engine runs (DEPLOY_TEST_IMAGE)",
)


@needs_image
def test_the_image_is_small_unprivileged_and_has_no_wheels_or_pip():
    (inspected,) = json.loads(docker("image", "inspect", IMAGE).stdout)
    size_mb = inspected["Size"] / 1e6
    assert size_mb <= IMAGE_SIZE_LIMIT_MB, f"{IMAGE}: {size_mb:.0f} MB"
    assert inspected["Config"]["User"] == str(IMAGE_UID)
    # What the build added (the base's own files, such as the wheels its ensurepip installs
    # from, are the base's): no wheel, no pip cache, no pip in the virtual environment.
    inside = docker(
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "id -u; command -v python; "
        "find /opt /app /root /tmp /src /wheels -xdev \\( -name '*.whl' -o -name .cache \\) -print "
        "2>/dev/null; python -m pip --version >/dev/null 2>&1 && echo pip-present; true",
    ).stdout.split()
    assert inside == [str(IMAGE_UID), "/opt/lenadex/bin/python"], inside


@needs_image
def test_the_image_runs_like_the_deployment(store_volume):
    """`lenadex migrate` first (the init container), then `lenadex serve` with
    LENADEX_MIGRATE_AT_START=false on a read-only root with /tmp in memory; /livez, /readyz, a
    hook call; SIGTERM ends it with 0."""
    volume = ["--read-only", "--tmpfs", "/tmp", "-v", f"{store_volume}:/app/var"]
    no_migrate = ["-e", "LENADEX_MIGRATE_AT_START=false"]
    # Unmigrated, the server refuses to start rather than migrating behind the init container's back.
    refused = docker(
        "run",
        "--rm",
        "--network",
        "none",
        *volume,
        *no_migrate,
        IMAGE,
        "lenadex",
        "serve",
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    docker("run", "--rm", "--network", "none", *volume, IMAGE, "lenadex", "migrate")

    port = _free_port()
    name = f"lenadex-test-{uuid.uuid4().hex[:12]}"
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        *volume,
        *no_migrate,
        "-e",
        f"LENADEX_PORT={port}",
        IMAGE,
        "lenadex",
        "serve",
        "--host",
        "127.0.0.1",
        "--workers",
        "2",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _get(f"{base}/livez")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, docker("logs", name, check=False).stderr[-3000:]
            time.sleep(0.5)
        assert _get(f"{base}/readyz")[0] == 200
        request = (ROOT / "sandbox" / "requests" / "moderate-renal.order-select.json").read_bytes()
        status, body = _get(f"{base}/cds-services/lenalidomide-order-select", request)
        assert status == 200 and "cards" in json.loads(body)
        stopped = time.monotonic()
        docker("stop", "--time", "40", name, timeout=60)
        assert time.monotonic() - stopped < 35
        (state,) = json.loads(docker("inspect", name).stdout)
        assert state["State"]["ExitCode"] == 0, docker("logs", name, check=False).stderr[-3000:]
    finally:
        docker("rm", "-f", name, check=False)
