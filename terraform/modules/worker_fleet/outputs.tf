output "asg_name" {
  description = "Worker Auto Scaling Group name."
  value       = aws_autoscaling_group.workers.name
}

output "asg_arn" {
  description = "Worker Auto Scaling Group ARN."
  value       = aws_autoscaling_group.workers.arn
}

output "lifecycle_hook_name" {
  description = "Termination lifecycle hook the worker completes after draining."
  value       = aws_autoscaling_lifecycle_hook.drain.name
}

output "launch_template_id" {
  description = "Worker launch template id."
  value       = aws_launch_template.worker.id
}

output "instance_role_name" {
  description = "IAM role of the worker instances."
  value       = aws_iam_role.worker.name
}

output "security_group_id" {
  description = "Worker security group."
  value       = aws_security_group.worker.id
}

output "user_data" {
  description = "Rendered bootstrap script (for review; contains no secrets)."
  value       = local.user_data
}

output "environment" {
  description = "Everything written to /etc/sdfleet/worker.env."
  value       = local.environment
}

output "log_group_name" {
  description = "CloudWatch Logs group the workers' journal is shipped to."
  value       = aws_cloudwatch_log_group.worker.name
}
