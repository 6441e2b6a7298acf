"""Static checks of terraform/: formatting, wiring, least privilege, and the one source of truth.

The google provider cannot be downloaded here, so ``terraform validate`` is not run; resources and
arguments were checked against the provider's documentation instead. What can be evaluated
without a provider is: the configuration parsed with python-hcl2, the provider-free
``modules/launch_config`` evaluated by a real terraform binary, and a checkov scan.
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipelines import system
from relauncher import config as relauncher_config
from tests.terraform import tfconfig as tf

TERRAFORM_BIN = tf.TERRAFORM_BIN
needs_terraform = pytest.mark.skipif(TERRAFORM_BIN is None, reason="the terraform binary is not installed")
VIEWS = tf.ROOT / "views"
SCHEMAS = tf.TERRAFORM / "schemas"
FUNCTION_DIR = tf.ROOT / "functions" / "relauncher"
# Cloud Workflows: each user_env_vars value may be at most 4 KiB.
WORKFLOWS_ENV_VALUE_LIMIT = 4096


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return tf.load_dir()


_terraform = tf.run_terraform


# -- formatting and versions ------------------------------------------------------------------------


@needs_terraform
def test_terraform_fmt_is_clean() -> None:
    result = _terraform("fmt", "-check", "-recursive", "-diff", str(tf.TERRAFORM), cwd=tf.ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_versions_are_pinned(config: dict[str, Any]) -> None:
    (settings,) = config["terraform"]
    assert settings["required_version"] == ">= 1.5"
    providers = tf.block(settings, "required_providers")
    google = tf.block(providers, "google")
    assert (google["source"], google["version"]) == ("hashicorp/google", "~> 8.0")
    assert tf.block(providers, "archive")["source"] == "hashicorp/archive"


# -- references -------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", [tf.TERRAFORM, tf.MODULE], ids=["root", "launch_config"])
def test_every_reference_resolves(directory: Path) -> None:
    cfg = tf.load_dir(directory)
    refs = tf.references(cfg)
    assert refs, "no references found: the parser or the pattern is broken"
    assert refs - tf.declared(cfg) == set()


def test_reference_pattern_finds_undeclared_names() -> None:
    """Guard for the test above: an unknown variable, local or resource is reported."""
    cfg = tf.load_dir()
    bogus = {"x": "${var.nope} ${local.nope} ${google_pubsub_topic.nope.id} ${data.google_project.nope.number}"}
    assert tf.references(bogus) - tf.declared(cfg) == {
        ("var", "nope"),
        ("local", "nope"),
        ("resource", "google_pubsub_topic", "nope"),
        ("data", "google_project", "nope"),
    }


def test_module_outputs_used_by_root_exist(config: dict[str, Any]) -> None:
    module = tf.load_dir(tf.MODULE)
    used = {m.group(1) for s in tf.strings(config) for m in re.finditer(r"module\.launch_config\.(\w+)", s)}
    assert used and used <= set(module["output"])
    inputs = {k for k in config["module"]["launch_config"] if k != "source"}
    assert inputs == set(module["variable"])


# -- the one source of truth ------------------------------------------------------------------------


DEPLOYMENT = {
    "bucket": "a-project-id-of-thirty-chars-x-ecommerce-analytics",
    "worker_service_account": "ecommerce-dataflow-worker@a-project-id-of-thirty-chars-x.iam.gserviceaccount.com",
    "subnetwork": "https://www.googleapis.com/compute/v1/projects/a-project-id-of-thirty-chars-x/regions/"
    "northamerica-northeast1/subnetworks/ecommerce-analytics-dataflow",
    "max_workers": 7,
    "window_seconds": 45,
    "allowed_lateness_seconds": 600,
    # Labels and a CMEK key reach the jobs (additionalUserLabels, kmsKeyName) through both renderers.
    "labels": {"team": "data-platform", "cost-center": "cc-1234"},
    "kms_key_name": "projects/a-project-id-of-thirty-chars-x/locations/northamerica-northeast1/keyRings/r/cryptoKeys/k",
    "audit_retention_days": 30,
}
PROJECT, REGION = "a-project-id-of-thirty-chars-x", "northamerica-northeast1"


@pytest.fixture(scope="module")
def module_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Evaluate modules/launch_config with terraform itself (no provider, no cloud: a local apply)."""
    if TERRAFORM_BIN is None:
        pytest.skip("the terraform binary is not installed")
    work = tmp_path_factory.mktemp("launch_config")
    images = {
        name: f"{REGION}-docker.pkg.dev/{PROJECT}/ecommerce-analytics/{name}:v1" for name in system.pipeline_names()
    }
    subscriptions = {name: p["subscription"] for name, p in system.system()["pipelines"].items()}
    inputs = {"project": PROJECT, "region": REGION, **DEPLOYMENT, "images": images, "subscriptions": subscriptions}
    (work / "main.tf.json").write_text(
        json.dumps(
            {
                "module": {"cfg": {"source": os.path.relpath(tf.MODULE, work), **inputs}},
                "output": {
                    name: {"value": f"${{module.cfg.{name}}}"}
                    for name in ("relauncher_config", "template_variable_names", "system")
                },
            }
        )
    )
    for args in (("init", "-backend=false", "-no-color"), ("apply", "-auto-approve", "-no-color")):
        result = _terraform(*args, cwd=work)
        assert result.returncode == 0, result.stdout + result.stderr
    result = _terraform("output", "-json", cwd=work)
    assert result.returncode == 0, result.stderr
    outputs = {name: o["value"] for name, o in json.loads(result.stdout).items()}
    outputs["deployment"] = {**DEPLOYMENT, **{f"{n}_image": i for n, i in images.items()}}
    return outputs


