variable "name_prefix" {
  description = "Prefix of every table and bucket name, e.g. sdfleet-prod."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,35}$", var.name_prefix))
    error_message = "name_prefix must be 1-36 lower-case letters, digits or '-' (it prefixes an S3 bucket name)."
  }
}

variable "bucket_name" {
  description = "Exact bucket name; null lets AWS make a unique one from the prefix."
  type        = string
  default     = null
  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the bucket and the tables."
  type        = string
}

variable "web_origins" {
  description = "Browser origins allowed by the bucket's CORS rules (presigned uploads and downloads)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for origin in var.web_origins : can(regex("^https?://[^/]+$", origin))])
    error_message = "web_origins must be scheme://host[:port] without a path."
  }
}

variable "user_data_expiry_days" {
  description = "Days after which every object under users/ (inputs and outputs) is deleted."
  type        = number
  default     = 30
  validation {
    condition     = var.user_data_expiry_days >= 1 && var.user_data_expiry_days <= 3650
    error_message = "user_data_expiry_days must be between 1 and 3650."
  }
}

variable "start_record_expiry_days" {
  description = "Days after which a worker's start record under fleet/starts/ (launch to ready, for `sdfleet starts`) is deleted."
  type        = number
  default     = 90
  validation {
    condition     = var.start_record_expiry_days >= 1 && var.start_record_expiry_days <= 3650
    error_message = "start_record_expiry_days must be between 1 and 3650."
  }
}

variable "input_expiry_days" {
  description = "Days after which objects tagged sdfleet-kind=input are deleted (the shorter rule wins)."
  type        = number
  default     = 7
  validation {
    condition     = var.input_expiry_days >= 1 && var.input_expiry_days <= 3650
    error_message = "input_expiry_days must be between 1 and 3650."
  }
}

variable "abort_incomplete_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 1
  validation {
    condition     = var.abort_incomplete_upload_days >= 1 && var.abort_incomplete_upload_days <= 30
    error_message = "abort_incomplete_upload_days must be between 1 and 30."
  }
}

variable "point_in_time_recovery" {
  description = "Point-in-time recovery of the jobs table."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy a bucket that still holds objects (local and dev only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "enable_cors" {
  description = "Add CORS rules for web_origins (a flag, because the origins may only be known after apply)."
  type        = bool
  default     = false
}
