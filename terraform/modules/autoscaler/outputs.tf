output "function_name" {
  description = "Scaler Lambda name."
  value       = module.function.function_name
}

output "function_arn" {
  description = "Scaler Lambda ARN."
  value       = module.function.arn
}

output "environment" {
  description = "The scaler's environment as configured (knobs + resource names)."
  value       = local.environment
}

output "knob_environment" {
  description = "The scaling knobs as the scaler's environment variables (known at plan time)."
  value       = local.knob_environment
}
