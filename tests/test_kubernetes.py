"""Offline checks of the Kubernetes manifests in deploy/kubernetes.

Each layout (a kustomization directory) is loaded the way `kubectl apply -k`
would build it: `resources` resolved recursively, the kustomization's
`namespace` applied. Its objects are then validated against the Kubernetes
schemas (kubernetes-validate, strict), checked for consistency with each other
(selectors, ports, references, autoscaling targets), and every collector config
a container would run is passed to `otelcol-sentry validate` with the
environment that container gets.
"""

import functools
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT, validate

KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
LAYOUTS = ("gateway", "two-tier")
# The oldest release the manifests are written for (the kubelet's preStop
# `sleep` action is on by default from 1.30) and the newest schema that
# kubernetes-validate 1.37.0 bundles.
KUBERNETES_VERSIONS = ("1.30", "1.37")

# What the image brings (see Dockerfile): its user, its config, its environment.
IMAGE_USER = 10001
IMAGE_CONFIG_PATH = "/etc/otelcol-contrib/config.yaml"
IMAGE_DEFAULT_CONFIG = ROOT / "examples" / "otel.yaml"
IMAGE_ENV = {"OTELCOL_LISTEN_HOST": "0.0.0.0"}
HEALTH_CHECK_PORT = 13133
# Stands in for every value read from a Secret (the manifests hold placeholders).
DUMMY_SECRET_VALUE = "dummy-secret-value"

# The kustomization fields load_layout() knows how to apply.
MODELLED_FIELDS = {"apiVersion", "kind", "namespace", "resources"}
CLUSTER_SCOPED_KINDS = {"Namespace"}


# --- loading -----------------------------------------------------------------


def load_kustomization(directory):
    """The objects a kustomization directory builds, in order."""
    path = directory / "kustomization.yaml"
    assert path.is_file(), f"{directory} has no kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    unmodelled = set(kustomization) - MODELLED_FIELDS
    assert not unmodelled, (
        f"{path} uses {sorted(unmodelled)}, which this test does not model: extend load_kustomization()"
    )
    objects = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        assert target.exists(), f"{path} lists {entry!r}, which does not exist"
        if target.is_dir():
            objects += load_kustomization(target)
        else:
            # kustomize's default load restrictor: files only from inside the
            # kustomization's own directory (other directories as kustomizations).
            assert target.is_relative_to(directory.resolve()), (
                f"{path} lists the file {entry!r} outside its directory: kustomize refuses it"
            )
            objects += [doc for doc in yaml.safe_load_all(target.read_text()) if doc is not None]
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED_KINDS:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


@functools.cache
def _load_layout(name):
    return load_kustomization(KUBERNETES_DIR / name)


def load_layout(name):
    objects = _load_layout(name)
    ids = [object_id(obj) for obj in objects]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"{name} builds these objects more than once: {duplicates}"
    return objects


@pytest.fixture(params=LAYOUTS)
def layout(request):
    return request.param, load_layout(request.param)


# --- looking things up -------------------------------------------------------


def object_id(obj):
    return f"{obj['kind']}/{obj['metadata'].get('namespace', '-')}/{obj['metadata']['name']}"


def of_kind(objects, kind):
    return [obj for obj in objects if obj["kind"] == kind]


def find(objects, kind, name):
    """The object of that kind and name, or None."""
    return next((obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name), None)


