variable "name_prefix" {
  description = "Prefix of every resource name, e.g. sdfleet-prod."
  type        = string
}

variable "parent_image" {
  description = "The GPU base AMI the worker AMI is built on: an AMI id, or ssm:<parameter> (Image Builder resolves it at build time)."
  type        = string
}

variable "image_version" {
  description = "Semantic version of the recipe and component (x.y.z); a new version builds a new AMI."
  type        = string
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.image_version))
    error_message = "image_version must be x.y.z."
  }
}

variable "bootstrap_template_path" {
  description = "Path of the worker's user data template (run with --bake)."
  type        = string
}

variable "wheelhouse_uri" {
  description = "s3://bucket/prefix/ of the hashed wheelhouse (make worker-wheelhouse)."
  type        = string
}

variable "package_source" {
  description = "The sdfleet wheel (used only without a wheelhouse; kept for the template)."
  type        = string
}

variable "package_extras" {
  description = "Extras installed with the package."
  type        = string
}

variable "build_instance_type" {
  description = "Instance type of the build (no GPU needed: the build only installs)."
  type        = string
  default     = "m6i.large"
}

variable "root_device_name" {
  description = "Root device of the parent AMI."
  type        = string
}

variable "root_volume_size_gb" {
  description = "Root volume size of the AMI."
  type        = number
}

variable "vpc_id" {
  description = "VPC of the build instance's security group."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet the build instance runs in, with a NAT: the bake reads the wheelhouse from S3 and downloads the CloudWatch agent from AWS's public download bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the bucket holding the wheelhouse."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "cloudwatch_agent_version" {
  description = "CloudWatch agent release baked into the AMI (signature-checked), the one the worker fleet's user data expects."
  type        = string
}
