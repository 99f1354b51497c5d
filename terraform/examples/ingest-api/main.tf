# The HTTP API on its own: Cognito user pool and web client, API Gateway (JWT authorizer on
# every route) and the ingest Lambda, over the storage and queues it writes to. Jobs land on
# the interactive lane; no worker or scaler is created (see ../worker-fleet, ../scaler).
#   make lambda-zips          # from the repository root: build/lambda/ingest.zip
#   terraform init && terraform apply -var name_prefix=sdfleet-try

terraform {
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name; the SSM path is /<name_prefix>/."
  type        = string
  default     = "sdfleet-example"
}

variable "ingest_zip_path" {
  description = "The ingest Lambda zip `make lambda-zips` builds (relative to this directory)."
  type        = string
  default     = "../../../build/lambda/ingest.zip"
}

variable "web_origins" {
  description = "Browser origins allowed by CORS, e.g. [\"https://app.example.org\"]; none: no CORS."
  type        = list(string)
  default     = []
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { "sdfleet:example" = "ingest-api" }
  }
}

module "config" {
  source = "../../modules/config"

  name_prefix = var.name_prefix
  ssm_path    = "/${var.name_prefix}/"
}

module "queues" {
  source = "../../modules/queues"

  name_prefix = var.name_prefix
  # Only the API's role may send to the interactive lane; no batch senders in this example.
  sender_arns                     = { interactive = [module.api.role_arn], batch = [] }
  dead_letter_sender_arn_patterns = []
}

module "storage" {
  source = "../../modules/storage"

  name_prefix = var.name_prefix
  kms_key_arn = module.config.kms_key_arn
  web_origins = var.web_origins
  enable_cors = length(var.web_origins) > 0
}

module "api" {
  source = "../../modules/api"

  name_prefix     = var.name_prefix
  lambda_zip_path = var.ingest_zip_path
  # The names the handler reads (sdfleet/env.py).
  environment_variables = {
    SDFLEET_AWS_REGION            = var.region
    SDFLEET_SSM_PATH              = module.config.ssm_path
    SDFLEET_JOBS_TABLE            = module.storage.jobs_table
    SDFLEET_WORKERS_TABLE         = module.storage.workers_table
    SDFLEET_BUCKET                = module.storage.bucket
    SDFLEET_INTERACTIVE_QUEUE_URL = module.queues.queue_urls["interactive"]
    SDFLEET_BATCH_QUEUE_URL       = module.queues.queue_urls["batch"]
    SDFLEET_IDEMPOTENCY_TABLE     = module.storage.idempotency_table
    POWERTOOLS_SERVICE_NAME       = "sdfleet-ingest"
  }
  kms_key_arn               = module.config.kms_key_arn
  jobs_table_arn            = module.storage.jobs_table_arn
  idempotency_table_arn     = module.storage.idempotency_table_arn
  workers_table_arn         = module.storage.workers_table_arn
  queue_arns                = [module.queues.queue_arns["interactive"]]
  bucket_arn                = module.storage.bucket_arn
  ssm_path_arn              = module.config.ssm_path_arn
  ssm_parameter_arn_pattern = module.config.ssm_parameter_arn_pattern
  web_origins               = var.web_origins
  enable_cors               = length(var.web_origins) > 0
}

output "api_endpoint" {
  description = "Base URL of the HTTP API (POST /jobs, GET /jobs/{job_id}, ...)."
  value       = module.api.api_endpoint
}

output "user_pool_id" {
  description = "Cognito user pool the JWT authorizer trusts."
  value       = module.api.user_pool_id
}

output "user_pool_client_id" {
  description = "Public web client id (sign-up and password auth)."
  value       = module.api.user_pool_client_id
}

output "interactive_queue_url" {
  description = "Where accepted jobs wait for a worker."
  value       = module.queues.queue_urls["interactive"]
}
