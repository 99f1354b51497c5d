output "region" {
  description = "AWS region."
  value       = local.region
}

output "interactive_queue_url" {
  description = "Interactive lane queue URL."
  value       = module.queues.queue_urls["interactive"]
}

output "batch_queue_url" {
  description = "Batch lane queue URL."
  value       = module.queues.queue_urls["batch"]
}

output "interactive_dlq_url" {
  description = "Interactive lane dead-letter queue URL."
  value       = module.queues.dlq_urls["interactive"]
}

output "training_queue_url" {
  description = "Training lane queue URL (LoRA trainings from the API)."
  value       = module.queues.queue_urls["training"]
}

output "training_dlq_url" {
  description = "Training lane dead-letter queue URL."
  value       = module.queues.dlq_urls["training"]
}

output "batch_dlq_url" {
  description = "Batch lane dead-letter queue URL."
  value       = module.queues.dlq_urls["batch"]
}

output "bucket" {
  description = "Data bucket."
  value       = module.storage.bucket
}

output "jobs_table" {
  description = "Jobs table."
  value       = module.storage.jobs_table
}

output "workers_table" {
  description = "Worker heartbeat table."
  value       = module.storage.workers_table
}

output "idempotency_table" {
  description = "Idempotency table."
  value       = module.storage.idempotency_table
}

output "user_pool_id" {
  description = "Cognito user pool id."
  value       = module.api.user_pool_id
}

output "user_pool_client_id" {
  description = "Cognito web client id."
  value       = module.api.user_pool_client_id
}

output "asg_name" {
  description = "Worker Auto Scaling Group."
  value       = module.worker_fleet.asg_name
}

output "lifecycle_hook_name" {
  description = "Termination lifecycle hook the workers complete."
  value       = module.worker_fleet.lifecycle_hook_name
}

output "worker_log_group" {
  description = "CloudWatch Logs group of the workers' journal (streams worker/<instance id> and bootstrap/<instance id>)."
  value       = module.worker_fleet.log_group_name
}

output "launch_template_id" {
  description = "Worker launch template."
  value       = module.worker_fleet.launch_template_id
}

output "ssm_path" {
  description = "SSM path of the settings (SDFLEET_SSM_PATH)."
  value       = module.config.ssm_path
}

output "kms_key_arn" {
  description = "The stack's KMS key."
  value       = module.config.kms_key_arn
}

output "api_endpoint" {
  description = "Base URL of the HTTP API."
  value       = module.api.api_endpoint
}

output "ingest_function_name" {
  description = "Ingest Lambda."
  value       = module.api.function_name
}

output "scaler_function_name" {
  description = "Scaler Lambda."
  value       = module.autoscaler.function_name
}

output "scaler_environment" {
  description = "The scaler Lambda's environment (knobs + resource names)."
  value       = module.autoscaler.environment
}

output "worker_knobs" {
  description = "The workers' settings that name no resource (model, device, timings), as written to their worker.env; known at plan time."
  value       = local.worker_knobs
}

output "scaler_knobs" {
  description = "The scaling knobs as Terraform writes them to SSM under ssm_path (ScalerSettings field name => value); known at plan time."
  value       = module.autoscaler.knob_parameters
}

output "worker_environment" {
  description = "What the workers' /etc/sdfleet/worker.env holds."
  value       = module.worker_fleet.environment
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.observability.dashboard_name
}

output "frontend_origin" {
  description = "Web app origin (null without the frontend)."
  value       = var.enable_frontend ? module.frontend[0].origin : null
}

output "event_bus_name" {
  description = "EventBridge bus of job events (source sdfleet.jobs, detail-type job.<status>)."
  value       = module.notifier.event_bus_name
}

output "webhook_retry_queue_url" {
  description = "SQS queue of webhook deliveries waiting for their next attempt."
  value       = module.notifier.retry_queue_url
}

output "webhook_dlq_url" {
  description = "SQS queue of webhook deliveries given up on, each with its reason."
  value       = module.notifier.dlq_url
}
