# ---------------------------------------------------------------- where and what
variable "environment" {
  description = "Environment name: names resources (sdfleet-<environment>-...) and the SSM path (/sdfleet/<environment>/)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name like us-east-1."
  }
}

variable "aws_endpoint_url" {
  description = "Emulator endpoint for every AWS service (local mode); null on real AWS."
  type        = string
  default     = null
  validation {
    condition     = var.aws_endpoint_url == null || can(regex("^https?://", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be an http(s) URL or null."
  }
}

variable "offline_plan" {
  description = "Skip the provider's STS/metadata calls at start-up so `plan` runs with fake credentials and no network (make tf-check). Never needed to deploy."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------- network
variable "create_network" {
  description = "Create a small isolated VPC (no internet route) for the workers: for the emulator and offline plans. Real fleets set vpc_id and subnet_ids."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "VPC of the workers (ignored when create_network)."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Private subnets of the workers, with a NAT gateway or VPC endpoints for SQS, DynamoDB, S3, SSM and ssmmessages (Session Manager), KMS, CloudWatch, CloudWatch Logs and Auto Scaling (ignored when create_network)."
  type        = list(string)
  default     = []
  validation {
    condition     = var.create_network || length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet unless create_network = true."
  }
}

# ---------------------------------------------------------------- capacity (scaler + ASG)
variable "min_capacity" {
  description = "Fewest workers, even when idle (ASG min and SDFLEET_SCALER_MIN_CAPACITY). 0 = scale to zero."
  type        = number
  default     = 0
  validation {
    condition     = var.min_capacity >= 0 && var.min_capacity <= 1000 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number between 0 and 1000."
  }
}

variable "max_capacity" {
  description = "Most workers (ASG max and SDFLEET_SCALER_MAX_CAPACITY): the cost ceiling."
  type        = number
  default     = 4
  validation {
    condition     = var.max_capacity >= 0 && var.max_capacity >= var.min_capacity && var.max_capacity <= 1000 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number between min_capacity and 1000."
  }
}

variable "target_wait_seconds" {
  description = "Queue-wait SLO the scaler sizes the fleet for (SDFLEET_SCALER_TARGET_WAIT_SECONDS)."
  type        = number
  default     = 60
  validation {
    condition     = var.target_wait_seconds > 0 && var.target_wait_seconds <= 86400
    error_message = "target_wait_seconds must be in (0, 86400]."
  }
}

variable "idle_seconds_before_scale_in" {
  description = "Idle time before an idle worker may be removed (SDFLEET_SCALER_IDLE_SECONDS_BEFORE_SCALE_IN)."
  type        = number
  default     = 60
  validation {
    condition     = var.idle_seconds_before_scale_in >= 0 && var.idle_seconds_before_scale_in <= 86400
    error_message = "idle_seconds_before_scale_in must be between 0 and 86400."
  }
}

variable "quiet_seconds_before_zero" {
  description = "Least time with no work before the fleet drops to min_capacity, up to 10x as long when the recent gaps between work were longer (SDFLEET_SCALER_QUIET_SECONDS_BEFORE_ZERO)."
  type        = number
  default     = 120
  validation {
    condition     = var.quiet_seconds_before_zero >= 0 && var.quiet_seconds_before_zero <= 86400
    error_message = "quiet_seconds_before_zero must be between 0 and 86400."
  }
}

variable "max_step" {
  description = "Most workers added in one scaling decision (SDFLEET_SCALER_MAX_STEP)."
  type        = number
  default     = 4
  validation {
    condition     = var.max_step >= 1 && var.max_step <= 1000 && floor(var.max_step) == var.max_step
    error_message = "max_step must be a whole number between 1 and 1000."
  }
}

variable "default_seconds_per_job" {
  description = "Job duration the scaler assumes before workers report their own (SDFLEET_SCALER_DEFAULT_SECONDS_PER_JOB)."
  type        = number
  default     = 6
  validation {
    condition     = var.default_seconds_per_job > 0 && var.default_seconds_per_job <= 3600
    error_message = "default_seconds_per_job must be in (0, 3600]."
  }
}

variable "training_minutes_per_job" {
  description = "Expected run time of one LoRA training in minutes (SDFLEET_SCALER_TRAINING_MINUTES_PER_JOB): the scaler counts the training lane with it, apart from the per-image default_seconds_per_job."
  type        = number
  default     = 15
  validation {
    condition     = var.training_minutes_per_job > 0 && var.training_minutes_per_job <= 1440
    error_message = "training_minutes_per_job must be in (0, 1440]."
  }
}

variable "boot_seconds" {
  description = "Expected launch-to-first-image time of a new worker (SDFLEET_SCALER_BOOT_SECONDS): ~150 s plain AMI + wheelhouse (rounded up to 180), ~100 s baked AMI, ~50 s warm pool (docs/worker-install.md); informational: the current scaling policy does not read it."
  type        = number
  default     = 180
  validation {
    condition     = var.boot_seconds >= 0 && var.boot_seconds <= 3600
    error_message = "boot_seconds must be between 0 and 3600."
  }
}

variable "boot_deadline_seconds" {
  description = "An in-service worker instance whose worker has not reported ready (idle, busy or draining heartbeat) this long after launch is marked unhealthy and replaced, and counted in the InstancesPastBootDeadline metric (SDFLEET_SCALER_BOOT_DEADLINE_SECONDS). 0 = never. Default 600: 3x boot_seconds, rounded up (docs/scaling.md)."
  type        = number
  default     = 600
  validation {
    condition     = var.boot_deadline_seconds >= 0 && var.boot_deadline_seconds <= 7200
    error_message = "boot_deadline_seconds must be between 0 and 7200."
  }
  # Above boot_seconds (or 0): a precondition in modules/autoscaler checks it at plan time.
}

variable "samples_per_invocation" {
  description = "Queue samples the scaler takes per one-minute run (SDFLEET_SCALER_SAMPLES_PER_INVOCATION)."
  type        = number
  default     = 12
  validation {
    condition     = var.samples_per_invocation >= 1 && var.samples_per_invocation <= 12 && floor(var.samples_per_invocation) == var.samples_per_invocation
    error_message = "samples_per_invocation must be a whole number between 1 and 12."
  }
}

variable "backlog_tolerance" {
  description = "Share (0..1) of target_wait_seconds the ready fleet's backlog may take before the scaler adds workers; lower = faster scale-out, more cost (SDFLEET_SCALER_BACKLOG_TOLERANCE)."
  type        = number
  default     = 0.75
  validation {
    condition     = var.backlog_tolerance >= 0 && var.backlog_tolerance <= 1
    error_message = "backlog_tolerance must be between 0 and 1."
  }
}

variable "scaler_schedule" {
  description = "EventBridge schedule of the scaler."
  type        = string
  default     = "rate(1 minute)"
}

# ---------------------------------------------------------------- cost: instances
variable "instance_types" {
  description = "GPU instance types, most preferred first (spot draws from all of them)."
  type        = list(string)
  default     = ["g5.xlarge", "g6.xlarge", "g4dn.xlarge", "g5.2xlarge", "g6.2xlarge"]
}

variable "on_demand_base_capacity" {
  description = "Workers always bought on demand before any spot."
  type        = number
  default     = 0
}

variable "on_demand_percentage_above_base" {
  description = "Percent of workers above the base bought on demand; the rest is spot (100 = no spot)."
  type        = number
  default     = 0
}

variable "spot_allocation_strategy" {
  description = "Spot allocation strategy."
  type        = string
  default     = "capacity-optimized"
}

variable "warm_pool_enabled" {
  description = "Keep stopped, pre-booted instances (only with on_demand_percentage_above_base = 100)."
  type        = bool
  default     = false
}

variable "warm_pool_min_size" {
  description = "Instances kept in the warm pool."
  type        = number
  default     = 0
}

variable "warm_pool_max_prepared_capacity" {
  description = "Most instances in the warm pool and the group together; the pool holds max(warm_pool_min_size, this - desired). null: max_capacity. Equal to warm_pool_min_size: a pool of exactly that many (cheaper when work is sparse; docs/scaling.md)."
  type        = number
  default     = null
}

variable "worker_ami_id" {
  description = "Worker AMI id, or resolve:ssm:<public parameter> (resolved by EC2 at launch, so plans stay offline)."
  type        = string
  default     = "resolve:ssm:/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
}

variable "worker_ami_bake" {
  description = "Build a worker AMI with the venv inside (EC2 Image Builder, modules/worker_ami) from worker_ami_id and launch workers from it; false: launch worker_ami_id itself and install at boot. Needs worker_wheelhouse_uri."
  type        = bool
  default     = false
  validation {
    condition     = !var.worker_ami_bake || var.worker_wheelhouse_uri != null
    error_message = "worker_ami_bake needs worker_wheelhouse_uri (the bake installs from the hashed wheelhouse)."
  }
}

variable "worker_ami_version" {
  description = "Version (x.y.z) of the baked AMI's recipe; bump it to bake again (e.g. after a new wheelhouse)."
  type        = string
  default     = "1.0.0"
}

variable "worker_root_volume_size_gb" {
  description = "Worker root volume size."
  type        = number
  default     = 100
}

variable "worker_root_volume_throughput_mibps" {
  description = "gp3 throughput of the worker root volume in MiB/s (the model cache's read speed when it lives there; 125 = gp3 baseline, up to 1000)."
  type        = number
  default     = 250
}

variable "worker_root_volume_iops" {
  description = "gp3 IOPS of the worker root volume (3000 = gp3 baseline, up to 16000)."
  type        = number
  default     = 3000
}

variable "worker_model_cache_volume" {
  description = "Where the worker's model cache lives: auto (instance-store NVMe when the instance type has it, else the root volume; the root volume with a warm pool), instance_store, or root."
  type        = string
  default     = "auto"
}

variable "launch_hook_timeout_seconds" {
  description = "Warm pool only: seconds a launching worker may take to install, load and warm its model before the instance is abandoned."
  type        = number
  default     = 1200
}

variable "worker_wheelhouse_uri" {
  description = "s3://bucket/prefix/ of the hashed wheelhouse built by `make worker-wheelhouse`; workers install from it with --require-hashes --no-index. null: from the package index (unpinned, slow; not for production)."
  type        = string
  default     = null
}

variable "worker_root_device_name" {
  description = "Root device of the worker AMI (/dev/xvda: Amazon Linux)."
  type        = string
  default     = "/dev/xvda"
}

variable "metadata_hop_limit" {
  description = "IMDSv2 hop limit of the workers (1: the worker runs on the host)."
  type        = number
  default     = 1
}

variable "lifecycle_hook_timeout_seconds" {
  description = "How long a terminating worker may drain its batch."
  type        = number
  default     = 600
}

variable "worker_package_source" {
  description = "What the worker installs: an s3:// wheel or a pip requirement (null: s3://<bucket>/artifacts/sdfleet-<package_version>-py3-none-any.whl)."
  type        = string
  default     = null
}

variable "package_version" {
  description = "sdfleet version of the default worker wheel name."
  type        = string
  default     = "0.1.0"
}

variable "model_source" {
  description = "Model the workers load (SDFLEET_MODEL_SOURCE): an s3:// prefix published with `sdfleet models publish` (workers refuse a prefix without its SHA-256 manifest), a local path or a hub id. Required; `tiny` (the random-weight test model) only in local mode."
  type        = string
  validation {
    condition     = trimspace(var.model_source) != ""
    error_message = "model_source must name a model: an s3:// prefix, a local path or a hub id."
  }
  validation {
    condition     = var.model_source != "tiny" || var.aws_endpoint_url != null
    error_message = "model_source = \"tiny\" is the random-weight test model (it generates noise); only a local stack (aws_endpoint_url set) may use it. Set an s3:// prefix of a real model."
  }
}

variable "worker_device" {
  description = "SDFLEET_DEVICE of the workers: `cuda` on GPU fleets (a host without working CUDA stops and is replaced instead of generating on the CPU), `cpu` only for CPU test fleets."
  type        = string
  default     = "cuda"
  validation {
    condition     = contains(["cuda", "cpu"], var.worker_device)
    error_message = "worker_device must be cuda or cpu."
  }
}

variable "hourly_price_per_worker" {
  description = "Assumed USD per worker-hour for the dashboard's cost-per-hour widget."
  type        = number
  default     = 0.5
}

# ---------------------------------------------------------------- queues and job lifetime
variable "visibility_timeout_seconds" {
  description = "SQS visibility timeout; workers renew it every heartbeat_seconds, so it must exceed that."
  type        = number
  default     = 120
}

variable "training_visibility_timeout_seconds" {
  description = "SQS visibility timeout of the training lane: a training holds its message for minutes, so a worker that misses a few heartbeats must not see it redelivered to another worker mid-run. Workers renew it every heartbeat_seconds."
  type        = number
  default     = 900
  validation {
    condition     = var.training_visibility_timeout_seconds >= 60 && var.training_visibility_timeout_seconds <= 43200
    error_message = "training_visibility_timeout_seconds must be between 60 and 43200."
  }
}

variable "heartbeat_seconds" {
  description = "How often a worker renews visibility and its job lease (SDFLEET_HEARTBEAT_SECONDS)."
  type        = number
  default     = 30
  validation {
    condition     = var.heartbeat_seconds > 0 && var.heartbeat_seconds < var.visibility_timeout_seconds && var.heartbeat_seconds < var.training_visibility_timeout_seconds
    error_message = "heartbeat_seconds must be > 0 and below visibility_timeout_seconds and training_visibility_timeout_seconds."
  }
}

variable "max_receive_count" {
  description = "Deliveries before a message goes to its lane's DLQ."
  type        = number
  default     = 3
}

variable "message_retention_seconds" {
  description = "How long a queued job message is kept."
  type        = number
  default     = 345600
}

variable "record_ttl_days" {
  description = "Days until a job record expires (DynamoDB TTL)."
  type        = number
  default     = 30
  validation {
    condition     = var.record_ttl_days >= 1 && var.record_ttl_days <= 3650
    error_message = "record_ttl_days must be between 1 and 3650."
  }
}

variable "user_data_expiry_days" {
  description = "Days until user inputs and outputs are deleted from S3."
  type        = number
  default     = 30
}

variable "input_expiry_days" {
  description = "Days until objects tagged sdfleet-kind=input are deleted."
  type        = number
  default     = 7
}

variable "start_record_expiry_days" {
  description = "Days until a worker's start record (launch to ready, under fleet/starts/ in the data bucket; `sdfleet starts` reads them) is deleted."
  type        = number
  default     = 90
  validation {
    condition     = var.start_record_expiry_days >= 1 && var.start_record_expiry_days <= 3650
    error_message = "start_record_expiry_days must be between 1 and 3650."
  }
}

variable "point_in_time_recovery" {
  description = "Point-in-time recovery of the jobs table."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Exact data bucket name (null: unique name from the prefix)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let destroy remove a non-empty bucket and an active user pool (local/dev only)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------- API
variable "max_active_jobs_per_user" {
  description = "Queued + running jobs one user may have; 429 beyond (SSM setting max_active_jobs_per_user, read by the ingest Lambda)."
  type        = number
  default     = 20
  validation {
    condition     = var.max_active_jobs_per_user >= 1 && var.max_active_jobs_per_user <= 10000 && floor(var.max_active_jobs_per_user) == var.max_active_jobs_per_user
    error_message = "max_active_jobs_per_user must be a whole number in 1..10000."
  }
}

variable "max_active_cost_units_per_user" {
  description = "Cost units (images x steps x width x height / 512^2) one user's queued + running jobs may hold; 429 beyond, and one job above it is refused (SSM setting max_active_cost_units_per_user, read by the ingest Lambda)."
  type        = number
  default     = 6400
  validation {
    condition     = var.max_active_cost_units_per_user >= 1 && var.max_active_cost_units_per_user <= 10000000 && floor(var.max_active_cost_units_per_user) == var.max_active_cost_units_per_user
    error_message = "max_active_cost_units_per_user must be a whole number in 1..10000000."
  }
}

variable "max_uploads_per_user_per_day" {
  description = "Upload tickets (POST /uploads) one user may get per UTC day; 429 beyond (SSM setting max_uploads_per_user_per_day, read by the ingest Lambda)."
  type        = number
  default     = 200
  validation {
    condition     = var.max_uploads_per_user_per_day >= 1 && var.max_uploads_per_user_per_day <= 1000000 && floor(var.max_uploads_per_user_per_day) == var.max_uploads_per_user_per_day
    error_message = "max_uploads_per_user_per_day must be a whole number in 1..1000000."
  }
}

variable "fair_window_messages" {
  description = "Interactive messages a worker holds and starts round robin over users, so one user's backlog does not starve another's job; 0 turns fairness off (SDFLEET_FAIR_WINDOW_MESSAGES). Keep it above max_active_jobs_per_user to see past any one user's backlog."
  type        = number
  default     = 24
  validation {
    condition     = var.fair_window_messages >= 0 && var.fair_window_messages <= 120 && floor(var.fair_window_messages) == var.fair_window_messages
    error_message = "fair_window_messages must be a whole number in 0..120."
  }
}

variable "api_throttling_burst_limit" {
  description = "API stage burst limit."
  type        = number
  default     = 100
}

variable "api_throttling_rate_limit" {
  description = "API stage steady requests per second."
  type        = number
  default     = 50
}

variable "web_origins" {
  description = "Extra browser origins allowed by CORS (the Amplify origin is added when enable_frontend)."
  type        = list(string)
  default     = []
}

variable "lambda_architecture" {
  description = "CPU architecture of both Lambdas; must match the wheels `make lambda-zips` bundles."
  type        = string
  default     = "x86_64"
}

variable "ingest_zip_path" {
  description = "Ingest Lambda zip (relative to terraform/)."
  type        = string
  default     = "../build/lambda/ingest.zip"
}

variable "scaler_zip_path" {
  description = "Scaler Lambda zip (relative to terraform/)."
  type        = string
  default     = "../build/lambda/autoscaler.zip"
}

variable "notifier_zip_path" {
  description = "Notifier Lambda zip (relative to terraform/)."
  type        = string
  default     = "../build/lambda/notifier.zip"
}

variable "webhook_retry_base_seconds" {
  description = "First webhook retry delay in seconds; each later one doubles, with jitter."
  type        = number
  default     = 30
  validation {
    condition     = var.webhook_retry_base_seconds >= 0 && var.webhook_retry_base_seconds <= 3600
    error_message = "webhook_retry_base_seconds must be in 0..3600."
  }
}

variable "webhook_delivery_window_seconds" {
  description = "How long a webhook is retried before it is dead-lettered (at most 86400, a day)."
  type        = number
  default     = 86400
  validation {
    condition     = var.webhook_delivery_window_seconds >= 60 && var.webhook_delivery_window_seconds <= 86400
    error_message = "webhook_delivery_window_seconds must be in 60..86400."
  }
}

variable "log_retention_days" {
  description = "Retention of Lambda and API logs."
  type        = number
  default     = 30
}

variable "worker_log_retention_days" {
  description = "Days CloudWatch Logs keeps the workers' logs (the group /sdfleet-<environment>/worker, KMS-encrypted); one of the values CloudWatch Logs accepts."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.worker_log_retention_days)
    error_message = "worker_log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (the values CloudWatch Logs accepts)."
  }
}

variable "cloudwatch_agent_version" {
  description = "CloudWatch agent release each worker installs (signature-checked; a baked AMI carries it) to ship its journal to CloudWatch Logs; 1.300070.0 or later (journald collection)."
  type        = string
  default     = "1.300071.0b1720"
  validation {
    condition     = can(regex("^1\\.[0-9]+\\.[0-9]+(b[0-9]+)?$", var.cloudwatch_agent_version)) && try(tonumber(split(".", var.cloudwatch_agent_version)[1]) >= 300070, false)
    error_message = "cloudwatch_agent_version must be a published release such as 1.300071.0b1720, at least 1.300070 (the first with journald collection)."
  }
}

variable "sender_tenants" {
  description = "JSON map of SQS SenderId -> tenant for batch submitters (stored as a SecureString)."
  type        = string
  default     = "{}"
  sensitive   = true
  validation {
    condition     = can(tomap(jsondecode(var.sender_tenants)))
    error_message = "sender_tenants must be a JSON object of SenderId -> tenant."
  }
}

variable "tenant_webhook_urls" {
  description = "Map of batch tenant -> default webhook URL, used by that tenant's batch jobs whose message has no webhook_url (https; checked against the SSRF rules at every send; stored as a SecureString, since such URLs often carry a token)."
  type        = map(string)
  default     = {}
  sensitive   = true
  validation {
    condition = alltrue([
      for tenant, url in var.tenant_webhook_urls :
      can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", tenant)) && startswith(url, "https://") && length(url) <= 2048
    ])
    error_message = "tenant_webhook_urls: each key must be a tenant id ([A-Za-z0-9][A-Za-z0-9_-]{0,63}) and each URL https://, at most 2048 characters."
  }
}

variable "allow_self_sign_up" {
  description = "Whether anyone may create an account through the web app (Cognito self sign-up); false: only administrators create users (admin-create-user)."
  type        = bool
  default     = false
}

variable "batch_senders" {
  description = "Principals allowed to send to the batch lane (other accounts allowed), each mapped to a tenant. principal_arn goes into the queue policy; sender_id is what SQS stamps as SenderId: an IAM user id (AIDA...), an account id, or a role's id (AROA..., without the ':<session>' part, which the caller chooses). tenant owns their jobs and prefixes their job ids."
  type = list(object({
    principal_arn = string
    sender_id     = string
    tenant        = string
  }))
  default = []
  validation {
    condition     = alltrue([for s in var.batch_senders : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", s.tenant)) && can(regex("^[A-Z0-9]+$", s.sender_id))])
    error_message = "batch_senders: tenant must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}; sender_id is a role id, user id or account id with no ':<session>' part."
  }
}

# ---------------------------------------------------------------- frontend and alarms
variable "enable_frontend" {
  description = "Deploy the web app on Amplify (false in local mode: the emulator has no Amplify)."
  type        = bool
  default     = false
}

variable "frontend_repository" {
  description = "HTTPS Git URL Amplify builds from."
  type        = string
  default     = null
}

variable "frontend_access_token" {
  description = "Token Amplify reads the repository with (pass via TF_VAR_frontend_access_token)."
  type        = string
  default     = null
  sensitive   = true
}

variable "frontend_branch" {
  description = "Branch Amplify deploys."
  type        = string
  default     = "main"
}

variable "oldest_message_slo_seconds" {
  description = "Per lane: alarm when the oldest message is older than this."
  type        = map(number)
  default     = { interactive = 300, training = 1800, batch = 3600 }
}

variable "alarm_actions" {
  description = "SNS topic ARNs the alarms notify."
  type        = list(string)
  default     = []
}
