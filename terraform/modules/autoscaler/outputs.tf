output "function_name" {
  description = "Scaler Lambda name."
  value       = module.function.function_name
}

output "function_arn" {
  description = "Scaler Lambda ARN."
  value       = module.function.arn
}

output "environment" {
  description = "The scaler's environment as configured (resource names and the SSM path; no knobs)."
  value       = local.environment
}

output "knob_parameters" {
  description = "The scaling knobs as written to SSM under ssm_path: ScalerSettings field name => value (known at plan time)."
  value       = local.knob_parameters
}
