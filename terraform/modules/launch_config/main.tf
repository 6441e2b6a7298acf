# Renders the one launch spec every launcher uses (Workflows first launch, relauncher) from the
# project's single source of truth in config/. Keeping this provider-free lets a test evaluate it
# with a real terraform binary and compare it with pipelines.system.relauncher_settings().
locals {
  system = jsondecode(file("${path.module}/../../../config/system.json"))

  # Exactly the placeholders of config/launch_parameters.json.tftpl (templatefile() fails on a
  # missing one); per-pipeline keys are derived from the pipeline names so a new pipeline in
  # system.json needs no edit here.
  template_variables = merge(
    {
      project                  = var.project
      bucket                   = var.bucket
      worker_service_account   = var.worker_service_account
      subnetwork               = var.subnetwork
      max_workers              = var.max_workers
      window_seconds           = var.window_seconds
      allowed_lateness_seconds = var.allowed_lateness_seconds
      dataset                  = local.system.bigquery.dataset
      managed_label_key        = local.system.managed_label.key
      managed_label_value      = local.system.managed_label.value
      # JSON object members ("key": "value", ...) placed before the fixed labels inside
      # additionalUserLabels; pipelines.system.user_label_members renders the same text.
      user_label_members = join("", [for k in sort(keys(var.labels)) : "${jsonencode(k)}: ${jsonencode(var.labels[k])}, "])
      kms_key_name       = var.kms_key_name == null ? "" : var.kms_key_name
    },
    { for name in keys(local.system.pipelines) : "${name}_image" => var.images[name] },
    { for name in keys(local.system.pipelines) : "${name}_subscription" => var.subscriptions[name] },
  )

  launch_parameters = jsondecode(templatefile("${path.module}/../../../config/launch_parameters.json.tftpl", local.template_variables))

  # Same structure as pipelines.system.relauncher_settings(); the relauncher reads it from the
  # RELAUNCHER_CONFIG env var and the first-launch workflow from LAUNCH_CONFIG.
  relauncher_config = {
    project               = var.project
    region                = var.region
    collection            = local.system.firestore.collection
    managed_label         = local.system.managed_label
    exhausted_log_message = local.system.relauncher.exhausted_log_message
    audit_retention_days  = coalesce(var.audit_retention_days, local.system.relauncher.audit_retention_days)
    pipelines = {
      for name, p in local.system.pipelines : name => {
        job_name_prefix        = p.job_name_prefix
        max_retries            = p.relaunch.max_retries
        relaunch_on            = p.relaunch.relaunch_on
        healthy_period_seconds = p.relaunch.healthy_period_seconds
        launch_parameter       = local.launch_parameters[name]
        stall                  = p.stall
      }
    }
    # Same as pipelines.system.stall_detection_settings(): the signals without their $comment.
    stall_detection = {
      alerts_topic     = local.system.stall_detection.alerts_topic
      renotify_seconds = local.system.stall_detection.renotify_seconds
      signals          = local.system.stall_detection.signals
    }
  }
}
