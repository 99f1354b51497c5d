output "event_bus_name" {
  description = "The EventBridge bus of job events (source sdfleet.jobs, detail-type job.<status>)."
  value       = aws_cloudwatch_event_bus.jobs.name
}

output "event_bus_arn" {
  description = "ARN of the job events bus."
  value       = aws_cloudwatch_event_bus.jobs.arn
}

output "retry_queue_url" {
  description = "SQS queue of webhook deliveries waiting for their next attempt."
  value       = aws_sqs_queue.retry.id
}

output "dlq_url" {
  description = "SQS queue of webhook deliveries given up on, each with its reason."
  value       = aws_sqs_queue.dlq.id
}

output "secrets_parameter_arn_pattern" {
  description = "ARN pattern of the signing secrets (the ingest API may rotate them)."
  value       = local.secrets_arn
}

output "function_name" {
  description = "The notifier Lambda."
  value       = module.function.function_name
}
