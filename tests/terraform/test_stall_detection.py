"""Static checks of stall detection in terraform (issue 11): the alert policies per pipeline and
signal, the Pub/Sub notification channel and its topic, the notification agent's publisher grant,
and the second Eventarc trigger to the relauncher.

The google provider cannot be downloaded here, so the resources are read with python-hcl2 and
their arguments were checked against the provider's documentation. What the policies contain is
rendered by the provider-free modules/stall_policies, which these tests evaluate with the real
terraform binary, from config/system.json and from altered copies of it: a changed threshold,
duration or renotify interval must change the rendered policy.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pipelines import system
from tests.terraform import tfconfig as tf

STALL_MODULE = tf.TERRAFORM / "modules" / "stall_policies"
REGION = "northamerica-northeast1"
# The event type Eventarc gives a message published to a Pub/Sub topic.
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"

needs_terraform = pytest.mark.skipif(tf.TERRAFORM_BIN is None, reason="the terraform binary is not installed")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return tf.load_dir()


def _stall() -> dict[str, Any]:
    return system.system()["stall_detection"]


def _render(work: Path, stall_detection: dict[str, Any], pipelines: dict[str, Any]) -> dict[str, Any]:
    """Evaluate modules/stall_policies with terraform (a local apply: no provider, no cloud)."""
    work.mkdir(parents=True, exist_ok=True)
    module = {
        "source": os.path.relpath(STALL_MODULE, work),
        "stall_detection": stall_detection,
        "pipelines": pipelines,
        "region": REGION,
    }
    outputs = ("policies", "alerts_topic", "renotify_interval")
    main = {"module": {"m": module}, "output": {n: {"value": f"${{module.m.{n}}}"} for n in outputs}}
    (work / "main.tf.json").write_text(json.dumps(main))
    for args in (("init", "-backend=false", "-no-color"), ("apply", "-auto-approve", "-no-color")):
        result = tf.run_terraform(*args, cwd=work)
        assert result.returncode == 0, result.stdout + result.stderr
    result = tf.run_terraform("output", "-json", cwd=work)
    assert result.returncode == 0, result.stderr
    return {name: o["value"] for name, o in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if tf.TERRAFORM_BIN is None:
        pytest.skip("the terraform binary is not installed")
    return _render(tmp_path_factory.mktemp("stall"), _stall(), system.system()["pipelines"])


# -- the root configuration wires the module to config/system.json -------------------------------------


def test_module_reads_the_one_source_of_truth(config: dict[str, Any]) -> None:
    module = config["module"]["stall_policies"]
    assert module["source"] == "./modules/stall_policies"
    assert module["stall_detection"] == "${local.system.stall_detection}"
    assert module["pipelines"] == "${local.pipelines}"
    assert module["region"] == "${var.region}"
    assert config["locals"]["system"] == '${jsondecode(file("${path.module}/../config/system.json"))}'
    inputs = {k for k in module if k != "source"}
    assert inputs == set(tf.load_dir(STALL_MODULE)["variable"])


def test_no_threshold_is_typed_in_hcl() -> None:
    """Every number of seconds in the stall policies comes from the module's rendering."""
    policy = tf.resource("google_monitoring_alert_policy", "stall")
    condition = tf.block(tf.block(policy, "conditions"), "condition_threshold")
    assert condition["threshold_value"] == "${each.value.threshold_value}"
    assert condition["duration"] == "${each.value.duration}"
    assert condition["filter"] == "${each.value.filter}"
    strategy = tf.block(tf.block(policy, "alert_strategy"), "notification_channel_strategy")
    assert strategy["renotify_interval"] == "${module.stall_policies.renotify_interval}"
    configured = {str(v) for s in _stall()["signals"].values() for v in (s["threshold_seconds"], s["duration_seconds"])}
    configured.add(str(_stall()["renotify_seconds"]))
    # Literals such as "900" or "900s"; the alignment period and auto_close are not signal settings.
    for path in (tf.TERRAFORM / "stall_detection.tf", *STALL_MODULE.glob("*.tf")):
        lines = [line for line in path.read_text().splitlines() if not re.search(r"alignment_period|auto_close", line)]
        numbers = set(re.findall(r"(?<![\w.])(\d+)s?(?![\w.])", "\n".join(lines)))
        assert numbers & configured == set(), f"{path.name} types a configured value: {numbers & configured}"


# -- the rendered policies --------------------------------------------------------------------------------


