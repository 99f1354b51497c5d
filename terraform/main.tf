# sdfleet: the whole stack. Module wiring only; every knob is a variable (variables.tf).

data "aws_region" "current" {}

locals {
  name_prefix       = "sdfleet-${var.environment}"
  ssm_path          = "/sdfleet/${var.environment}/"
  asg_name          = "${local.name_prefix}-workers"
  metrics_namespace = "sdfleet"
  # autoscaler/observe.py MEMORY_TAG: the scaler's state between runs, written on the ASG.
  scaler_memory_tag = "sdfleet:scaler-memory"
  region            = data.aws_region.current.name

  cors_enabled = length(var.web_origins) > 0 || var.enable_frontend
  web_origins  = distinct(concat(var.web_origins, var.enable_frontend ? [module.frontend[0].origin] : []))

  # Names the code reads (sdfleet/env.py); shared by both Lambdas and the workers.
  resource_environment = merge(
    {
      SDFLEET_AWS_REGION            = local.region
      SDFLEET_SSM_PATH              = local.ssm_path
      SDFLEET_JOBS_TABLE            = module.storage.jobs_table
      SDFLEET_WORKERS_TABLE         = module.storage.workers_table
      SDFLEET_BUCKET                = module.storage.bucket
      SDFLEET_INTERACTIVE_QUEUE_URL = module.queues.queue_urls["interactive"]
      SDFLEET_BATCH_QUEUE_URL       = module.queues.queue_urls["batch"]
      SDFLEET_INTERACTIVE_DLQ_URL   = module.queues.dlq_urls["interactive"]
      SDFLEET_BATCH_DLQ_URL         = module.queues.dlq_urls["batch"]
      SDFLEET_TRAINING_QUEUE_URL    = module.queues.queue_urls["training"]
      SDFLEET_TRAINING_DLQ_URL      = module.queues.dlq_urls["training"]
    },
    local.local_mode ? { SDFLEET_AWS_ENDPOINT_URL = var.aws_endpoint_url } : {},
  )

  webhook_secrets_path = "/${local.name_prefix}/webhook-secrets/"
  ingest_environment = merge(local.resource_environment, {
    SDFLEET_WEBHOOK_SECRETS_PATH = local.webhook_secrets_path
    SDFLEET_IDEMPOTENCY_TABLE    = module.storage.idempotency_table
    POWERTOOLS_SERVICE_NAME      = "sdfleet-ingest"
    POWERTOOLS_METRICS_NAMESPACE = local.metrics_namespace
  })

  # The only sender the interactive lane honours (sdfleet/senders.py); workers and the DLQ
  # reaper compare it with the role id part of each message's SenderId.
  ingest_sender_environment = { SDFLEET_INGEST_SENDER_ID = module.api.role_unique_id }

  # Batch senders: their ARNs go into the batch queue's policy, their SenderId keys (role id,
  # user id or account id) map to tenants in the worker's sender_tenants secret.
  sender_tenants = merge(
    jsondecode(var.sender_tenants),
    { for sender in var.batch_senders : sender.sender_id => sender.tenant },
  )
  # A pattern (no account id lookup, so offline plans work): a same-named role elsewhere still
  # has no Allow in the dead-letter queues' policies, so it cannot send across accounts.
  worker_role_arn_pattern = "arn:*:iam::*:role/${module.worker_fleet.instance_role_name}"

  # The worker settings that do not name resources: known at plan time (the worker_knobs output).
  worker_knobs = {
    SDFLEET_MODEL_SOURCE                        = var.model_source
    SDFLEET_DEVICE                              = var.worker_device
    SDFLEET_VISIBILITY_TIMEOUT_SECONDS          = tostring(var.visibility_timeout_seconds)
    SDFLEET_TRAINING_VISIBILITY_TIMEOUT_SECONDS = tostring(var.training_visibility_timeout_seconds)
    SDFLEET_LEASE_SECONDS                       = tostring(var.visibility_timeout_seconds)
    SDFLEET_HEARTBEAT_SECONDS                   = tostring(var.heartbeat_seconds)
    SDFLEET_MAX_RECEIVE_COUNT                   = tostring(var.max_receive_count)
    SDFLEET_FAIR_WINDOW_MESSAGES                = tostring(var.fair_window_messages)
    POWERTOOLS_METRICS_NAMESPACE                = local.metrics_namespace
  }
  worker_environment = merge(local.resource_environment, local.ingest_sender_environment, local.worker_knobs, {
    AWS_DEFAULT_REGION = local.region
  })

  worker_package_source = coalesce(
    var.worker_package_source,
    "s3://${module.storage.bucket}/artifacts/sdfleet-${var.package_version}-py3-none-any.whl",
  )
}

