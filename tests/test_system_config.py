"""The one source of truth: config/ renders completely and consistently for every consumer."""

from __future__ import annotations

import re

import pytest

from pipelines import system

DEPLOYMENT = {
    "project": "acme-shop",
    "bucket": "acme-shop-analytics",
    "worker_service_account": "dataflow-worker@acme-shop.iam.gserviceaccount.com",
    "subnetwork": "regions/europe-west1/subnetworks/dataflow",
    "max_workers": 4,
    "window_seconds": 60,
    "allowed_lateness_seconds": 3600,
    "orders_image": "europe-west1-docker.pkg.dev/acme-shop/ecommerce-analytics/orders:1",
    "shipping_image": "europe-west1-docker.pkg.dev/acme-shop/ecommerce-analytics/shipping:1",
}


def test_every_placeholder_is_supplied_by_names_or_deployment():
    supplied = set(system.template_variables(DEPLOYMENT))
    assert system.template_placeholders() <= supplied
    # and nothing in the deployment is unused: a stray key would hint at a typo on one side
    assert set(DEPLOYMENT) <= system.template_placeholders()


def test_launch_parameters_render_for_every_pipeline():
    rendered = system.render_launch_parameters(DEPLOYMENT)
    assert set(rendered) == set(system.pipeline_names())
    label = system.system()["managed_label"]
    for name, spec in rendered.items():
        pipeline = system.system()["pipelines"][name]
        assert spec["containerSpecGcsPath"] == f"gs://{DEPLOYMENT['bucket']}/templates/{pipeline['template']}.json"
        assert spec["parameters"]["input_subscription"] == (
            f"projects/{DEPLOYMENT['project']}/subscriptions/{pipeline['subscription']}"
        )
        assert spec["environment"]["additionalUserLabels"][label["key"]] == label["value"]
        assert spec["environment"]["maxWorkers"] == DEPLOYMENT["max_workers"]
        assert "$" not in repr(spec)


def test_missing_deployment_value_is_an_error_not_a_silent_blank():
    incomplete = {k: v for k, v in DEPLOYMENT.items() if k != "bucket"}
    with pytest.raises(KeyError):
        system.render_launch_parameters(incomplete)


def test_relauncher_settings_carry_policy_and_specs():
    settings = system.relauncher_settings(DEPLOYMENT, project="acme-shop", region="europe-west1")
    assert settings["project"] == "acme-shop" and settings["region"] == "europe-west1"
    for name, p in settings["pipelines"].items():
        policy = system.system()["pipelines"][name]["relaunch"]
        assert p["max_retries"] == policy["max_retries"]
        assert p["relaunch_on"] == policy["relaunch_on"]
        assert p["launch_parameter"] == system.render_launch_parameters(DEPLOYMENT)[name]


@pytest.mark.parametrize("pipeline", system.pipeline_names())
def test_job_names_are_deterministic_and_valid_dataflow_names(pipeline):
    names = [system.job_name(pipeline, n) for n in range(12)]
    assert len(set(names)) == 12
    assert names == [system.job_name(pipeline, n) for n in range(12)]
    for name in names:  # Dataflow: lowercase letters, digits, hyphens; starts with a letter
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name)