def test_terraform_reads_system_json_as_python_does(module_outputs: dict[str, Any]) -> None:
    assert module_outputs["system"] == system.system()


def test_templatefile_gets_exactly_the_template_placeholders(module_outputs: dict[str, Any]) -> None:
    assert set(module_outputs["template_variable_names"]) == system.template_placeholders()


def test_relauncher_config_equals_python_relauncher_settings(module_outputs: dict[str, Any]) -> None:
    expected = system.relauncher_settings(module_outputs["deployment"], project=PROJECT, region=REGION)
    assert module_outputs["relauncher_config"] == expected
    assert module_outputs["relauncher_config"]["audit_retention_days"] == DEPLOYMENT["audit_retention_days"]
    for name, pipeline in module_outputs["relauncher_config"]["pipelines"].items():
        environment = pipeline["launch_parameter"]["environment"]
        # var.labels reach every job (the main cost) beside the fixed labels; the CMEK key too.
        assert environment["additionalUserLabels"] == {
            **DEPLOYMENT["labels"],
            system.system()["managed_label"]["key"]: system.system()["managed_label"]["value"],
            "pipeline": name,
        }
        assert environment["kmsKeyName"] == DEPLOYMENT["kms_key_name"]
    # The function parses it without complaint.
    parsed = relauncher_config.parse_config(module_outputs["relauncher_config"])
    assert set(parsed.pipelines) == set(system.pipeline_names())


def test_launch_config_fits_a_workflows_env_var(module_outputs: dict[str, Any]) -> None:
    """Long, realistic names: the JSON terraform passes to Workflows stays under the 4 KiB limit."""
    encoded = json.dumps(module_outputs["relauncher_config"], separators=(",", ":"))
    assert len(encoded.encode()) < WORKFLOWS_ENV_VALUE_LIMIT


def test_root_passes_resources_to_the_launch_config(config: dict[str, Any]) -> None:
    module = config["module"]["launch_config"]
    assert module["bucket"] == "${google_storage_bucket.pipelines.name}"
    assert module["worker_service_account"] == "${google_service_account.dataflow_worker.email}"
    assert "google_pubsub_subscription.pipeline" in module["subscriptions"]
    assert config["locals"]["system"] == '${jsondecode(file("${path.module}/../config/system.json"))}'
    assert config["locals"]["relauncher_config"] == "${module.launch_config.relauncher_config}"
    images = config["locals"]["images"]
    # By digest, never by tag: see test_first_apply.py for the digest rules.
    assert (
        "${var.region}-docker.pkg.dev/${var.project_id}/${var.artifact_repository_id}/${name}"
        "@${lookup(var.image_digests, name, local.unbuilt_digest)}"
    ) in images


# -- the relauncher and its trigger -----------------------------------------------------------------


