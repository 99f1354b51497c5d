variable "name_prefix" {
  description = "Prefix of the dashboard and alarm names, e.g. sdfleet-prod."
  type        = string
}

variable "queue_names" {
  description = "Lane name -> work queue name."
  type        = map(string)
}

variable "dlq_names" {
  description = "Lane name -> dead-letter queue name."
  type        = map(string)
}

variable "asg_name" {
  description = "Worker Auto Scaling Group name."
  type        = string
}

variable "scaler_function_name" {
  description = "Scaler Lambda name (its errors raise an alarm)."
  type        = string
}

variable "ingest_function_name" {
  description = "Ingest Lambda name (shown on the dashboard)."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of sdfleet's own metrics (JobLatencySeconds, JobsSucceeded, JobsFailed)."
  type        = string
}

variable "oldest_message_slo_seconds" {
  description = "Alarm when a lane's oldest message is older than this."
  type        = map(number)
  default     = { interactive = 300, batch = 3600 }
  validation {
    condition     = alltrue([for v in values(var.oldest_message_slo_seconds) : v >= 60])
    error_message = "oldest_message_slo_seconds values must be >= 60."
  }
}

variable "hourly_price_per_worker" {
  description = "Assumed USD per worker-hour for the cost-per-hour widget (blend of on-demand and spot)."
  type        = number
  default     = 0.5
  validation {
    condition     = var.hourly_price_per_worker >= 0
    error_message = "hourly_price_per_worker must be >= 0."
  }
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when an alarm fires or clears."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every alarm."
  type        = map(string)
  default     = {}
}

variable "scaler_service_name" {
  description = "POWERTOOLS_SERVICE_NAME of the scaler (dimension of its metrics)."
  type        = string
  default     = "sdfleet-scaler"
}

variable "worker_service_name" {
  description = "POWERTOOLS_SERVICE_NAME of the workers (dimension of JobLatencySeconds and JobsFailed)."
  type        = string
  default     = "sdfleet-worker"
}
