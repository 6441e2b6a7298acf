# Two commands matter: `make demo` and `make test`. Everything else is for developers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The venv is rebuilt whenever requirements.txt changes.
STAMP := $(VENV)/.installed-$(shell cat requirements.txt 2>/dev/null | sha1sum | cut -c1-12)

# Deployment values for the flex-template build (see README "Deploy").
PROJECT ?= $(shell gcloud config get-value project 2>/dev/null)
REGION ?= europe-west1
BUCKET ?= $(PROJECT)-ecommerce-analytics
REPOSITORY ?= ecommerce-analytics
# Names the build for people only (jobs launch by digest); never "latest".
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)
# Base images of pipelines/*/Dockerfile, by digest only (`make templates` refuses tags), e.g.
#   gcloud container images describe gcr.io/dataflow-templates-base/python311-template-launcher-base:latest --format='value(image_summary.fully_qualified_digest)'
#   docker buildx imagetools inspect apache/beam_python3.11_sdk:2.77.0   (the apache-beam pin)
LAUNCHER_BASE_IMAGE ?=
BEAM_BASE_IMAGE ?=
# Where `make templates` records the pushed images' digests for terraform (var.image_digests).
IMAGE_DIGESTS_FILE ?= terraform/images.auto.tfvars.json
# Terraform creates this build account; it may push to the repository and write the bucket only.
BUILDER_SA ?= ecommerce-builder@$(PROJECT).iam.gserviceaccount.com

.PHONY: help venv test lint demo bench report schemas check-base-images templates clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP) ## Create or refresh .venv from the pinned requirements
	@# The repo root and functions/relauncher on the venv's path: the local tools (demo, first launch,
	@# ops) reuse the relauncher's own adapters, which are deployed from functions/relauncher alone.
	@$(PY) -c "import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], 'ecommerce-analytics.pth').write_text('$(CURDIR)\n$(CURDIR)/functions/relauncher\n')"

lint: venv ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: venv ## Lint, then run the whole test suite (starts and stops its own emulators)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

demo: venv ## Run the whole self-healing system locally, with injected failures
	$(PY) -m localdev.demo

# The benchmark's peers (bench/requirements.txt), installed into the same venv once per change of that file.
BENCH_STAMP := $(VENV)/.bench-$(shell cat bench/requirements.txt 2>/dev/null | sha1sum | cut -c1-12)

$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	@rm -f $(VENV)/.bench-*
	@touch $@

bench: venv $(BENCH_STAMP) ## Benchmarks: pipeline cost per event and vs peers, relauncher latency, orchestration cost
	$(PY) -m bench

report: venv ## Render the insights HTML report (seeded sample, local emulator; --project P: real data)
	$(PY) -m insights.report

schemas: venv ## Regenerate terraform/schemas/*.json from the event contracts
	$(PY) -m pipelines.tables --write terraform/schemas

check-base-images: ## Refuse base images that are not pinned by digest (run by templates)
	@[[ "$(LAUNCHER_BASE_IMAGE)" =~ ^gcr\.io/dataflow-templates-base/python311-template-launcher-base@sha256:[0-9a-f]{64}$$ ]] \
	  || { echo "LAUNCHER_BASE_IMAGE must be gcr.io/dataflow-templates-base/python311-template-launcher-base@sha256:<64 hex>, got '$(LAUNCHER_BASE_IMAGE)'" >&2; exit 1; }
	@[[ "$(BEAM_BASE_IMAGE)" =~ ^apache/beam_python3\.11_sdk@sha256:[0-9a-f]{64}$$ ]] \
	  || { echo "BEAM_BASE_IMAGE must be apache/beam_python3.11_sdk@sha256:<64 hex>, got '$(BEAM_BASE_IMAGE)'" >&2; exit 1; }
	@[[ "$(IMAGE_TAG)" != latest ]] || { echo "IMAGE_TAG must not be latest" >&2; exit 1; }

templates: check-base-images ## Build and upload both flex templates, record their digests for terraform (needs gcloud auth and PROJECT)
	@for p in orders shipping; do \
	  gcloud builds submit --project=$(PROJECT) --region=$(REGION) \
	    --config=pipelines/cloudbuild.yaml \
	    --service-account=projects/$(PROJECT)/serviceAccounts/$(BUILDER_SA) \
	    --gcs-source-staging-dir=gs://$(BUCKET)/source \
	    --substitutions=_PIPELINE=$$p,_REGION=$(REGION),_REPOSITORY=$(REPOSITORY),_BUCKET=$(BUCKET),_TAG=$(IMAGE_TAG),_LAUNCHER_BASE_IMAGE=$(LAUNCHER_BASE_IMAGE),_BEAM_BASE_IMAGE=$(BEAM_BASE_IMAGE) . || exit 1; \
	done
	@{ printf '{"image_digests": {'; sep=; for p in orders shipping; do \
	    d=$$(gcloud artifacts docker images describe $(REGION)-docker.pkg.dev/$(PROJECT)/$(REPOSITORY)/$$p:$(IMAGE_TAG) \
	         --project=$(PROJECT) --format='value(image_summary.digest)') || exit 1; \
	    printf '%s"%s": "%s"' "$$sep" "$$p" "$$d"; sep=', '; done; printf '}}\n'; } > $(IMAGE_DIGESTS_FILE).tmp \
	  && mv $(IMAGE_DIGESTS_FILE).tmp $(IMAGE_DIGESTS_FILE) && cat $(IMAGE_DIGESTS_FILE)
	@echo "Now run: terraform -chdir=terraform apply   (records the digests in the launch configuration)"

clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build