def test_function_is_event_triggered_internal_and_bounded(config: dict[str, Any]) -> None:
    fn = tf.resource("google_cloudfunctions2_function", "relauncher")
    trigger = tf.block(fn, "event_trigger")
    assert trigger["event_type"] == "google.cloud.dataflow.job.v1beta3.statusChanged"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert trigger["trigger_region"] == "${var.region}"
    assert trigger["service_account_email"] == "${google_service_account.trigger.email}"
    service = tf.block(fn, "service_config")
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert service["max_instance_count"] == "${var.relauncher_max_instances}"
    assert config["variable"]["relauncher_max_instances"]["validation"], "max instances must be bounded"
    assert service["service_account_email"] == "${google_service_account.relauncher.email}"
    build = tf.block(fn, "build_config")
    assert build["entry_point"] == "relaunch"
    assert re.search(r"^def relaunch\(", (FUNCTION_DIR / "main.py").read_text(), re.MULTILINE)
    runtime = config["variable"]["relauncher_runtime"]
    assert runtime["default"] in ("python311", "python312")


def test_function_source_is_the_relauncher_directory() -> None:
    archive = tf.load_dir()["data"]["archive_file"]["relauncher"]
    assert archive["source_dir"] == "${path.module}/../functions/relauncher"
    obj = tf.resource("google_storage_bucket_object", "relauncher_source")
    assert obj["source"] == "${data.archive_file.relauncher.output_path}"
    assert "${data.archive_file.relauncher.output_md5}" in obj["name"], "a source change must redeploy"
    build = tf.block(tf.resource("google_cloudfunctions2_function", "relauncher"), "build_config")
    source = tf.block(tf.block(build, "source"), "storage_source")
    assert source["object"] == "${google_storage_bucket_object.relauncher_source.name}"


def test_function_environment_is_what_the_function_reads() -> None:
    service = tf.block(tf.resource("google_cloudfunctions2_function", "relauncher"), "service_config")
    env = tf.block(service, "environment_variables")
    assert env[relauncher_config.CONFIG_ENV] == "${jsonencode(local.relauncher_config)}"
    assert relauncher_config.ENDPOINT_ENV not in env, "DATAFLOW_ENDPOINT is for the local stand-in only"
    source = "\n".join(p.read_text() for p in FUNCTION_DIR.rglob("*.py"))
    unread = [name for name in env if name not in source]
    assert unread == [], f"env vars the function never reads: {unread}"


def test_only_the_trigger_may_invoke_the_function(config: dict[str, Any]) -> None:
    invoker = tf.resource("google_cloud_run_v2_service_iam_member", "trigger_invoker")
    assert invoker["name"] == "${google_cloudfunctions2_function.relauncher.service_config[0].service}"
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["member"] == "${local.trigger_member}"
    assert config["locals"]["trigger_member"] == "serviceAccount:${google_service_account.trigger.email}"
    invoke_roles = [s for s in tf.strings(config) if re.fullmatch(r"roles/(run|cloudfunctions)\.invoker", s)]
    assert invoke_roles == ["roles/run.invoker"]


# -- the workflow -----------------------------------------------------------------------------------


def test_workflow_gets_the_relauncher_config(config: dict[str, Any]) -> None:
    wf = tf.resource("google_workflows_workflow", "first_launch")
    assert wf["source_contents"] == '${file("${path.module}/../workflows/first_launch.yaml")}'
    env = tf.block(wf, "user_env_vars")
    assert env == {"LAUNCH_CONFIG": "${jsonencode(local.relauncher_config)}"}
    assert 'sys.get_env("LAUNCH_CONFIG")' in (tf.ROOT / "workflows" / "first_launch.yaml").read_text()
    assert wf["service_account"] == "${google_service_account.workflow.id}"
    command = config["output"]["first_launch_command"]["value"]
    assert command.startswith("gcloud workflows run ${google_workflows_workflow.first_launch.name}")


# -- least privilege --------------------------------------------------------------------------------

PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC = ("allUsers", "allAuthenticatedUsers")


def test_no_primitive_roles_and_no_public_members(config: dict[str, Any]) -> None:
    texts = [s for d in (tf.TERRAFORM, tf.MODULE) for s in tf.strings(tf.load_dir(d))]
    roles = {s for s in texts if s.startswith("roles/")}
    assert len(roles) >= 10, "too few roles found: the parser is broken"
    assert roles & PRIMITIVE == set()
    assert [s for s in texts if any(p in s for p in PUBLIC)] == []