def selects(selector, labels):
    """Whether a matchLabels-style selector matches a set of labels."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def pod_labels(deployment):
    return deployment["spec"]["template"]["metadata"].get("labels", {})


def selected_deployments(objects, selector):
    return [d for d in of_kind(objects, "Deployment") if selects(selector, pod_labels(d))]


def containers(objects):
    """(deployment, pod spec, container) for every container of every Deployment."""
    for deployment in of_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            yield deployment, pod, container


def container_port(container, port):
    """The number of a container port named or numbered `port`, or None."""
    for declared in container.get("ports", []):
        if port in (declared.get("name"), declared["containerPort"]):
            return declared["containerPort"]
    return None


def deployment_port(deployment, port):
    pod = deployment["spec"]["template"]["spec"]
    numbers = {container_port(c, port) for c in pod["containers"]} - {None}
    return numbers.pop() if len(numbers) == 1 else None


def config_keys(obj):
    """The keys of a ConfigMap or Secret."""
    return set(obj.get("data", {})) | set(obj.get("stringData", {})) | set(obj.get("binaryData", {}))


def label(deployment, container):
    return f"Deployment {deployment['metadata']['name']}, container {container['name']}"


# --- what a container runs ---------------------------------------------------


def container_env(objects, container):
    """The environment the container gets: the image's, then its own."""
    env = dict(IMAGE_ENV)
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config_map = find(objects, "ConfigMap", source["configMapRef"]["name"]) or {}
            env.update({source.get("prefix", "") + k: v for k, v in config_map.get("data", {}).items()})
        if "secretRef" in source:
            secret = find(objects, "Secret", source["secretRef"]["name"]) or {}
            env.update({source.get("prefix", "") + k: DUMMY_SECRET_VALUE for k in config_keys(secret)})
    for var in container.get("env", []):
        value_from = var.get("valueFrom", {})
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            config_map = find(objects, "ConfigMap", ref["name"]) or {}
            if ref["key"] in config_map.get("data", {}):
                env[var["name"]] = config_map["data"][ref["key"]]
        elif "secretKeyRef" in value_from:
            env[var["name"]] = DUMMY_SECRET_VALUE
        else:
            pytest.fail(f"env {var['name']}: {sorted(value_from)} is not modelled by container_env()")
    return env


def container_config(objects, pod, container):
    """(where it comes from, text) of the collector config the container runs."""
    where = container["name"]
    assert "command" not in container and "args" not in container, (
        f"container {where} overrides the image's command; "
        f"this test only knows the image's --config {IMAGE_CONFIG_PATH}"
    )
    for mount in container.get("volumeMounts", []):
        mount_path = mount["mountPath"].rstrip("/")
        if mount_path == IMAGE_CONFIG_PATH:
            relative = mount.get("subPath", "")
        elif IMAGE_CONFIG_PATH.startswith(mount_path + "/"):
            rest = IMAGE_CONFIG_PATH[len(mount_path) + 1:]
            relative = f"{mount['subPath']}/{rest}" if mount.get("subPath") else rest
        else:
            continue
        volume = next((v for v in pod.get("volumes", []) if v["name"] == mount["name"]), None)
        assert volume is not None, f"container {where} mounts the missing volume {mount['name']!r}"
        assert "configMap" in volume, f"volume {volume['name']}: only configMap volumes are modelled"
        name = volume["configMap"]["name"]
        keys = {item["path"]: item["key"] for item in volume["configMap"].get("items", [])}
        # With `items`, only the listed keys appear in the volume.
        key = keys.get(relative) if keys else relative
        config_map = find(objects, "ConfigMap", name)
        assert config_map is not None and key in config_map.get("data", {}), (
            f"container {where} reads its config from key {key!r} of ConfigMap {name}, which does not exist"
        )
        return f"ConfigMap {name} key {key}", config_map["data"][key]
    return f"the image's default config ({IMAGE_DEFAULT_CONFIG.relative_to(ROOT)})", IMAGE_DEFAULT_CONFIG.read_text()


# --- the checks --------------------------------------------------------------


