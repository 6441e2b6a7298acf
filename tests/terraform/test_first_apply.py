"""Static checks that one `terraform apply` on a fresh project, and the first flex launch on
private workers, can succeed (issue 9). Each test names the documented rule it guards; the
configuration is read with python-hcl2 (tests/terraform/tfconfig.py), the Makefile run for real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from pipelines import system
from tests.terraform import tfconfig as tf

DOCKERFILES = sorted((tf.ROOT / "pipelines").glob("*/Dockerfile"))
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return tf.load_dir()


def _dockerfile_env(text: str) -> dict[str, str]:
    """ENV instructions (``ENV K=V`` form, continuation lines joined), comments ignored."""
    joined = re.sub(r"\\\n", " ", text)
    env = {}
    for line in joined.splitlines():
        if line.strip().startswith("ENV "):
            for pair in line.strip()[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


# -- blocker 1: the launch must not download requirements --------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_flex_launch_does_not_stage_requirements(dockerfile) -> None:
    """FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE makes the launcher pass --requirements_file, and Beam
    downloads every requirement at launch: private-IP launcher and workers without Cloud NAT cannot."""
    env = _dockerfile_env(dockerfile.read_text())
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE" in env, "the parser must see the Dockerfile's ENV lines"
    assert "FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE" not in env
    assert "PIP_NO_DEPS" not in env
    # The image is the workers' SDK container, with the requirements installed at build time.
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile.read_text()


def test_launch_parameters_run_workers_on_the_flex_image(config: dict[str, Any]) -> None:
    template = (tf.ROOT / "config" / "launch_parameters.json.tftpl").read_text()
    for name in system.pipeline_names():
        assert f'"sdkContainerImage": "${{{name}_image}}"' in template
    assert template.count('"ipConfiguration": "WORKER_IP_PRIVATE"') == len(system.pipeline_names())


# -- blocker 2: the function's build reads its source from gcf-v2-sources ---------------------------


def test_builder_may_read_the_function_sources_bucket_only(config: dict[str, Any]) -> None:
    grant = tf.resource("google_project_iam_member", "builder_function_sources")
    assert grant["role"] == "roles/storage.objectViewer"
    assert grant["member"] == "${local.builder_member}"
    bucket = config["locals"]["function_sources_bucket"]
    assert bucket == "projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-${var.region}"
    expression = tf.block(grant, "condition")["expression"]
    # The bucket itself, or objects in it; never a prefix match that also takes e.g. europe-west10.
    assert expression.count("${local.function_sources_bucket}") == 2
    assert 'resource.name == \\"${local.function_sources_bucket}\\"' in expression
    assert 'startsWith(\\"${local.function_sources_bucket}/objects/\\")' in expression
    fn = tf.resource("google_cloudfunctions2_function", "relauncher")
    assert "${google_project_iam_member.builder_function_sources}" in fn["depends_on"]


# -- blocker 3: first-apply races ----------------------------------------------------------------------


def test_service_agents_exist_and_roles_propagate_before_the_trigger(config: dict[str, Any]) -> None:
    agents = tf.resource("google_project_service_identity", "agents")
    assert agents["provider"] == "${google-beta}" or agents["provider"] == "google-beta"
    assert {"eventarc.googleapis.com", "pubsub.googleapis.com"} <= set(
        re.findall(r"[a-z]+\.googleapis\.com", agents["for_each"])
    )
    assert agents["depends_on"] == ["${google_project_service.enabled}"]
    role = tf.resource("google_project_iam_member", "eventarc_agent")
    assert (role["role"], role["member"]) == ("roles/eventarc.serviceAgent", "${local.eventarc_agent_member}")
    wait = tf.resource("time_sleep", "eventarc_agent_ready")
    assert wait["create_duration"] == "${var.iam_propagation_wait}"
    assert set(wait["depends_on"]) >= {
        "${google_project_iam_member.eventarc_agent}",
        "${google_project_iam_member.roles}",
        "${google_service_account_iam_member.pubsub_token_creator}",
    }
    fn = tf.resource("google_cloudfunctions2_function", "relauncher")
    assert "${time_sleep.eventarc_agent_ready}" in fn["depends_on"]
    token = tf.resource("google_service_account_iam_member", "pubsub_token_creator")
    assert token["member"] == "${local.pubsub_agent_member}"
    seconds = int(config["variable"]["iam_propagation_wait"]["default"].rstrip("s"))
    assert seconds >= 60, "IAM changes typically take up to 2 minutes to propagate"


def test_providers_needed_for_the_waits_are_pinned(config: dict[str, Any]) -> None:
    providers = tf.block(config["terraform"][0], "required_providers")
    assert tf.block(providers, "time")["source"] == "hashicorp/time"
    beta = tf.block(providers, "google-beta")
    assert (beta["source"], beta["version"]) == ("hashicorp/google-beta", "~> 8.0")


def test_project_number_is_read_after_resource_manager_is_enabled(config: dict[str, Any]) -> None:
    project = config["data"]["google_project"]["this"]
    assert project["depends_on"] == ["${google_project_service.enabled}"]
    assert "cloudresourcemanager.googleapis.com" in config["locals"]["services"]


def test_no_alert_waits_on_a_log_based_metric(config: dict[str, Any]) -> None:
    """An alert on a log-based metric created seconds earlier fails with "Cannot find metric(s)"."""
    assert "google_logging_metric" not in config["resource"]
    for policy in config["resource"]["google_monitoring_alert_policy"].values():
        assert "logging.googleapis.com/user/" not in str(policy)


# -- major 6: least privilege on the bucket, and the launchers' missing permissions ----------------


def _locals_map(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config["locals"][name]
    return value[0] if isinstance(value, list) else value  # checkov's hcl2 fork wraps object literals


def _bucket_bindings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["resource"]["google_storage_bucket_iam_member"]


def test_bucket_object_rights_are_limited_to_prefixes(config: dict[str, Any]) -> None:
    prefixes = config["locals"]["bucket_prefixes"]
    prefixes = prefixes[0] if isinstance(prefixes, list) else prefixes
    # (checkov's hcl2 fork unwraps one-element lists)
    prefixes = {who: [p] if isinstance(p, str) else p for who, p in prefixes.items()}
    assert prefixes == {
        "worker": ["temp/", "staging/"],
        "builder": ["templates/", "source/"],
        "launcher": ["templates/"],
    }
    condition = config["locals"]["bucket_prefix_condition"]
    assert "resource.name.startsWith" in condition and "/objects/${prefix}" in condition
    assert "storage.googleapis.com/objectListPrefix" in condition
    expected = {"worker_object_admin": "worker", "builder_objects": "builder", "launcher_template_reader": "launcher"}
    bindings = _bucket_bindings(config)
    for name, who in expected.items():
        assert tf.block(bindings[name], "condition")["expression"] == f"${{local.bucket_prefix_condition.{who}}}"
    # Every object role on the bucket is conditioned: nobody but terraform may rewrite templates/.
    for name, body in bindings.items():
        if body["role"].startswith("roles/storage.object"):
            assert "condition" in body, name
    assert config["locals"]["bucket_path"] == "projects/_/buckets/${google_storage_bucket.pipelines.name}"


def test_launchers_get_exactly_what_dataflow_developer_lacks(config: dict[str, Any]) -> None:
    """roles/dataflow.admin is documented as the minimal launching role; developer lacks
    compute.machineTypes.get and storage.buckets.get. Custom roles add those two, never admin."""
    custom_roles = _locals_map(config, "launcher_custom_roles")
    # (checkov's hcl2 fork unwraps one-element lists)
    permissions = {
        k: [v["permissions"]] if isinstance(v["permissions"], str) else v["permissions"]
        for k, v in custom_roles.items()
    }
    assert permissions == {
        "flex_launcher": ["compute.machineTypes.get"],
        "bucket_metadata_reader": ["storage.buckets.get"],
    }
    role = tf.resource("google_project_iam_custom_role", "launcher")
    assert role["for_each"] == "${local.launcher_custom_roles}" and role["permissions"] == "${each.value.permissions}"
    roles = _locals_map(config, "project_roles")
    flex = '${google_project_iam_custom_role.launcher["flex_launcher"].id}'
    assert {r["member"] for r in roles.values() if r["role"] == flex} == {
        "${local.relauncher_member}",
        "${local.workflow_member}",
    }
    metadata = _bucket_bindings(config)["launcher_bucket_metadata"]
    assert metadata["role"] == '${google_project_iam_custom_role.launcher["bucket_metadata_reader"].id}'
    texts = [s for s in tf.strings(config)]
    assert "roles/dataflow.admin" not in texts and "roles/storage.admin" not in texts


# -- major 7: images a relaunch can trust ---------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_come_only_from_digest_arguments(dockerfile) -> None:
    text = dockerfile.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert froms == ["${LAUNCHER_BASE_IMAGE}", "${BEAM_BASE_IMAGE}"]
    for arg in ("LAUNCHER_BASE_IMAGE", "BEAM_BASE_IMAGE"):
        assert re.search(rf"^ARG {arg}$", text, re.MULTILINE), f"{arg} must have no (tagged) default"


MAKE = shutil.which("make")


def _check_base_images(**values: str) -> subprocess.CompletedProcess[str]:
    args = [MAKE, "-s", "--no-print-directory", "check-base-images", *(f"{k}={v}" for k, v in values.items())]
    return subprocess.run(args, cwd=tf.ROOT, capture_output=True, text=True, timeout=30)


LAUNCHER = "gcr.io/dataflow-templates-base/python311-template-launcher-base"
BEAM = "apache/beam_python3.11_sdk"


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
@pytest.mark.parametrize(
    ("launcher", "beam", "tag"),
    [
        (f"{LAUNCHER}:latest", f"{BEAM}@{DIGEST}", "abc"),
        (f"{LAUNCHER}@{DIGEST}", f"{BEAM}:2.77.0", "abc"),
        (f"{LAUNCHER}@sha256:1234", f"{BEAM}@{DIGEST}", "abc"),
        (f"{LAUNCHER}@{DIGEST}", f"evil/beam_python3.11_sdk@{DIGEST}", "abc"),
        ("", "", "abc"),
        (f"{LAUNCHER}@{DIGEST}", f"{BEAM}@{DIGEST}", "latest"),
    ],
    ids=["launcher-tag", "beam-tag", "short-digest", "other-repository", "unset", "latest-tag"],
)
def test_templates_refuse_base_images_not_pinned_by_digest(launcher: str, beam: str, tag: str) -> None:
    result = _check_base_images(LAUNCHER_BASE_IMAGE=launcher, BEAM_BASE_IMAGE=beam, IMAGE_TAG=tag)
    assert result.returncode != 0, result.stdout


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_templates_accept_base_images_pinned_by_digest() -> None:
    result = _check_base_images(LAUNCHER_BASE_IMAGE=f"{LAUNCHER}@{DIGEST}", BEAM_BASE_IMAGE=f"{BEAM}@{DIGEST}")
    assert result.returncode == 0, result.stderr
    makefile = (tf.ROOT / "Makefile").read_text()
    assert re.search(r"^templates: check-base-images ", makefile, re.MULTILINE)


def test_template_spec_references_the_pushed_image_by_digest() -> None:
    build = yaml.safe_load((tf.ROOT / "pipelines" / "cloudbuild.yaml").read_text())
    steps = {s["id"]: s for s in build["steps"]}
    resolve = " ".join(steps["resolve-digest"]["args"])
    assert "RepoDigests" in resolve and "/workspace/image_by_digest" in resolve
    assert '--image="$$(cat /workspace/image_by_digest)"' in steps["build-template"]["args"][1]
    assert build["substitutions"]["_TAG"] == "", "no floating default tag"
    build_args = steps["build-image"]["args"]
    assert "--build-arg=LAUNCHER_BASE_IMAGE=${_LAUNCHER_BASE_IMAGE}" in build_args
    assert "--build-arg=BEAM_BASE_IMAGE=${_BEAM_BASE_IMAGE}" in build_args


def test_terraform_launches_by_the_recorded_digest(config: dict[str, Any]) -> None:
    variable = config["variable"]["image_digests"]
    assert variable["type"] == "${map(string)}"
    pattern = re.search(r'regex\("([^"]+)",\s*d\)', variable["validation"][0]["condition"]).group(1)
    assert re.fullmatch(pattern, DIGEST)
    for bad in ("latest", "v1", "sha256:abc", DIGEST.upper(), f"orders@{DIGEST}"):
        assert not re.fullmatch(pattern, bad), bad
    images = config["locals"]["images"]
    assert "@${lookup(var.image_digests, name, local.unbuilt_digest)}" in images and ":${" not in images
    assert "image_tag" not in config["variable"]
    assert config["output"]["images"]["value"] == "${local.images}"


# -- major 8: what a platform team expects ---------------------------------------------------------------


def test_labels_reach_every_resource_and_every_job(config: dict[str, Any]) -> None:
    for settings in (
        config["provider"] if "provider" in config else tf.load_file(tf.TERRAFORM / "versions.tf")["provider"]
    ):
        for name, body in settings.items():
            assert body["default_labels"] == "${local.labels}", name
    module = config["module"]["launch_config"]
    assert module["labels"] == "${var.labels}" and module["kms_key_name"] == "${var.kms_key_name}"
    template = (tf.ROOT / "config" / "launch_parameters.json.tftpl").read_text()
    assert template.count("${user_label_members}") == len(system.pipeline_names())
    assert template.count('"kmsKeyName": "${kms_key_name}"') == len(system.pipeline_names())


def test_state_backend_example_is_there_but_commented() -> None:
    text = (tf.TERRAFORM / "versions.tf").read_text()
    assert re.search(r'^\s*#\s*backend "gcs" \{', text, re.MULTILINE)
    assert not re.search(r'^\s*backend "gcs"', text, re.MULTILINE)


def test_customer_managed_key_is_optional_everywhere(config: dict[str, Any]) -> None:
    assert config["variable"]["kms_key_name"]["default"] is None
    bucket = (tf.TERRAFORM / "storage.tf").read_text()
    assert 'dynamic "encryption"' in bucket and "default_kms_key_name = encryption.value" in bucket
    dataset = (tf.TERRAFORM / "bigquery.tf").read_text()
    assert 'dynamic "default_encryption_configuration"' in dataset
    assert tf.resource("google_pubsub_topic", "events")["kms_key_name"] == "${var.kms_key_name}"
    assert tf.resource("google_artifact_registry_repository", "images")["kms_key_name"] == "${var.kms_key_name}"
    grants = tf.resource("google_kms_crypto_key_iam_member", "agents")
    assert grants["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    agents = config["locals"]["kms_agents"]
    for agent in ("storage", "bigquery", "pubsub", "artifactregistry", "dataflow", "compute"):
        assert agent in agents


def test_audit_entries_expire(config: dict[str, Any]) -> None:
    ttl = tf.resource("google_firestore_field", "audit_ttl")
    assert (ttl["collection"], ttl["field"]) == ("events", "expire_at")
    assert "ttl_config" in ttl and "index_config" not in ttl, "keep the field's default indexes"
    assert config["module"]["launch_config"]["audit_retention_days"] == "${var.audit_retention_days}"


def test_outputs_name_the_trigger_and_the_alerts(config: dict[str, Any]) -> None:
    outputs = config["output"]
    assert outputs["trigger_id"]["value"] == "${google_cloudfunctions2_function.relauncher.event_trigger[0].trigger}"
    alerts = outputs["alert_policy_ids"]["value"]
    alerts = alerts[0] if isinstance(alerts, list) else alerts
    policies = config["resource"]["google_monitoring_alert_policy"]
    assert set(alerts) == set(_locals_map(config, "log_alerts")) | set(policies) - {"log_match"}
    assert "ops smoke" in outputs["smoke_command"]["value"]


def test_readme_deploy_is_a_copy_paste_path() -> None:
    text = (tf.ROOT / "README.md").read_text()
    deploy = text[text.index("## Deploy") : text.index("<!-- /section:deploy -->")]
    order = [
        "terraform apply",
        "make templates",
        "terraform -chdir=terraform apply",
        "gcloud workflows run",
        "ops smoke",
    ]
    positions = [deploy.index(step) for step in order]
    assert positions == sorted(positions), "deploy steps out of order"
    for topic in ("time_sleep", "gcp.resourceLocations", "cloudfunctions.requireVPCConnector", "alert_email"):
        assert topic in deploy, topic