def test_every_binding_names_a_dedicated_service_account(config: dict[str, Any]) -> None:
    """Members are this configuration's service accounts (or Google's service agents), never people."""
    members = []
    for rtype, named in config["resource"].items():
        if rtype.endswith("_iam_member"):
            members += [body["member"] for body in named.values()]
    members += [r["member"] for r in _project_roles(config).values()]
    allowed = re.compile(
        r"^\$\{local\.(worker|relauncher|workflow|trigger|builder|eventarc_agent|pubsub_agent|monitoring_agent)_member\}$"
        r"|^\$\{each\.value\}$"
    )
    assert all(allowed.match(m) or m == "${each.value.member}" for m in members), members
    agents = tf.load_dir()["locals"]
    for agent, service in (
        ("pubsub", "pubsub.googleapis.com"),
        ("eventarc", "eventarc.googleapis.com"),
        ("monitoring", "monitoring.googleapis.com"),
    ):
        member = agents[f"{agent}_agent_member"]
        assert f'serviceAccount:${{google_project_service_identity.agents["{service}"].email}}' in member


def _project_roles(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """local.project_roles is an object literal; python-hcl2 keeps it as a dict of dicts."""
    roles = config["locals"]["project_roles"]
    if isinstance(roles, list):  # checkov's hcl2 fork wraps object literals in a list
        (roles,) = roles
    assert isinstance(roles, dict)
    return roles


def test_project_level_roles_are_only_those_without_a_narrower_resource(config: dict[str, Any]) -> None:
    project_only = {
        "roles/dataflow.worker",
        "roles/dataflow.developer",
        "roles/datastore.user",
        "roles/eventarc.eventReceiver",
        "roles/logging.logWriter",
        '${google_project_iam_custom_role.launcher["flex_launcher"].id}',
    }
    assert {r["role"] for r in _project_roles(config).values()} <= project_only
    worker_bindings = {
        (rtype, body["role"])
        for rtype, named in config["resource"].items()
        for body in named.values()
        if rtype.endswith("_iam_member") and body.get("member") == "${local.worker_member}"
    }
    assert worker_bindings == {
        ("google_pubsub_subscription_iam_member", "roles/pubsub.subscriber"),
        ("google_pubsub_subscription_iam_member", "roles/pubsub.viewer"),
        ("google_bigquery_dataset_iam_member", "roles/bigquery.dataEditor"),
        ("google_storage_bucket_iam_member", "roles/storage.objectAdmin"),
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.reader"),
    }
    act_as = tf.resource("google_service_account_iam_member", "launcher_act_as_worker")
    assert act_as["service_account_id"] == "${google_service_account.dataflow_worker.name}"
    assert act_as["role"] == "roles/iam.serviceAccountUser"


# -- storage, messaging, data -----------------------------------------------------------------------


def test_bucket_is_private_uniform_and_cleans_temp() -> None:
    bucket = tf.resource("google_storage_bucket", "pipelines")
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["uniform_bucket_level_access"] is True
    rules = bucket["lifecycle_rule"]
    temp = [r for r in rules if tf.block(r, "condition").get("matches_prefix") == ["temp/"]]
    assert len(temp) == 1 and tf.block(temp[0], "action")["type"] == "Delete"


def test_topics_and_subscriptions_come_from_system_json() -> None:
    topic = tf.resource("google_pubsub_topic", "events")
    sub = tf.resource("google_pubsub_subscription", "pipeline")
    assert topic["for_each"] == sub["for_each"] == "${local.pipelines}"
    assert topic["name"] == "${each.value.topic}"
    assert sub["name"] == "${each.value.subscription}"
    assert sub["topic"] == "${google_pubsub_topic.events[each.key].id}"
    assert tf.block(sub, "expiration_policy")["ttl"] == "", "subscriptions must never expire"
    assert sub["message_retention_duration"] == "${var.subscription_message_retention}"
    assert sub["ack_deadline_seconds"] == "${var.subscription_ack_deadline_seconds}"
    # Dataflow does not support dead-letter policies on the subscriptions it reads.
    assert "dead_letter_policy" not in sub


def test_apis_are_enabled() -> None:
    services = set(re.findall(r"[a-z]+\.googleapis\.com", tf.load_dir()["locals"]["services"]))
    required = {
        f"{s}.googleapis.com"
        for s in [
            "dataflow",
            "compute",
            "logging",
            "monitoring",
            "cloudresourcemanager",
            "artifactregistry",
            "cloudbuild",
            "run",
            "cloudfunctions",
            "eventarc",
            "pubsub",
            "firestore",
            "workflows",
            "bigquery",
            "storage",
            "iam",
        ]
    }
    assert required <= services


def test_firestore_is_native_default_database() -> None:
    db = tf.resource("google_firestore_database", "default")
    assert (db["name"], db["type"]) == ("(default)", "FIRESTORE_NATIVE")


def _table_specs() -> dict[str, Any]:
    return json.loads((SCHEMAS / "tables.json").read_text())


def test_tables_come_from_the_generated_schema_definitions() -> None:
    tables = tf.resource("google_bigquery_table", "tables")
    assert tables["for_each"] == "${local.tables}"
    assert tf.load_dir()["locals"]["tables"] == '${jsondecode(file("${path.module}/schemas/tables.json"))}'
    assert tables["schema"] == '${file("${path.module}/schemas/${each.value.schema_file}")}'
    partitioning = tf.block(tables, "time_partitioning")
    assert partitioning == {
        "type": "${each.value.time_partitioning.type}",
        "field": "${each.value.time_partitioning.field}",
    }
    assert tables["clustering"] == "${each.value.clustering}"
    assert tables["deletion_protection"] == "${var.deletion_protection}"


def test_schema_definitions_are_consistent_with_system_json() -> None:
    specs = _table_specs()
    assert {s["table_id"] for s in specs.values()} == set(system.system()["bigquery"]["tables"].values())
    for key, spec in specs.items():
        fields = {f["name"]: f for f in json.loads((SCHEMAS / spec["schema_file"]).read_text())}
        part = spec["time_partitioning"]
        assert part["type"] in ("HOUR", "DAY", "MONTH", "YEAR"), key
        assert fields[part["field"]]["type"] in ("TIMESTAMP", "DATE", "DATETIME"), key
        assert 1 <= len(spec["clustering"]) <= 4 and set(spec["clustering"]) <= set(fields), key


# -- views ------------------------------------------------------------------------------------------

VIEW_REF = re.compile(r"`\$\{project\}\.\$\{dataset\}\.(\w+)`")


def _views(layer: str) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((VIEWS / layer).glob("*.sql"))}


