variable "name_prefix" {
  description = "Prefix of every resource name, e.g. sdfleet-prod."
  type        = string
}

variable "lambda_zip_path" {
  description = "Path of the ingest Lambda zip built by `make lambda-zips`."
  type        = string
}

variable "lambda_handler" {
  description = "Handler of the ingest Lambda."
  type        = string
  default     = "ingest_lambda.handler.lambda_handler"
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
  description = "Memory of the ingest Lambda (CPU scales with it)."
  type        = number
  default     = 512
  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of the ingest Lambda; API Gateway gives up after 30 s anyway."
  type        = number
  default     = 15
  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 30
    error_message = "lambda_timeout_seconds must be between 1 and 30."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the ingest Lambda; -1 leaves it unreserved (new accounts cannot reserve)."
  type        = number
  default     = -1
  validation {
    condition     = var.reserved_concurrency >= -1
    error_message = "reserved_concurrency must be -1 (unreserved) or >= 0."
  }
}

variable "environment_variables" {
  description = "SDFLEET_* environment of the ingest Lambda (names from sdfleet/env.py)."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "KMS key of the tables, bucket, settings and Lambda environment."
  type        = string
}

variable "jobs_table_arn" {
  description = "Jobs table ARN."
  type        = string
}

variable "idempotency_table_arn" {
  description = "Idempotency table ARN."
  type        = string
}

variable "queue_arns" {
  description = "Lane work queue ARNs the Lambda sends to (the web API submits to the interactive lane only)."
  type        = list(string)
}

variable "workers_table_arn" {
  description = "Worker heartbeat table ARN (scanned for job ETAs)."
  type        = string
}

variable "bucket_arn" {
  description = "Data bucket ARN; the Lambda presigns and deletes under users/ only."
  type        = string
}

variable "ssm_path_arn" {
  description = "IAM resource of the SSM settings path."
  type        = string
}

variable "ssm_parameter_arn_pattern" {
  description = "IAM resource pattern of the parameters under the SSM path."
  type        = string
}

variable "routes" {
  description = "Route keys of the HTTP API (ingest_lambda/api_spec.py ROUTES); each gets the JWT authorizer."
  type        = list(string)
  default = [
    "POST /uploads",
    "POST /jobs",
    "GET /jobs",
    "GET /jobs/{job_id}",
    "DELETE /jobs/{job_id}",
    "DELETE /me",
    "GET /me/deletion",
    "POST /me/webhook-secret",
    "GET /models",
    "GET /models/{adapter_id}",
    "DELETE /models/{adapter_id}",
  ]
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^(GET|POST|PUT|PATCH|DELETE) /", r))])
    error_message = "routes must be route keys like \"GET /jobs\"."
  }
}

variable "web_origins" {
  description = "Browser origins allowed by CORS."
  type        = list(string)
  default     = []
}

variable "throttling_burst_limit" {
  description = "Stage-wide request burst."
  type        = number
  default     = 100
  validation {
    condition     = var.throttling_burst_limit >= 1 && var.throttling_burst_limit <= 5000
    error_message = "throttling_burst_limit must be between 1 and 5000."
  }
}

variable "throttling_rate_limit" {
  description = "Stage-wide steady requests per second."
  type        = number
  default     = 50
  validation {
    condition     = var.throttling_rate_limit >= 1 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be between 1 and 10000."
  }
}

variable "log_retention_days" {
  description = "Retention of the API access log and the Lambda log."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "user_pool_deletion_protection" {
  description = "Refuse to delete the Cognito user pool (on in prod)."
  type        = bool
  default     = true
}

variable "callback_urls" {
  description = "OAuth callback URLs of the web client (empty: password/SRP sign-in only)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "cors_allow_headers" {
  description = "Request headers browsers may send (lower case)."
  type        = list(string)
  default     = ["authorization", "content-type", "idempotency-key"]
}

variable "cors_expose_headers" {
  description = "Response headers the web app may read: Retry-After on 429/503, Idempotent-Replayed on a replayed POST /jobs."
  type        = list(string)
  default     = ["retry-after", "idempotent-replayed"]
}

variable "enable_cors" {
  description = "Add CORS rules for web_origins (a flag, because the origins may only be known after apply)."
  type        = bool
  default     = false
}

variable "denied_parameter_arn_patterns" {
  description = "SSM parameter ARN patterns (other components' secrets) this role may not decrypt."
  type        = list(string)
  default     = ["arn:aws:ssm:*:*:parameter/none"]
}

variable "allow_self_sign_up" {
  description = "Whether anyone may sign up through the app client; false: administrators create users."
  type        = bool
  default     = false
}

variable "webhook_secrets_arn_pattern" {
  description = "ARN pattern of the owners' webhook signing secrets in SSM (the notifier module's output); null: no webhook secrets."
  type        = string
  default     = null
}
