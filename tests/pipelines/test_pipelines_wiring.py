"""The names that must agree across files: template parameters, options, metadata, schemas, images."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import system, tables
from pipelines.common.options import AnalyticsOptions, parameter_names, split_dataset
from pipelines.orders.options import OrdersOptions
from pipelines.shipping.options import ShippingOptions

REPO = Path(__file__).resolve().parents[2]
PIPELINES = system.pipeline_names()


def rendered_launch_parameters() -> dict[str, dict]:
    names = system.template_variables({})  # what system.json provides; the rest is per deployment
    deployment = {n: f"my-{n.replace('_', '-')}" for n in system.template_placeholders() if n not in names}
    deployment["max_workers"] = 3
    return system.render_launch_parameters(deployment)


def metadata(pipeline: str) -> dict:
    template = system.system()["pipelines"][pipeline]["template"]
    return json.loads((REPO / "pipelines" / template / "metadata.json").read_text())


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_metadata_parameters_equal_options_equal_launch_template(pipeline: str) -> None:
    launch_keys = set(rendered_launch_parameters()[pipeline]["parameters"])
    metadata_names = [p["name"] for p in metadata(pipeline)["parameters"]]
    assert len(metadata_names) == len(set(metadata_names))
    assert set(metadata_names) == set(parameter_names()) == launch_keys


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_metadata_regexes_accept_what_the_launch_template_passes(pipeline: str) -> None:
    params = rendered_launch_parameters()[pipeline]["parameters"]
    params = {**params, "window_seconds": "60", "allowed_lateness_seconds": "3600"}  # terraform passes numbers
    for p in metadata(pipeline)["parameters"]:
        assert {"name", "label", "helpText", "isOptional"} <= set(p)
        for regex in p.get("regexes", []):
            assert re.fullmatch(regex, params[p["name"]]), (p["name"], params[p["name"]])


@pytest.mark.parametrize("options_class", [OrdersOptions, ShippingOptions])
def test_options_parse_the_launch_parameters(options_class: type[AnalyticsOptions]) -> None:
    params = rendered_launch_parameters()["orders"]["parameters"]
    opts = options_class([f"--{k}={v if 'seconds' not in k else 42}" for k, v in params.items()])
    assert opts.input_subscription == params["input_subscription"]
    assert opts.output_dataset == params["output_dataset"]
    assert opts.window_seconds == 42 and opts.allowed_lateness_seconds == 42
    assert split_dataset("my-project.ecommerce_analytics") == ("my-project", "ecommerce_analytics")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_template_directories_have_entry_point_dockerfile_and_metadata(pipeline: str) -> None:
    template = system.system()["pipelines"][pipeline]["template"]
    directory = REPO / "pipelines" / template
    dockerfile = (directory / "Dockerfile").read_text()
    assert "gcr.io/dataflow-templates-base/python311-template-launcher-base" in dockerfile
    assert f"FLEX_TEMPLATE_PYTHON_PY_FILE=${{WORKDIR}}/pipelines/{template}/main.py" in dockerfile
    assert "COPY config/" in dockerfile and "COPY pipelines/" in dockerfile
    assert (directory / "main.py").exists()
    launch = rendered_launch_parameters()[pipeline]
    assert launch["containerSpecGcsPath"].endswith(f"/templates/{template}.json")


def test_cloud_build_builds_the_template_the_launch_parameters_point_to() -> None:
    build = yaml.safe_load((REPO / "pipelines" / "cloudbuild.yaml").read_text())
    assert {"_PIPELINE", "_REGION", "_REPOSITORY", "_BUCKET", "_TAG"} <= set(build["substitutions"])
    template_step = next(s for s in build["steps"] if s["id"] == "build-template")
    assert template_step["entrypoint"] == "bash" and template_step["args"][0] == "-c"
    command = template_step["args"][1].split()
    assert command[:5] == [
        "gcloud",
        "dataflow",
        "flex-template",
        "build",
        "gs://${_BUCKET}/templates/${_PIPELINE}.json",
    ]
    assert "--metadata-file=pipelines/${_PIPELINE}/metadata.json" in command
    assert "--sdk-language=PYTHON" in command


def test_terraform_schemas_are_current() -> None:
    directory = REPO / "terraform" / "schemas"
    expected = tables.render()
    on_disk = {p.name: p.read_text() for p in directory.glob("*.json")}
    assert on_disk == expected, "run `make schemas` and commit terraform/schemas"


def test_readme_documents_every_contract_field_and_reason_code() -> None:
    from pipelines import contracts as c
    from pipelines import validation

    text = (REPO / "README.md").read_text()
    section = text[text.index("<!-- section:contracts -->") : text.index("<!-- /section:contracts -->")]
    for f in (*c.ORDER_EVENT_FIELDS, *c.ORDER_ITEM_FIELDS, *c.SHIPMENT_EVENT_FIELDS, *c.METADATA_FIELDS):
        assert f"`{f.name}`" in section, f.name
    for reason in validation.REASONS:
        assert f"`{reason}`" in section, reason


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {n.split("[")[0].lower(): v for n, v in (line.split("==") for line in lines if line)}


def test_image_requirements_pin_the_root_versions_and_cover_every_runtime_import():
    """pipelines/requirements.txt is what the flex-template image installs: lean, and never a different version."""
    repo = Path(__file__).resolve().parents[2]
    root, image = _pins(repo / "requirements.txt"), _pins(repo / "pipelines" / "requirements.txt")
    assert image and all(root.get(name) == version for name, version in image.items())
    provided = {  # import prefix -> distribution
        "google.cloud.bigquery_storage_v1": "google-cloud-bigquery-storage",
        "google.protobuf": "protobuf",
        "grpc": "grpcio",
        "apache_beam": "apache-beam",
        "orjson": "orjson",
        "google.cloud.bigquery": "google-cloud-bigquery",
        "google.api_core": "google-api-core",
        "google.auth": "google-auth",
    }
    for path in (repo / "pipelines").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [f"{node.module}.{a.name}" for a in node.names]
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("pipelines", "__future__"):
                    continue
                dist = next((d for prefix, d in provided.items() if (module + ".").startswith(prefix + ".")), None)
                assert dist in image, f"{path.relative_to(repo)} imports {module}: add it to pipelines/requirements.txt"
    for dockerfile in (repo / "pipelines").glob("*/Dockerfile"):
        assert "COPY pipelines/requirements.txt" in dockerfile.read_text()