def test_views_deploy_in_layers() -> None:
    base = tf.resource("google_bigquery_table", "base_views")
    insights = tf.resource("google_bigquery_table", "insight_views")
    assert base["for_each"] == "${local.base_views}" and insights["for_each"] == "${local.insight_views}"
    assert base["depends_on"] == ["${google_bigquery_table.tables}"]
    assert insights["depends_on"] == ["${google_bigquery_table.base_views}"]
    assert tf.block(base, "view")["use_legacy_sql"] is False


def test_view_variables_are_the_tables_location_and_the_insight_tunables() -> None:
    view_vars = tf.load_dir()["locals"]["view_variables"]
    assert view_vars.startswith("${merge(try(local.system.insights,")
    assert "var.project_id" in view_vars and "local.system.bigquery.dataset" in view_vars
    assert "var.window_seconds" in view_vars and "var.allowed_lateness_seconds" in view_vars


@pytest.mark.parametrize("layer", ["base", "insights"])
def test_every_view_file_renders_with_the_templatefile_variables(layer: str) -> None:
    """templatefile() fails on an unknown ${name}; %{...} directives are not expected in SQL."""
    views = _views(layer)
    assert views, f"views/{layer} has no SQL files"
    variables = {
        **system.system().get("insights", {}),
        "project": "p",
        "dataset": "d",
        "window_seconds": 60,
        "allowed_lateness_seconds": 300,
    }
    for name, sql in views.items():
        rendered = string.Template(sql).substitute(variables)
        assert "%{" not in sql, name
        assert "`p.d." in rendered, name


def test_views_only_reference_the_layer_below() -> None:
    """Base views read tables only; insights read tables and base views: creation order holds."""
    tables = {s["table_id"] for s in _table_specs().values()}
    base = _views("base")
    for name, sql in base.items():
        assert set(VIEW_REF.findall(sql)) <= tables, name
    for name, sql in _views("insights").items():
        assert set(VIEW_REF.findall(sql)) <= tables | set(base), name


