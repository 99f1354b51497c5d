# The scaler on its own: the scaler Lambda and its one-minute EventBridge schedule, sizing an
# existing workers' Auto Scaling Group (the one ../worker-fleet makes, or your own) from the
# depth of the lanes it creates here. The knob values below are this example's choices for a
# small fleet; terraform/variables.tf documents each one.
#   make lambda-zips          # from the repository root: build/lambda/autoscaler.zip
#   terraform init && terraform apply -var asg_name=sdfleet-example-workers

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

variable "asg_name" {
  description = "The workers' Auto Scaling Group the scaler sizes."
  type        = string
}

variable "scaler_zip_path" {
  description = "The scaler Lambda zip `make lambda-zips` builds (relative to this directory)."
  type        = string
  default     = "../../../build/lambda/autoscaler.zip"
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { "sdfleet:example" = "scaler" }
  }
  # The scaler keeps its state between runs in this tag of the group; Terraform leaves it alone.
  ignore_tags {
    keys = ["sdfleet:scaler-memory"]
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
  # Senders are the other parts' business: every SendMessage is denied in this example.
  sender_arns                     = {}
  dead_letter_sender_arn_patterns = []
}

module "storage" {
  source = "../../modules/storage"

  name_prefix = var.name_prefix
  kms_key_arn = module.config.kms_key_arn
}

module "autoscaler" {
  source = "../../modules/autoscaler"

  name_prefix                  = var.name_prefix
  lambda_zip_path              = var.scaler_zip_path
  min_capacity                 = 0
  max_capacity                 = 2
  target_wait_seconds          = 120
  idle_seconds_before_scale_in = 120
  quiet_seconds_before_zero    = 300
  max_step                     = 2
  default_seconds_per_job      = 6
  training_minutes_per_job     = 15
  boot_seconds                 = 120
  boot_deadline_seconds        = 600
  samples_per_invocation       = 12
  backlog_tolerance            = 0.75
  # The names the scaler reads (sdfleet/env.py).
  resource_environment = {
    SDFLEET_AWS_REGION            = var.region
    SDFLEET_SSM_PATH              = module.config.ssm_path
    SDFLEET_JOBS_TABLE            = module.storage.jobs_table
    SDFLEET_WORKERS_TABLE         = module.storage.workers_table
    SDFLEET_BUCKET                = module.storage.bucket
    SDFLEET_INTERACTIVE_QUEUE_URL = module.queues.queue_urls["interactive"]
    SDFLEET_BATCH_QUEUE_URL       = module.queues.queue_urls["batch"]
    SDFLEET_INTERACTIVE_DLQ_URL   = module.queues.dlq_urls["interactive"]
    SDFLEET_BATCH_DLQ_URL         = module.queues.dlq_urls["batch"]
    SDFLEET_IDEMPOTENCY_TABLE     = module.storage.idempotency_table
  }
  asg_name                  = var.asg_name
  ssm_path                  = module.config.ssm_path
  idempotency_table_arn     = module.storage.idempotency_table_arn
  bucket_arn                = module.storage.bucket_arn
  kms_key_arn               = module.config.kms_key_arn
  queue_arns                = values(module.queues.queue_arns)
  dlq_arns                  = values(module.queues.dlq_arns)
  jobs_table_arn            = module.storage.jobs_table_arn
  workers_table_arn         = module.storage.workers_table_arn
  ssm_path_arn              = module.config.ssm_path_arn
  ssm_parameter_arn_pattern = module.config.ssm_parameter_arn_pattern
  metrics_namespace         = "sdfleet"
}

output "scaler_function_name" {
  description = "The scaler Lambda (its logs show every decision)."
  value       = module.autoscaler.function_name
}

output "scaler_knobs" {
  description = "The scaling knobs as written to SSM (field name => value); an override there wins until the next apply."
  value       = module.autoscaler.knob_parameters
}

output "interactive_queue_url" {
  description = "The lane whose depth the scaler watches first."
  value       = module.queues.queue_urls["interactive"]
}
