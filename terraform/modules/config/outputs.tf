output "kms_key_arn" {
  description = "ARN of the stack's KMS key."
  value       = aws_kms_key.main.arn
}

output "logs_kms_key_arn" {
  description = "The same key's ARN, available once its policy lets CloudWatch Logs use it for log groups named log_group_name_prefix* (pass it as a log group's kms_key_id)."
  value       = aws_kms_key.main.arn
  depends_on  = [aws_kms_key_policy.main]
}

output "log_group_name_prefix" {
  description = "Name prefix of the log groups the key may encrypt, e.g. /sdfleet-prod/."
  value       = local.log_group_name_prefix
}

output "ssm_path" {
  description = "SSM path of the settings (SDFLEET_SSM_PATH)."
  value       = var.ssm_path
}

output "ssm_parameter_arn_pattern" {
  description = "IAM resource pattern covering every parameter under ssm_path."
  value       = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:*:parameter${trimsuffix(var.ssm_path, "/")}/*"
}

output "ssm_path_arn" {
  description = "IAM resource for GetParametersByPath on ssm_path itself."
  value       = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:*:parameter${trimsuffix(var.ssm_path, "/")}"
}

output "parameter_names" {
  description = "Every parameter written, plain and secret."
  value       = concat([for p in aws_ssm_parameter.setting : p.name], [for p in aws_ssm_parameter.secret : p.name])
}

output "secret_parameter_arn_patterns" {
  description = "IAM patterns of the secret parameters (the KMS encryption context PARAMETER_ARN of each); components that need none are denied their decryption."
  value       = [for key in nonsensitive(keys(var.secret_parameters)) : "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:*:parameter${var.ssm_path}${key}"]
}