module "config" {
  source = "./modules/config"

  name_prefix = local.name_prefix
  ssm_path    = local.ssm_path
  # Settings an operator may change live: SSM, below the environment (README "Configuration").
  parameters = {
    max_active_jobs_per_user       = tostring(var.max_active_jobs_per_user)
    max_active_cost_units_per_user = tostring(var.max_active_cost_units_per_user)
    max_uploads_per_user_per_day   = tostring(var.max_uploads_per_user_per_day)
    record_ttl_days                = tostring(var.record_ttl_days)
  }
  # Only the worker decrypts these (the other roles are denied their encryption context).
  # tenant_webhook_urls only when set, so a stack without defaults has no such parameter.
  secret_parameters = merge(
    { sender_tenants = jsonencode(local.sender_tenants) },
    length(var.tenant_webhook_urls) > 0 ? { tenant_webhook_urls = jsonencode(var.tenant_webhook_urls) } : {},
  )
  key_deletion_window_days = local.local_mode ? 7 : 30
}

module "queues" {
  source = "./modules/queues"

  name_prefix                = local.name_prefix
  lanes                      = ["interactive", "training", "batch"]
  visibility_timeout_seconds = var.visibility_timeout_seconds
  lane_visibility_timeout_seconds = {
    training = var.training_visibility_timeout_seconds
  }
  max_receive_count         = var.max_receive_count
  message_retention_seconds = var.message_retention_seconds
  # Web jobs and trainings come only through the API (quotas, owner checks); batch senders
  # have their own lane.
  sender_arns = {
    interactive = [module.api.role_arn]
    training    = [module.api.role_arn]
    batch       = [for sender in var.batch_senders : sender.principal_arn]
  }
  dead_letter_sender_arn_patterns = [local.worker_role_arn_pattern]
}

module "storage" {
  source = "./modules/storage"

  name_prefix              = local.name_prefix
  bucket_name              = var.bucket_name
  kms_key_arn              = module.config.kms_key_arn
  web_origins              = local.web_origins
  enable_cors              = local.cors_enabled
  user_data_expiry_days    = var.user_data_expiry_days
  input_expiry_days        = var.input_expiry_days
  start_record_expiry_days = var.start_record_expiry_days
  point_in_time_recovery   = var.point_in_time_recovery
  force_destroy            = var.force_destroy
}

module "api" {
  source = "./modules/api"

  name_prefix                   = local.name_prefix
  lambda_zip_path               = var.ingest_zip_path
  lambda_architecture           = var.lambda_architecture
  environment_variables         = local.ingest_environment
  kms_key_arn                   = module.config.kms_key_arn
  jobs_table_arn                = module.storage.jobs_table_arn
  idempotency_table_arn         = module.storage.idempotency_table_arn
  workers_table_arn             = module.storage.workers_table_arn
  queue_arns                    = [module.queues.queue_arns["interactive"], module.queues.queue_arns["training"]]
  bucket_arn                    = module.storage.bucket_arn
  ssm_path_arn                  = module.config.ssm_path_arn
  ssm_parameter_arn_pattern     = module.config.ssm_parameter_arn_pattern
  denied_parameter_arn_patterns = module.config.secret_parameter_arn_patterns
  web_origins                   = local.web_origins
  enable_cors                   = local.cors_enabled
  throttling_burst_limit        = var.api_throttling_burst_limit
  throttling_rate_limit         = var.api_throttling_rate_limit
  log_retention_days            = var.log_retention_days
  user_pool_deletion_protection = !var.force_destroy
  allow_self_sign_up            = var.allow_self_sign_up
  webhook_secrets_arn_pattern   = module.notifier.secrets_parameter_arn_pattern
}