def test_one_policy_per_pipeline_and_signal(rendered: dict[str, Any]) -> None:
    policies = rendered["policies"]
    expected = {(p, s) for p in system.pipeline_names() for s in _stall()["signals"]}
    assert {(v["pipeline"], v["signal"]) for v in policies.values()} == expected
    assert len(policies) == len(expected)
    for key, policy in policies.items():
        assert key == f"{policy['pipeline']}.{policy['signal']}"
        # The relauncher learns which pipeline and signal from policy.user_labels of the incident.
        assert policy["user_labels"] == {"pipeline": policy["pipeline"], "signal": policy["signal"]}


def test_thresholds_and_durations_are_the_configured_seconds(rendered: dict[str, Any]) -> None:
    for policy in rendered["policies"].values():
        signal = _stall()["signals"][policy["signal"]]
        assert policy["threshold_value"] == signal["threshold_seconds"]
        assert policy["duration"] == f"{signal['duration_seconds']}s"
    assert rendered["renotify_interval"] == f"{_stall()['renotify_seconds']}s"
    assert rendered["alerts_topic"] == _stall()["alerts_topic"]


def _job_name_pattern(filter_text: str) -> re.Pattern[str]:
    match = re.search(r'resource\.label\.job_name = monitoring\.regex\.full_match\("([^"]+)"\)', filter_text)
    assert match, filter_text
    return re.compile(match.group(1))


def test_filters_select_exactly_the_pipelines_resources(rendered: dict[str, Any]) -> None:
    pipelines = system.system()["pipelines"]
    for policy in rendered["policies"].values():
        signal = _stall()["signals"][policy["signal"]]
        pipeline = pipelines[policy["pipeline"]]
        flt = policy["filter"]
        assert f'metric.type = "{signal["metric_type"]}"' in flt
        assert f'resource.type = "{signal["resource_type"]}"' in flt
        if signal["resource_type"] == "pubsub_subscription":
            assert f'resource.label.subscription_id = "{pipeline["subscription"]}"' in flt
        else:
            assert f'resource.label.region = "{REGION}"' in flt
            pattern = _job_name_pattern(flt)
            # Every attempt's job name matches; no other pipeline's, and exactly the names the
            # relauncher itself reads an attempt from (pipelines.system.attempt_of).
            names = [system.job_name(p, a) for p in pipelines for a in (0, 1, 2, 17)]
            names += [pipeline["job_name_prefix"] + suffix for suffix in ("-a1-x", "-a", "-b1", "-a01x")]
            for name in names:
                matched = pattern.fullmatch(name) is not None
                assert matched == (system.attempt_of(policy["pipeline"], name) is not None), (flt, name)
            assert pattern.fullmatch(system.job_name(policy["pipeline"], 3))


@needs_terraform
@pytest.mark.parametrize("field", ["threshold_seconds", "duration_seconds"])
def test_changing_the_config_changes_the_rendered_policy(tmp_path: Path, field: str) -> None:
    stall = copy.deepcopy(_stall())
    signal = sorted(stall["signals"])[0]
    stall["signals"][signal][field] += 120
    stall["renotify_seconds"] += 600
    out = _render(tmp_path, stall, system.system()["pipelines"])
    for policy in out["policies"].values():
        value = stall["signals"][policy["signal"]][field]
        rendered = policy["threshold_value"] if field == "threshold_seconds" else int(policy["duration"].rstrip("s"))
        assert rendered == value
        if policy["signal"] == signal:
            assert rendered == _stall()["signals"][signal][field] + 120
    assert out["renotify_interval"] == f"{_stall()['renotify_seconds'] + 600}s"


@needs_terraform
def test_a_new_signal_or_pipeline_gets_its_policies(tmp_path: Path) -> None:
    stall = copy.deepcopy(_stall())
    stall["signals"]["backlog_age_strict"] = {**stall["signals"]["oldest_unacked_message_age"], "threshold_seconds": 60}
    pipelines = copy.deepcopy(system.system()["pipelines"])
    pipelines["returns"] = {
        **pipelines["orders"],
        "job_name_prefix": "returns-analytics",
        "subscription": "returns-sub",
    }
    out = _render(tmp_path, stall, pipelines)
    assert len(out["policies"]) == len(pipelines) * len(stall["signals"])
    strict = out["policies"]["returns.backlog_age_strict"]
    assert strict["threshold_value"] == 60 and 'subscription_id = "returns-sub"' in strict["filter"]