def test_kustomization_builds_the_same_objects_as_kubectl(layout):
    name, objects = layout
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot compare with `kubectl kustomize`")
    result = subprocess.run([kubectl, "kustomize", str(KUBERNETES_DIR / name)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {name} failed:\n{result.stderr}"
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]

    def by_id(objs):
        return {object_id(obj): obj for obj in objs}

    assert by_id(built) == by_id(objects), f"load_kustomization() does not build {name} as kustomize does"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_match_the_kubernetes_schema(layout, version):
    _, objects = layout
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{object_id(obj)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{object_id(obj)}: {error.message}")
    assert not errors, f"invalid for Kubernetes {version}:\n" + "\n".join(errors)


def test_deployments_select_their_own_pods(layout):
    _, objects = layout
    for deployment in of_kind(objects, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selects(selector, pod_labels(deployment)), (
            f"Deployment {deployment['metadata']['name']}: selector {selector} does not match its pod labels"
        )
    for budget in of_kind(objects, "PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        assert len(selected_deployments(objects, selector)) == 1, (
            f"PodDisruptionBudget {budget['metadata']['name']}: selector {selector} "
            "does not match exactly one Deployment's pods"
        )


def test_services_select_one_deployment_and_its_ports(layout):
    _, objects = layout
    services = of_kind(objects, "Service")
    assert services, "no Service"
    for service in services:
        name, selector = service["metadata"]["name"], service["spec"].get("selector", {})
        matches = selected_deployments(objects, selector)
        assert len(matches) == 1, (
            f"Service {name}: selector {selector} matches {len(matches)} Deployments' pods, not exactly one"
        )
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert deployment_port(matches[0], target) is not None, (
                f"Service {name}: targetPort {target!r} is not a container port of "
                f"Deployment {matches[0]['metadata']['name']}"
            )


def test_autoscalers_target_deployments_of_the_layout(layout):
    _, objects = layout
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        name, target = hpa["metadata"]["name"], hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment"), f"HPA {name}: {target}"
        deployment = find(objects, "Deployment", target["name"])
        assert deployment is not None, f"HPA {name} scales Deployment {target['name']}, which is not in the layout"
        assert hpa["spec"].get("minReplicas", 1) >= 2, f"HPA {name}: fewer than 2 replicas at the least"
        # A fixed count in the Deployment would undo the autoscaler on every apply.
        assert "replicas" not in deployment["spec"], (
            f"Deployment {target['name']} sets replicas, but HPA {name} owns them"
        )
        # CPU utilization is relative to the request: without one the HPA cannot compute it.
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "cpu" in container.get("resources", {}).get("requests", {}), (
                f"HPA {name}: container {container['name']} has no CPU request"
            )


def test_every_referenced_config_map_and_secret_exists(layout):
    _, objects = layout
    missing = []

    def check(kind, name, key=None, optional=False):
        obj = find(objects, kind, name)
        if optional:
            return
        if obj is None:
            missing.append(f"{kind} {name}")
        elif key is not None and key not in config_keys(obj):
            missing.append(f"key {key!r} of {kind} {name}")

    for deployment, pod, container in containers(objects):
        for var in container.get("env", []):
            for ref_name, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = var.get("valueFrom", {}).get(ref_name)
                if ref:
                    check(kind, ref["name"], ref["key"], ref.get("optional", False))
        for source in container.get("envFrom", []):
            for ref_name, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if ref_name in source:
                    check(kind, source[ref_name]["name"], optional=source[ref_name].get("optional", False))
    for deployment in of_kind(objects, "Deployment"):
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            for field, kind, name_field in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
                if field in volume:
                    source = volume[field]
                    check(kind, source[name_field], optional=source.get("optional", False))
                    for item in source.get("items", []):
                        check(kind, source[name_field], item["key"], source.get("optional", False))
    assert not missing, "referenced but not in the layout:\n" + "\n".join(missing)


def test_containers_run_hardened_with_probes_and_memory_limits(layout):
    _, objects = layout
    found = list(containers(objects))
    assert found, "no Deployment"
    for deployment, pod, container in found:
        where = label(deployment, container)
        # The container's securityContext overrides the pod's, field by field.
        security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True, f"{where}: runAsNonRoot is not true"
        assert security.get("runAsUser") == IMAGE_USER, f"{where}: runAsUser is not {IMAGE_USER}"
        assert security.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem is writable"
        assert security.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed"
        assert "ALL" in security.get("capabilities", {}).get("drop", []), f"{where}: capabilities not all dropped"

        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = container.get(probe_name, {}).get("httpGet")
            assert probe is not None, f"{where}: no {probe_name} with httpGet"
            assert container_port(container, probe["port"]) == HEALTH_CHECK_PORT, (
                f"{where}: {probe_name} probes port {probe['port']!r}, not health_check's {HEALTH_CHECK_PORT}"
            )

        resources = container.get("resources", {})
        assert "memory" in resources.get("limits", {}), f"{where}: no memory limit (memory_limiter sizes from it)"
        assert "memory" in resources.get("requests", {}), f"{where}: no memory request"

        # The grace period must leave the collector time to drain after the preStop sleep.
        sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        assert grace >= sleep + 30, f"{where}: {grace}s of grace leave less than 30s after a {sleep}s preStop sleep"


def test_every_container_config_passes_collector_validate(layout, tmp_path):
    _, objects = layout
    for deployment, pod, container in containers(objects):
        where, config = container_config(objects, pod, container)
        env = container_env(objects, container)
        result = validate(config, tmp_path, env)
        assert result.returncode == 0, (
            f"{label(deployment, container)}: {where} does not validate with env {sorted(env)}:\n"
            f"{result.stdout}{result.stderr}"
        )


def test_the_sentry_token_comes_from_a_secret(layout):
    _, objects = layout
    exporting = 0
    for deployment, pod, container in containers(objects):
        _, config = container_config(objects, pod, container)
        for token_var in set(re.findall(r"\$\{env:(\w*TOKEN\w*)", config)):
            exporting += 1
            var = next((v for v in container.get("env", []) if v["name"] == token_var), None)
            assert var is not None and "secretKeyRef" in var.get("valueFrom", {}), (
                f"{label(deployment, container)}: {token_var} does not come from a Secret (secretKeyRef)"
            )
    assert exporting, "no container reads a Sentry token: nothing exports to Sentry"


def test_front_tier_routes_each_service_to_one_back_pod():
    objects = load_layout("two-tier")
    fronts = []
    back_routing = set()
    for deployment, pod, container in containers(objects):
        where, text = container_config(objects, pod, container)
        exporters = yaml.safe_load(text).get("exporters", {})
        assert "loadbalancing" not in exporters, f"{where}: `loadbalancing` is deprecated, use `load_balancing`"
        if "load_balancing" in exporters:
            fronts.append((where, exporters["load_balancing"]))
        if "sentry" in exporters:
            back_routing.add(exporters["sentry"]["routing"]["project_from_attribute"])
    assert len(fronts) == 1, f"expected one front config with a load_balancing exporter, found {len(fronts)}"
    where, exporter = fronts[0]

    # The front tier hashes by the attribute the back tier routes to projects by, with
    # `attributes` (`service` would hash a service's traces and logs under different keys).
    assert len(back_routing) == 1, f"the back collectors route by different attributes: {back_routing}"
    assert exporter.get("routing_key") == "attributes", f"{where}: routing_key is not `attributes`"
    assert exporter.get("routing_attributes") == list(back_routing), (
        f"{where}: routing_attributes {exporter.get('routing_attributes')} are not the back tier's {back_routing}"
    )
    assert list(exporter["resolver"]) == ["dns"], f"{where}: the resolver is not (only) dns"
    dns = exporter["resolver"]["dns"]

    headless = {
        f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc.cluster.local": s
        for s in of_kind(objects, "Service")
        if s["spec"].get("clusterIP") == "None"
    }
    assert dns["hostname"] in headless, (
        f"{where}: resolver hostname {dns['hostname']} is none of the headless Services {sorted(headless)}"
    )
    service = headless[dns["hostname"]]
    # The resolver connects to the pod IPs the DNS name returns: the port must be
    # the container port itself, and one the headless Service publishes.
    ports = {str(p["port"]): p.get("targetPort", p["port"]) for p in service["spec"]["ports"]}
    assert str(dns.get("port")) in ports, f"{where}: resolver port {dns.get('port')} is not a port of {dns['hostname']}"
    (back,) = selected_deployments(objects, service["spec"]["selector"])
    assert deployment_port(back, ports[str(dns["port"])]) == int(dns["port"]), (
        f"{where}: the back pods do not listen on the resolver's port {dns['port']}"
    )