module "notifier" {
  source = "./modules/notifier"

  name_prefix                     = local.name_prefix
  lambda_zip_path                 = var.notifier_zip_path
  lambda_architecture             = var.lambda_architecture
  webhook_retry_base_seconds      = var.webhook_retry_base_seconds
  webhook_delivery_window_seconds = var.webhook_delivery_window_seconds
  jobs_table_arn                  = module.storage.jobs_table_arn
  jobs_stream_arn                 = module.storage.jobs_stream_arn
  secrets_path                    = local.webhook_secrets_path
  kms_key_arn                     = module.config.kms_key_arn
  resource_environment            = local.resource_environment
  log_retention_days              = var.log_retention_days
  # The emulator runs no Lambdas: locally `sdfleet up` reads the stream and the retry queue.
  create_event_source_mappings = !local.local_mode
}

module "worker_ami" {
  source = "./modules/worker_ami"
  count  = var.worker_ami_bake ? 1 : 0

  name_prefix = local.name_prefix
  # Launch templates take resolve:ssm:<parameter>; Image Builder takes ssm:<parameter>.
  parent_image             = replace(var.worker_ami_id, "/^resolve:ssm:/", "ssm:")
  image_version            = var.worker_ami_version
  bootstrap_template_path  = "${path.module}/modules/worker_fleet/user_data.sh.tftpl"
  wheelhouse_uri           = coalesce(var.worker_wheelhouse_uri, "s3://unset/unset/")
  package_source           = local.worker_package_source
  package_extras           = "worker,gpu"
  root_device_name         = var.worker_root_device_name
  root_volume_size_gb      = var.worker_root_volume_size_gb
  vpc_id                   = local.vpc_id
  subnet_id                = local.subnet_ids[0]
  kms_key_arn              = module.config.kms_key_arn
  cloudwatch_agent_version = var.cloudwatch_agent_version
}

module "worker_fleet" {
  source = "./modules/worker_fleet"

  name_prefix                     = local.name_prefix
  asg_name                        = local.asg_name
  vpc_id                          = local.vpc_id
  subnet_ids                      = local.subnet_ids
  ami_id                          = var.worker_ami_bake ? module.worker_ami[0].ami_id : var.worker_ami_id
  instance_types                  = var.instance_types
  min_size                        = var.min_capacity
  max_size                        = var.max_capacity
  on_demand_base_capacity         = var.on_demand_base_capacity
  on_demand_percentage_above_base = var.on_demand_percentage_above_base
  spot_allocation_strategy        = var.spot_allocation_strategy
  warm_pool_enabled               = var.warm_pool_enabled
  warm_pool_min_size              = var.warm_pool_min_size
  warm_pool_max_prepared_capacity = var.warm_pool_max_prepared_capacity
  root_volume_size_gb             = var.worker_root_volume_size_gb
  root_device_name                = var.worker_root_device_name
  root_volume_throughput_mibps    = var.worker_root_volume_throughput_mibps
  root_volume_iops                = var.worker_root_volume_iops
  model_cache_volume              = var.worker_model_cache_volume
  launch_hook_timeout_seconds     = var.launch_hook_timeout_seconds
  wheelhouse_uri                  = var.worker_wheelhouse_uri
  metadata_hop_limit              = var.metadata_hop_limit
  lifecycle_hook_timeout_seconds  = var.lifecycle_hook_timeout_seconds
  package_source                  = local.worker_package_source
  worker_environment              = local.worker_environment
  metrics_namespace               = local.metrics_namespace
  service_unit                    = file("${path.module}/../worker/systemd/sdfleet-worker.service")
  kms_key_arn                     = module.config.kms_key_arn
  queue_arns                      = values(module.queues.queue_arns)
  dlq_arns                        = values(module.queues.dlq_arns)
  jobs_table_arn                  = module.storage.jobs_table_arn
  workers_table_arn               = module.storage.workers_table_arn
  model_source                    = var.model_source
  bucket_arn                      = module.storage.bucket_arn
  ssm_path_arn                    = module.config.ssm_path_arn
  ssm_parameter_arn_pattern       = module.config.ssm_parameter_arn_pattern
  log_group_name                  = "${module.config.log_group_name_prefix}worker"
  logs_kms_key_arn                = module.config.logs_kms_key_arn
  log_retention_days              = var.worker_log_retention_days
  cloudwatch_agent_version        = var.cloudwatch_agent_version
}

