variable "name_prefix" {
  description = "Prefix of the KMS key alias, e.g. sdfleet-prod."
  type        = string
}

variable "ssm_path" {
  description = "SSM Parameter Store path of the settings, with leading and trailing '/', e.g. /sdfleet/prod/."
  type        = string
  validation {
    condition     = can(regex("^/([A-Za-z0-9_.-]+/)+$", var.ssm_path))
    error_message = "ssm_path must look like /sdfleet/prod/ (leading and trailing slash)."
  }
}

variable "parameters" {
  description = "Settings field name -> value, written as <ssm_path><field> (e.g. max_active_jobs_per_user = \"20\")."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for name in keys(var.parameters) : can(regex("^[a-z][a-z0-9_]*$", name))])
    error_message = "parameters keys must be settings field names (lower_snake_case)."
  }
}

variable "secret_parameters" {
  description = "Secret settings field name -> value (e.g. sender_tenants); stored like parameters but never shown in plans."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "key_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after a destroy."
  type        = number
  default     = 30
  validation {
    condition     = var.key_deletion_window_days >= 7 && var.key_deletion_window_days <= 30
    error_message = "key_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