@needs_terraform
@pytest.mark.parametrize(
    ("signal_patch", "reason"),
    [
        ({"duration_seconds": 90}, "not a whole minute"),
        ({"duration_seconds": 0}, "no duration: a spike would open an incident"),
        ({"threshold_seconds": 0}, "no threshold"),
        ({"resource_type": "gce_instance"}, "a resource type the module cannot filter"),
    ],
    ids=["duration-90s", "duration-0", "threshold-0", "unknown-resource"],
)
def test_invalid_signal_settings_are_refused(tmp_path: Path, signal_patch: dict[str, Any], reason: str) -> None:
    """Cloud Monitoring accepts only whole-minute durations; the module refuses the rest at plan."""
    stall = copy.deepcopy(_stall())
    signal = sorted(stall["signals"])[0]
    stall["signals"][signal].update(signal_patch)
    with pytest.raises(AssertionError, match="Invalid value for variable"):
        _render(tmp_path, stall, system.system()["pipelines"])


def test_configured_durations_are_whole_minutes() -> None:
    for name, signal in _stall()["signals"].items():
        assert signal["duration_seconds"] > 0 and signal["duration_seconds"] % 60 == 0, name


# -- the policy resource ---------------------------------------------------------------------------------


def test_policies_notify_the_pubsub_channel_and_people(config: dict[str, Any]) -> None:
    policy = tf.resource("google_monitoring_alert_policy", "stall")
    assert policy["for_each"] == "${module.stall_policies.policies}"
    channels = policy["notification_channels"]
    assert channels.startswith("${concat([") and channels.endswith("local.notification_channels)}"), channels
    assert "google_monitoring_notification_channel.stall_incidents.id" in channels
    assert policy["user_labels"].replace(" ", "") == "${merge(local.labels,each.value.user_labels)}"
    condition = tf.block(tf.block(policy, "conditions"), "condition_threshold")
    assert condition["comparison"] == "COMPARISON_GT"
    aggregation = tf.block(condition, "aggregations")
    # Per series (one job or one subscription per incident, with its resource labels).
    assert "cross_series_reducer" not in aggregation and "group_by_fields" not in aggregation
    assert aggregation["per_series_aligner"] == "ALIGN_MAX"
    strategy = tf.block(policy, "alert_strategy")
    assert strategy["auto_close"]
    channel_strategy = tf.block(strategy, "notification_channel_strategy")
    # Only the relauncher is re-notified while an incident stays open.
    assert channel_strategy["notification_channel_names"] == [
        "${google_monitoring_notification_channel.stall_incidents.id}"
    ]
    assert "${time_sleep.alerts_publisher_ready}" in policy["depends_on"]
    assert tf.block(policy, "documentation")["content"]


def test_channel_is_pubsub_on_the_alerts_topic() -> None:
    channel = tf.resource("google_monitoring_notification_channel", "stall_incidents")
    assert channel["type"] == "pubsub"
    labels = channel["labels"][0] if isinstance(channel["labels"], list) else channel["labels"]
    assert labels == {"topic": "${google_pubsub_topic.alerts.id}"}


def test_alerts_topic_follows_the_topic_conventions() -> None:
    topic = tf.resource("google_pubsub_topic", "alerts")
    events = tf.resource("google_pubsub_topic", "events")
    assert topic["name"] == "${module.stall_policies.alerts_topic}"
    assert topic["kms_key_name"] == events["kms_key_name"] == "${var.kms_key_name}"
    assert "local.labels" in topic["labels"]
    assert topic["depends_on"] == events["depends_on"]
    # The alerts topic is not one of the pipelines' input topics.
    assert _stall()["alerts_topic"] not in {p["topic"] for p in system.system()["pipelines"].values()}


def test_notification_agent_may_publish_on_the_alerts_topic_only(config: dict[str, Any]) -> None:
    grant = tf.resource("google_pubsub_topic_iam_member", "monitoring_agent_publisher")
    assert grant["topic"] == "${google_pubsub_topic.alerts.name}"
    assert grant["role"] == "roles/pubsub.publisher"
    assert grant["member"] == "${local.monitoring_agent_member}"
    member = config["locals"]["monitoring_agent_member"]
    assert 'serviceAccount:${google_project_service_identity.agents["monitoring.googleapis.com"].email}' in member
    agents = tf.resource("google_project_service_identity", "agents")
    assert "monitoring.googleapis.com" in agents["for_each"]
    uses = [
        body
        for rtype, named in config["resource"].items()
        if rtype.endswith("_iam_member")
        for body in named.values()
        if body.get("member") == "${local.monitoring_agent_member}"
    ]
    assert uses == [grant], "the notification agent gets publisher on the alerts topic and nothing else"
    wait = tf.resource("time_sleep", "alerts_publisher_ready")
    assert wait["create_duration"] == "${var.iam_propagation_wait}"
    assert wait["depends_on"] == ["${google_pubsub_topic_iam_member.monitoring_agent_publisher}"]