# -- alerting ---------------------------------------------------------------------------------------


def _log_alerts(config: dict[str, Any]) -> dict[str, Any]:
    alerts = config["locals"]["log_alerts"]
    return alerts[0] if isinstance(alerts, list) else alerts


def test_log_alerts_are_log_match_conditions(config: dict[str, Any]) -> None:
    """Log-match conditions: no log-based metric to race (provider issue #11102)."""
    assert "google_logging_metric" not in config["resource"]
    policy = tf.resource("google_monitoring_alert_policy", "log_match")
    assert policy["for_each"] == "${local.log_alerts}"
    condition = tf.block(tf.block(policy, "conditions"), "condition_matched_log")
    assert condition["filter"] == "${each.value.filter}"
    assert policy["notification_channels"] == "${local.notification_channels}"
    # Log-match policies must rate-limit their notifications.
    assert tf.block(tf.block(policy, "alert_strategy"), "notification_rate_limit")["period"]
    assert "${local.relauncher_name}" in config["locals"]["relauncher_log_filter"]


def test_exhausted_retries_raise_an_alert(config: dict[str, Any]) -> None:
    alert = _log_alerts(config)["retries_exhausted"]
    assert alert["severity"] == "CRITICAL"
    assert alert["filter"].startswith("${local.relauncher_log_filter} AND jsonPayload.message=")
    assert "${local.system.relauncher.exhausted_log_message}" in alert["filter"]


def test_every_relauncher_error_entry_raises_an_alert(config: dict[str, Any]) -> None:
    """A permanent launch error is logged at ERROR and acknowledged: no retry, no 5xx, only the log."""
    alert = _log_alerts(config)["relauncher_error_logs"]
    assert alert["filter"] == "${local.relauncher_log_filter} AND severity>=ERROR"
    # And the relauncher really logs at ERROR (what the filter matches).
    assert 'log("ERROR"' in (FUNCTION_DIR / "relauncher" / "logs.py").read_text()


def test_function_errors_raise_an_alert() -> None:
    alert = tf.resource("google_monitoring_alert_policy", "relauncher_errors")
    assert alert["notification_channels"] == "${local.notification_channels}"
    condition = tf.block(tf.block(alert, "conditions"), "condition_threshold")
    flt = condition["filter"]
    assert "run.googleapis.com/request_count" in flt and "5xx" in flt and "${local.relauncher_name}" in flt


def test_alerts_reach_someone(config: dict[str, Any]) -> None:
    """alert_email is required (no default) and every policy notifies its channel."""
    email = config["variable"]["alert_email"]
    assert "default" not in email and email["validation"]
    channel = tf.resource("google_monitoring_notification_channel", "email")
    assert channel["type"] == "email"
    labels = channel["labels"][0] if isinstance(channel["labels"], list) else channel["labels"]
    assert labels == {"email_address": "${var.alert_email}"}
    channels = config["locals"]["notification_channels"]
    assert "google_monitoring_notification_channel.email.id" in channels and "var.notification_channels" in channels
    policies = config["resource"]["google_monitoring_alert_policy"]
    # The stall policies add the relauncher's Pub/Sub channel (test_stall_detection.py).
    assert all("local.notification_channels" in p["notification_channels"] for p in policies.values())
    others = {p["notification_channels"] for n, p in policies.items() if n != "stall"}
    assert others == {"${local.notification_channels}"}


# -- checkov ----------------------------------------------------------------------------------------


def test_checkov_finds_nothing_unexplained() -> None:
    checkov = Path(os.environ.get("VIRTUAL_ENV", tf.ROOT / ".venv")) / "bin" / "checkov"
    if not checkov.exists():
        checkov = tf.ROOT / ".venv" / "bin" / "checkov"
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [str(checkov), "-d", str(tf.TERRAFORM), "--framework", "terraform", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], failed
    assert sum(r["summary"]["passed"] for r in reports) > 0
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    skipped = [c for r in reports for c in r["results"].get("skipped_checks", [])]
    assert skipped, "expected the documented inline skips"
    reasons = {c["check_id"]: (c.get("check_result") or {}).get("suppress_comment", "") for c in skipped}
    unexplained = [check for check, reason in reasons.items() if len(reason) < 20]
    assert unexplained == [], "every inline skip needs a written reason"
