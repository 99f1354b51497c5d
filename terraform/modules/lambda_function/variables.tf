variable "function_name" {
  description = "Name of the function; its role is <function_name>-role and its log group /aws/lambda/<function_name>."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,59}$", var.function_name))
    error_message = "function_name must be 1-59 letters, digits, '-' or '_' (the role name adds '-role', 64 at most)."
  }
}

variable "handler" {
  description = "Handler inside the zip, module.function."
  type        = string
}

variable "zip_path" {
  description = "Path of the deployment zip built by `make lambda-zips`."
  type        = string
}

variable "architecture" {
  description = "Lambda CPU architecture; must match the wheels inside the zip."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_mb" {
  description = "Memory of the function (CPU scales with it)."
  type        = number
  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "timeout_seconds" {
  description = "Timeout of one invocation."
  type        = number
  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency; -1 leaves it unreserved (new accounts cannot reserve any)."
  type        = number
  default     = -1
  validation {
    condition     = var.reserved_concurrency >= -1
    error_message = "reserved_concurrency must be -1 (unreserved) or >= 0."
  }
}

variable "environment_variables" {
  description = "Environment of the function (SDFLEET_* names from sdfleet/env.py)."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "CMK that encrypts the function's environment."
  type        = string
}

variable "policy_name" {
  description = "Name of the role's inline policy."
  type        = string
}

variable "policy_json" {
  description = "What the function's code calls, as an IAM policy document; writing to its own log group is added here."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
