variable "name_prefix" {
  description = "Prefix of every resource name (e.g. sdfleet-prod)."
  type        = string
}

variable "lambda_zip_path" {
  description = "The notifier's deployment zip (make lambda-zips: build/lambda/notifier.zip)."
  type        = string
}

variable "lambda_handler" {
  description = "Handler of the notifier function."
  type        = string
  default     = "notifier_lambda.handler.handler"
}

variable "lambda_architecture" {
  description = "Lambda architecture (the zip is built for x86_64)."
  type        = string
  default     = "x86_64"
}

variable "lambda_memory_mb" {
  description = "Memory of the notifier function."
  type        = number
  default     = 256
}

variable "lambda_timeout_seconds" {
  description = "Timeout of one notifier invocation (a batch of webhook attempts)."
  type        = number
  default     = 120
  validation {
    condition     = var.lambda_timeout_seconds >= 30 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be in 30..900."
  }
}

variable "webhook_timeout_seconds" {
  description = "Seconds a receiver has to answer one webhook attempt."
  type        = number
  default     = 10
  validation {
    condition     = var.webhook_timeout_seconds > 0 && var.webhook_timeout_seconds <= 30
    error_message = "webhook_timeout_seconds must be in (0, 30]."
  }
}

variable "webhook_retry_base_seconds" {
  description = "First webhook retry delay; each later one doubles (with jitter)."
  type        = number
  default     = 30
  validation {
    condition     = var.webhook_retry_base_seconds >= 0 && var.webhook_retry_base_seconds <= 3600
    error_message = "webhook_retry_base_seconds must be in 0..3600."
  }
}

variable "webhook_delivery_window_seconds" {
  description = "How long a webhook is retried before it is dead-lettered (at most a day)."
  type        = number
  default     = 86400
  validation {
    condition     = var.webhook_delivery_window_seconds >= 60 && var.webhook_delivery_window_seconds <= 86400
    error_message = "webhook_delivery_window_seconds must be in 60..86400."
  }
}

variable "jobs_table_arn" {
  description = "ARN of the jobs table."
  type        = string
}

variable "jobs_stream_arn" {
  description = "ARN of the jobs table's stream (NEW_AND_OLD_IMAGES)."
  type        = string
}

variable "secrets_path" {
  description = "SSM path of the owners' webhook signing secrets (SecureStrings), ending in /."
  type        = string
  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]*/$", var.secrets_path))
    error_message = "secrets_path must start and end with / (e.g. /sdfleet-prod/webhook-secrets/)."
  }
}

variable "kms_key_arn" {
  description = "The fleet's CMK: queues, secrets and the Lambda environment."
  type        = string
}

variable "resource_environment" {
  description = "Environment variables naming the fleet's resources (SDFLEET_JOBS_TABLE, ...)."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Days the notifier's logs are kept."
  type        = number
  default     = 30
}

variable "create_event_source_mappings" {
  description = "Connect the stream and the retry queue to the function. Off in local mode: the emulator cannot run Lambdas and would drain both; `sdfleet up` polls them instead."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