module "autoscaler" {
  source = "./modules/autoscaler"

  name_prefix                  = local.name_prefix
  lambda_zip_path              = var.scaler_zip_path
  lambda_architecture          = var.lambda_architecture
  schedule_expression          = var.scaler_schedule
  min_capacity                 = var.min_capacity
  max_capacity                 = var.max_capacity
  target_wait_seconds          = var.target_wait_seconds
  idle_seconds_before_scale_in = var.idle_seconds_before_scale_in
  quiet_seconds_before_zero    = var.quiet_seconds_before_zero
  max_step                     = var.max_step
  default_seconds_per_job      = var.default_seconds_per_job
  training_minutes_per_job     = var.training_minutes_per_job
  boot_seconds                 = var.boot_seconds
  boot_deadline_seconds        = var.boot_deadline_seconds
  samples_per_invocation       = var.samples_per_invocation
  backlog_tolerance            = var.backlog_tolerance
  resource_environment = merge(local.resource_environment, local.ingest_sender_environment, {
    SDFLEET_IDEMPOTENCY_TABLE = module.storage.idempotency_table
  })
  asg_name                  = module.worker_fleet.asg_name
  lifecycle_hook_name       = module.worker_fleet.lifecycle_hook_name
  ssm_path                  = local.ssm_path
  kms_key_arn               = module.config.kms_key_arn
  queue_arns                = values(module.queues.queue_arns)
  dlq_arns                  = values(module.queues.dlq_arns)
  jobs_table_arn            = module.storage.jobs_table_arn
  idempotency_table_arn     = module.storage.idempotency_table_arn
  bucket_arn                = module.storage.bucket_arn
  workers_table_arn         = module.storage.workers_table_arn
  memory_tag_key            = local.scaler_memory_tag
  ssm_path_arn              = module.config.ssm_path_arn
  ssm_parameter_arn_pattern = module.config.ssm_parameter_arn_pattern
  # The scaler never needs sender_tenants; ingest neither (module.api above).
  denied_parameter_arn_patterns = module.config.secret_parameter_arn_patterns
  metrics_namespace             = local.metrics_namespace
  log_retention_days            = var.log_retention_days
}

module "frontend" {
  source = "./modules/frontend"
  count  = var.enable_frontend ? 1 : 0

  name_prefix         = local.name_prefix
  repository          = var.frontend_repository
  access_token        = var.frontend_access_token
  branch              = var.frontend_branch
  build_spec          = fileexists("${path.module}/../frontend/amplify.yml") ? file("${path.module}/../frontend/amplify.yml") : null
  api_url             = module.api.api_endpoint
  user_pool_id        = module.api.user_pool_id
  user_pool_client_id = module.api.user_pool_client_id
  region              = local.region
}

module "observability" {
  source = "./modules/observability"

  name_prefix                = local.name_prefix
  queue_names                = module.queues.queue_names
  dlq_names                  = module.queues.dlq_names
  asg_name                   = module.worker_fleet.asg_name
  scaler_function_name       = module.autoscaler.function_name
  ingest_function_name       = module.api.function_name
  metrics_namespace          = local.metrics_namespace
  oldest_message_slo_seconds = var.oldest_message_slo_seconds
  hourly_price_per_worker    = var.hourly_price_per_worker
  alarm_actions              = var.alarm_actions
}

check "lambda_zips" {
  assert {
    condition     = fileexists(var.ingest_zip_path) && fileexists(var.scaler_zip_path) && fileexists(var.notifier_zip_path)
    error_message = "Lambda zips missing (${var.ingest_zip_path}, ${var.scaler_zip_path}, ${var.notifier_zip_path}): run `make lambda-zips` before apply."
  }
}
