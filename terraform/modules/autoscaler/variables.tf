variable "name_prefix" {
  description = "Prefix of every resource name, e.g. sdfleet-prod."
  type        = string
}

variable "lambda_zip_path" {
  description = "Path of the scaler Lambda zip built by `make lambda-zips`."
  type        = string
}

variable "lambda_handler" {
  description = "Handler of the scaler Lambda."
  type        = string
  default     = "autoscaler.handler.lambda_handler"
}

variable "lambda_architecture" {
  description = "Lambda CPU architecture; must match the wheels inside the zip."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of the scaler Lambda."
  type        = number
  default     = 256
  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "schedule_expression" {
  description = "EventBridge schedule of the scaler; each run samples the queues samples_per_invocation times."
  type        = string
  default     = "rate(1 minute)"
  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be rate(...) or cron(...)."
  }
}

variable "min_capacity" {
  description = "SDFLEET_SCALER_MIN_CAPACITY: fewest workers, even when idle."
  type        = number
  validation {
    condition     = var.min_capacity >= 0 && var.min_capacity <= 1000 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number between 0 and 1000."
  }
}

variable "max_capacity" {
  description = "SDFLEET_SCALER_MAX_CAPACITY: most workers."
  type        = number
  validation {
    condition     = var.max_capacity >= 0 && var.max_capacity <= 1000 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number between 0 and 1000."
  }
}

variable "target_wait_seconds" {
  description = "SDFLEET_SCALER_TARGET_WAIT_SECONDS: queue-wait SLO the fleet is sized for."
  type        = number
  validation {
    condition     = var.target_wait_seconds > 0 && var.target_wait_seconds <= 86400
    error_message = "target_wait_seconds must be in (0, 86400]."
  }
}

variable "idle_seconds_before_scale_in" {
  description = "SDFLEET_SCALER_IDLE_SECONDS_BEFORE_SCALE_IN: idle time before an idle worker may be removed."
  type        = number
  validation {
    condition     = var.idle_seconds_before_scale_in >= 0 && var.idle_seconds_before_scale_in <= 86400
    error_message = "idle_seconds_before_scale_in must be between 0 and 86400."
  }
}

variable "quiet_seconds_before_zero" {
  description = "SDFLEET_SCALER_QUIET_SECONDS_BEFORE_ZERO: least time with no work before the fleet goes to min (up to 10x when the recent gaps between work were longer)."
  type        = number
  validation {
    condition     = var.quiet_seconds_before_zero >= 0 && var.quiet_seconds_before_zero <= 86400
    error_message = "quiet_seconds_before_zero must be between 0 and 86400."
  }
}

variable "max_step" {
  description = "SDFLEET_SCALER_MAX_STEP: most workers added in one decision."
  type        = number
  validation {
    condition     = var.max_step >= 1 && var.max_step <= 1000 && floor(var.max_step) == var.max_step
    error_message = "max_step must be a whole number between 1 and 1000."
  }
}

variable "default_seconds_per_job" {
  description = "SDFLEET_SCALER_DEFAULT_SECONDS_PER_JOB: job duration assumed before workers report their own."
  type        = number
  validation {
    condition     = var.default_seconds_per_job > 0 && var.default_seconds_per_job <= 3600
    error_message = "default_seconds_per_job must be in (0, 3600]."
  }
}

variable "training_minutes_per_job" {
  description = "SDFLEET_SCALER_TRAINING_MINUTES_PER_JOB: expected run time of one training (minutes), the training lane's own duration estimate."
  type        = number
  validation {
    condition     = var.training_minutes_per_job > 0 && var.training_minutes_per_job <= 1440
    error_message = "training_minutes_per_job must be in (0, 1440]."
  }
}

variable "boot_seconds" {
  description = "SDFLEET_SCALER_BOOT_SECONDS: expected instance boot + model load time."
  type        = number
  validation {
    condition     = var.boot_seconds >= 0 && var.boot_seconds <= 3600
    error_message = "boot_seconds must be between 0 and 3600."
  }
}

variable "boot_deadline_seconds" {
  description = "SDFLEET_SCALER_BOOT_DEADLINE_SECONDS: an in-service instance with no ready worker this long after launch is marked unhealthy and replaced (0: never)."
  type        = number
  validation {
    condition     = var.boot_deadline_seconds >= 0 && var.boot_deadline_seconds <= 7200
    error_message = "boot_deadline_seconds must be between 0 and 7200."
  }
}

variable "samples_per_invocation" {
  description = "SDFLEET_SCALER_SAMPLES_PER_INVOCATION: queue samples per scheduled run."
  type        = number
  validation {
    condition     = var.samples_per_invocation >= 1 && var.samples_per_invocation <= 12 && floor(var.samples_per_invocation) == var.samples_per_invocation
    error_message = "samples_per_invocation must be a whole number between 1 and 12."
  }
}

variable "backlog_tolerance" {
  description = "SDFLEET_SCALER_BACKLOG_TOLERANCE: share (0..1) of the target wait the ready fleet's backlog may take before scale-out."
  type        = number
  validation {
    condition     = var.backlog_tolerance >= 0 && var.backlog_tolerance <= 1
    error_message = "backlog_tolerance must be between 0 and 1."
  }
}

variable "resource_environment" {
  description = "SDFLEET_* names of the resources the scaler reads (queues, tables, ASG, SSM path, region)."
  type        = map(string)
}

variable "asg_name" {
  description = "Name of the worker Auto Scaling Group the scaler drives."
  type        = string
}

variable "ssm_path" {
  description = "SSM path of the stack's settings (ends with /); the knobs are written under it and the scaler reads it."
  type        = string
  validation {
    condition     = can(regex("^/([A-Za-z0-9_.-]+/)+$", var.ssm_path))
    error_message = "ssm_path must look like /sdfleet/prod/ (leading and trailing slash)."
  }
}

variable "lifecycle_hook_name" {
  description = "The group's termination lifecycle hook (null: none); the scaler completes it for instances it replaced past the boot deadline."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "KMS key of the tables, settings and Lambda environment."
  type        = string
}

variable "queue_arns" {
  description = "Lane work queue ARNs whose depth the scaler samples."
  type        = list(string)
}

variable "dlq_arns" {
  description = "Dead-letter queue ARNs the scaler reads to fail dead-lettered jobs."
  type        = list(string)
}

variable "jobs_table_arn" {
  description = "Jobs table ARN (the scaler fails jobs whose message reached a DLQ)."
  type        = string
}

variable "idempotency_table_arn" {
  description = "Idempotency table (the purge of DELETE /me removes the user's rows)."
  type        = string
}

variable "bucket_arn" {
  description = "Data bucket (the purge of DELETE /me deletes users/<owner>/)."
  type        = string
}

variable "workers_table_arn" {
  description = "Worker heartbeat table ARN the scaler scans."
  type        = string
}

variable "memory_tag_key" {
  description = "ASG tag the scaler keeps its memory in (autoscaler/observe.py MEMORY_TAG); the only tag it may write."
  type        = string
  default     = "sdfleet:scaler-memory"
}

variable "ssm_path_arn" {
  description = "IAM resource of the SSM settings path."
  type        = string
}

variable "ssm_parameter_arn_pattern" {
  description = "IAM resource pattern of the parameters under the SSM path."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of sdfleet's own metrics."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the scaler's log."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "denied_parameter_arn_patterns" {
  description = "SSM parameter ARN patterns (other components' secrets) this role may not decrypt."
  type        = list(string)
  default     = ["arn:aws:ssm:*:*:parameter/none"]
}
