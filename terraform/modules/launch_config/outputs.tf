output "system" {
  description = "The parsed config/system.json."
  value       = local.system
}

output "template_variable_names" {
  description = "Names passed to templatefile(); a test checks they equal the template's placeholders."
  value       = sort(keys(local.template_variables))
}

output "launch_parameters" {
  description = "Rendered launchParameter (without jobName) per pipeline."
  value       = local.launch_parameters
}

output "relauncher_config" {
  description = "The relauncher's (and the first-launch workflow's) whole configuration."
  value       = local.relauncher_config
}