# -- the second trigger ----------------------------------------------------------------------------------


def test_second_trigger_delivers_alerts_to_the_relauncher(config: dict[str, Any]) -> None:
    trigger = tf.resource("google_eventarc_trigger", "stall_incidents")
    criteria = trigger["matching_criteria"]
    assert [(c["attribute"], c["value"]) for c in criteria] == [("type", PUBSUB_PUBLISHED)]
    pubsub = tf.block(tf.block(trigger, "transport"), "pubsub")
    assert pubsub["topic"] == "${google_pubsub_topic.alerts.id}"
    run = tf.block(tf.block(trigger, "destination"), "cloud_run_service")
    assert run["service"] == "${basename(google_cloudfunctions2_function.relauncher.service_config[0].service)}"
    assert run["region"] == "${var.region}"
    assert trigger["location"] == "${var.region}"
    # Same identity and first-apply ordering as the function's own trigger.
    first = tf.block(tf.resource("google_cloudfunctions2_function", "relauncher"), "event_trigger")
    assert trigger["service_account"] == "${google_service_account.trigger.email}"
    assert first["service_account_email"] == "${google_service_account.trigger.email}"
    assert "${time_sleep.eventarc_agent_ready}" in trigger["depends_on"]
    assert "${google_cloud_run_v2_service_iam_member.trigger_invoker}" in trigger["depends_on"]
    # No retry_policy: Eventarc's default retries with backoff for 24 h (max_attempts would cap them).
    assert "retry_policy" not in trigger


def test_outputs_name_the_stall_resources(config: dict[str, Any]) -> None:
    outputs = config["output"]
    assert outputs["alerts_topic"]["value"] == "${google_pubsub_topic.alerts.id}"
    assert outputs["stall_trigger_id"]["value"] == "${google_eventarc_trigger.stall_incidents.id}"
    alerts = outputs["alert_policy_ids"]["value"]
    alerts = alerts[0] if isinstance(alerts, list) else alerts
    assert "google_monitoring_alert_policy.stall" in alerts["stall"]


# -- review items -------------------------------------------------------------------------------------------

RETENTION_MIN, RETENTION_MAX = 600, 31 * 24 * 3600  # Pub/Sub: 10 minutes to 31 days


def _retention_valid(value: str, condition: str) -> bool:
    """The variable's validation, evaluated for one value (its two numeric bounds and its regex)."""
    pattern = re.search(r'regex\("([^"]+)"', condition).group(1).replace("\\\\", "\\")
    low, high = (int(n) for n in re.findall(r"[<>]= (\d+)", condition))
    if not re.search(pattern, value):
        return False
    return low <= int(value[:-1]) <= high


@pytest.mark.parametrize(
    ("value", "valid"),
    [("600s", True), ("604800s", True), (f"{RETENTION_MAX}s", True), (f"{RETENTION_MAX + 1}s", False), ("599s", False)],
)
def test_message_retention_accepts_up_to_31_days(config: dict[str, Any], value: str, valid: bool) -> None:
    (validation,) = config["variable"]["subscription_message_retention"]["validation"]
    condition = validation["condition"]
    assert re.findall(r"[<>]= (\d+)", condition) == [str(RETENTION_MIN), str(RETENTION_MAX)]
    assert _retention_valid(value, condition) is valid


def test_cmek_agents_are_created_not_guessed(config: dict[str, Any]) -> None:
    agents = config["locals"]["kms_agents"]
    for service in ("artifactregistry", "dataflow"):
        assert f'google_project_service_identity.agents["{service}.googleapis.com"].email' in agents
    assert "gcp-sa-artifactregistry" not in agents and "dataflow-service-producer-prod" not in agents


def test_readme_signal_table_states_the_configured_defaults() -> None:
    text = (tf.ROOT / "README.md").read_text()
    section = text[text.index("### Signals and their defaults") : text.index("<!-- /section:stalled-jobs -->")]
    rows = {line.split("|")[1].strip().strip("`"): line for line in section.splitlines() if line.startswith("| `")}
    assert set(rows) == set(_stall()["signals"])
    for name, signal in _stall()["signals"].items():
        cells = [c.strip() for c in rows[name].split("|")]
        assert signal["metric_type"] in cells[2]
        assert cells[3:5] == [f"{signal['threshold_seconds']} s", f"{signal['duration_seconds']} s"]
    assert f"({_stall()['renotify_seconds']} s)" in section and _stall()["alerts_topic"] in section
