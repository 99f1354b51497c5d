variable "name_prefix" {
  description = "Prefix of every resource name, e.g. sdfleet-prod."
  type        = string
}

variable "asg_name" {
  description = "Name of the worker Auto Scaling Group (the scaler and workers address it by name)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the workers' security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the workers launch in (spread over several AZs for spot capacity)."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "ami_id" {
  description = "Worker AMI: an AMI id or resolve:ssm:<public parameter> (a GPU AMI with NVIDIA drivers and python3.11 available)."
  type        = string
  validation {
    condition     = can(regex("^(ami-[0-9a-f]{8,17}|resolve:ssm:.+)$", var.ami_id))
    error_message = "ami_id must be ami-xxxxxxxx or resolve:ssm:<parameter>."
  }
}

variable "instance_types" {
  description = "GPU instance types the fleet may use, most preferred first; the first is also the launch template's type."
  type        = list(string)
  validation {
    condition     = length(var.instance_types) >= 1 && length(var.instance_types) <= 20
    error_message = "instance_types must list 1-20 instance types."
  }
}

variable "min_size" {
  description = "ASG minimum (the scaler's min capacity); 0 lets the fleet sleep."
  type        = number
  validation {
    condition     = var.min_size >= 0 && floor(var.min_size) == var.min_size
    error_message = "min_size must be a whole number >= 0."
  }
}

variable "max_size" {
  description = "ASG maximum (the scaler's max capacity)."
  type        = number
  validation {
    condition     = var.max_size >= 0 && floor(var.max_size) == var.max_size
    error_message = "max_size must be a whole number >= 0."
  }
}

variable "on_demand_base_capacity" {
  description = "Workers always bought on demand before any spot."
  type        = number
  default     = 0
  validation {
    condition     = var.on_demand_base_capacity >= 0 && floor(var.on_demand_base_capacity) == var.on_demand_base_capacity
    error_message = "on_demand_base_capacity must be a whole number >= 0."
  }
}

variable "on_demand_percentage_above_base" {
  description = "Percent of workers above the base bought on demand; the rest is spot. 100 = no spot."
  type        = number
  default     = 0
  validation {
    condition     = var.on_demand_percentage_above_base >= 0 && var.on_demand_percentage_above_base <= 100
    error_message = "on_demand_percentage_above_base must be between 0 and 100."
  }
}

variable "spot_allocation_strategy" {
  description = "How spot capacity is chosen across instance types and AZs."
  type        = string
  default     = "capacity-optimized"
  validation {
    condition     = contains(["capacity-optimized", "price-capacity-optimized", "capacity-optimized-prioritized", "lowest-price"], var.spot_allocation_strategy)
    error_message = "spot_allocation_strategy must be capacity-optimized, price-capacity-optimized, capacity-optimized-prioritized or lowest-price."
  }
}

variable "warm_pool_enabled" {
  description = "Keep stopped, pre-initialised instances for fast scale-out. AWS allows it only without spot (on_demand_percentage_above_base = 100)."
  type        = bool
  default     = false
}

variable "warm_pool_min_size" {
  description = "Instances kept in the warm pool."
  type        = number
  default     = 0
  validation {
    condition     = var.warm_pool_min_size >= 0 && floor(var.warm_pool_min_size) == var.warm_pool_min_size
    error_message = "warm_pool_min_size must be a whole number >= 0."
  }
}

variable "warm_pool_max_prepared_capacity" {
  description = "The warm pool's max_group_prepared_capacity: most instances in the pool and the group together, so the pool holds max(warm_pool_min_size, this - desired). null: max_size (up to max_size stopped instances). Equal to warm_pool_min_size: a pool of exactly that many."
  type        = number
  default     = null
  validation {
    condition     = var.warm_pool_max_prepared_capacity == null ? true : var.warm_pool_max_prepared_capacity >= 0 && floor(var.warm_pool_max_prepared_capacity) == var.warm_pool_max_prepared_capacity
    error_message = "warm_pool_max_prepared_capacity must be null or a whole number >= 0."
  }
}

variable "root_volume_size_gb" {
  description = "Root volume size (OS, CUDA, the venv and the model cache)."
  type        = number
  default     = 100
  validation {
    condition     = var.root_volume_size_gb >= 20 && var.root_volume_size_gb <= 16384
    error_message = "root_volume_size_gb must be between 20 and 16384."
  }
}

variable "root_device_name" {
  description = "Root device of the AMI (/dev/xvda on Amazon Linux, /dev/sda1 on Ubuntu)."
  type        = string
  default     = "/dev/xvda"
}

variable "metadata_hop_limit" {
  description = "IMDSv2 PUT response hop limit; 1 keeps tokens on the host (the worker runs under systemd, not in a container)."
  type        = number
  default     = 1
  validation {
    condition     = var.metadata_hop_limit >= 1 && var.metadata_hop_limit <= 2
    error_message = "metadata_hop_limit must be 1 or 2 (2 only if the worker runs in a container)."
  }
}

variable "lifecycle_hook_timeout_seconds" {
  description = "How long a terminating worker may drain before the ASG continues without it."
  type        = number
  default     = 600
  validation {
    condition     = var.lifecycle_hook_timeout_seconds >= 30 && var.lifecycle_hook_timeout_seconds <= 7200
    error_message = "lifecycle_hook_timeout_seconds must be between 30 and 7200."
  }
}

variable "package_source" {
  description = "What pip installs on the worker: an s3:// wheel URI (copied with the instance role) or a pip requirement."
  type        = string
}

variable "package_extras" {
  description = "Extras installed with the package."
  type        = string
  default     = "worker,gpu"
}

variable "worker_environment" {
  description = "SDFLEET_* variables written to /etc/sdfleet/worker.env (names from sdfleet/env.py)."
  type        = map(string)
}

variable "service_unit" {
  description = "Contents of the systemd unit (worker/systemd/sdfleet-worker.service)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the tables, bucket and settings."
  type        = string
}

variable "queue_arns" {
  description = "Lane work queue ARNs the workers consume."
  type        = list(string)
}

variable "dlq_arns" {
  description = "Dead-letter queue ARNs the workers move unrunnable messages to."
  type        = list(string)
}

variable "jobs_table_arn" {
  description = "Jobs table ARN."
  type        = string
}

variable "workers_table_arn" {
  description = "Worker heartbeat table ARN."
  type        = string
}

variable "model_source" {
  description = "SDFLEET_MODEL_SOURCE; when an s3:// prefix, the workers may list and read exactly that prefix."
  type        = string
}

variable "bucket_arn" {
  description = "Data bucket ARN."
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

variable "tags" {
  description = "Tags added to every resource and propagated to instances."
  type        = map(string)
  default     = {}
}

variable "metrics_namespace" {
  description = "CloudWatch namespace the workers publish JobLatencySeconds and JobsFailed to (PutMetricData is allowed for this namespace only)."
  type        = string
  default     = "sdfleet"

  validation {
    condition     = length(var.metrics_namespace) > 0 && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be non-empty and must not start with AWS/."
  }
}

variable "root_volume_throughput_mibps" {
  description = "gp3 throughput of the root volume (MiB/s): the model cache's read speed when it lives there (125 is the gp3 baseline; 1000 the maximum)."
  type        = number
  default     = 250
  validation {
    condition     = var.root_volume_throughput_mibps >= 125 && var.root_volume_throughput_mibps <= 1000
    error_message = "root_volume_throughput_mibps must be between 125 and 1000."
  }
}

variable "root_volume_iops" {
  description = "gp3 IOPS of the root volume (3000 is the gp3 baseline)."
  type        = number
  default     = 3000
  validation {
    condition     = var.root_volume_iops >= 3000 && var.root_volume_iops <= 16000
    error_message = "root_volume_iops must be between 3000 and 16000."
  }
}

variable "model_cache_volume" {
  description = "Where the model cache lives: auto (instance-store NVMe when the type has it, else the root volume; always the root volume with a warm pool, since a stop wipes instance store), instance_store, or root."
  type        = string
  default     = "auto"
  validation {
    condition     = contains(["auto", "instance_store", "root"], var.model_cache_volume)
    error_message = "model_cache_volume must be auto, instance_store or root."
  }
}

variable "launch_hook_timeout_seconds" {
  description = "Warm pool only: how long a launching instance may take to install, load and warm its model before it is abandoned (terminated)."
  type        = number
  default     = 1200
  validation {
    condition     = var.launch_hook_timeout_seconds >= 30 && var.launch_hook_timeout_seconds <= 7200
    error_message = "launch_hook_timeout_seconds must be between 30 and 7200."
  }
}

variable "wheelhouse_uri" {
  description = "s3://bucket/prefix/ of the hashed wheelhouse (make worker-wheelhouse); the user data installs from it with --require-hashes --no-index. null: install from the package index (unpinned; slow)."
  type        = string
  default     = null
  validation {
    condition     = var.wheelhouse_uri == null || can(regex("^s3://[^/]+/.+/$", var.wheelhouse_uri))
    error_message = "wheelhouse_uri must be s3://bucket/prefix/ (ending in /) or null."
  }
}

variable "log_group_name" {
  description = "CloudWatch Logs group the workers' journal is shipped to (created here), e.g. /sdfleet-prod/worker."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_./#-]{1,512}$", var.log_group_name))
    error_message = "log_group_name must be 1-512 characters of letters, digits, _ . / # -."
  }
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the log group; its key policy must let logs.<region>.amazonaws.com use it for this group (modules/config's logs_kms_key_arn)."
  type        = string
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the worker logs (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (the values CloudWatch Logs accepts)."
  }
}

variable "cloudwatch_agent_version" {
  description = "CloudWatch agent release the user data installs (signature-checked) to ship the journal; 1.300070.0 or later (journald support). A baked AMI carries it already."
  type        = string
  default     = "1.300071.0b1720"
  validation {
    condition     = can(regex("^1\\.[0-9]+\\.[0-9]+(b[0-9]+)?$", var.cloudwatch_agent_version)) && try(tonumber(split(".", var.cloudwatch_agent_version)[1]) >= 300070, false)
    error_message = "cloudwatch_agent_version must be a published release such as 1.300071.0b1720, at least 1.300070 (the first with journald collection)."
  }
}
