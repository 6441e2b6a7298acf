"""How a launch becomes a local job: template and options come from the rendered launch spec."""

from __future__ import annotations

import pytest

from localdev.demo import DemoConfig, deployment
from localdev.local_jobs import job_argv, pipeline_of_template, template_of
from pipelines import system


@pytest.mark.parametrize("pipeline", system.pipeline_names())
def test_job_argv_runs_the_templates_main_with_every_launch_parameter(pipeline):
    spec = system.render_launch_parameters(deployment(DemoConfig()))[pipeline]
    template = system.system()["pipelines"][pipeline]["template"]
    assert template_of(spec) == template
    assert pipeline_of_template(template) == pipeline
    argv = job_argv("python", spec, ["--direct_num_workers", "1"])
    assert argv[:3] == ["python", "-m", f"pipelines.{template}.main"]
    assert {"--runner", "DirectRunner", "--streaming"} <= set(argv)
    for key, value in spec["parameters"].items():
        i = argv.index(f"--{key}")
        assert argv[i + 1] == str(value)
    assert argv[-2:] == ["--direct_num_workers", "1"]


def test_unknown_template_is_refused():
    with pytest.raises(ValueError, match="unknown template"):
        template_of({"containerSpecGcsPath": "gs://b/templates/nope.json"})
