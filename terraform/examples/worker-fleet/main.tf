# The GPU workers on their own: launch template, instance profile, security group, the Auto
# Scaling Group with its termination lifecycle hook, over the storage and queues they drain.
# No scaler: set the group's desired capacity yourself (or add ../scaler), e.g.
#   terraform init && terraform apply -var vpc_id=vpc-... -var 'subnet_ids=["subnet-..."]' \
#     -var package_source='sdfleet[worker,gpu]==0.1.0'
#   aws autoscaling set-desired-capacity --auto-scaling-group-name sdfleet-example-workers \
#     --desired-capacity 1

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

variable "vpc_id" {
  description = "VPC of the workers."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets with a NAT gateway or VPC endpoints (SQS, DynamoDB, S3, SSM, KMS, CloudWatch, Auto Scaling)."
  type        = list(string)
}

variable "package_source" {
  description = "What pip installs on each worker: an s3:// wheel or a requirement such as sdfleet[worker,gpu]==0.1.0."
  type        = string
}

variable "model_source" {
  description = "Model the workers load (SDFLEET_MODEL_SOURCE): tiny, an s3:// prefix or a local path."
  type        = string
  default     = "tiny"
}

variable "max_size" {
  description = "Most workers the group may run: the cost ceiling."
  type        = number
  default     = 2
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { "sdfleet:example" = "worker-fleet" }
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
  # No senders in this example; the workers may copy rejected messages into the DLQs.
  sender_arns                     = {}
  dead_letter_sender_arn_patterns = ["arn:*:iam::*:role/${module.worker_fleet.instance_role_name}"]
}

module "storage" {
  source = "../../modules/storage"

  name_prefix = var.name_prefix
  kms_key_arn = module.config.kms_key_arn
}

module "worker_fleet" {
  source = "../../modules/worker_fleet"

  name_prefix    = var.name_prefix
  asg_name       = "${var.name_prefix}-workers"
  vpc_id         = var.vpc_id
  subnet_ids     = var.subnet_ids
  ami_id         = "resolve:ssm:/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
  instance_types = ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"]
  min_size       = 0
  max_size       = var.max_size
  package_source = var.package_source
  # The names the worker reads (sdfleet/env.py); the rest keep the settings' defaults.
  worker_environment = {
    SDFLEET_AWS_REGION            = var.region
    SDFLEET_SSM_PATH              = module.config.ssm_path
    SDFLEET_JOBS_TABLE            = module.storage.jobs_table
    SDFLEET_WORKERS_TABLE         = module.storage.workers_table
    SDFLEET_BUCKET                = module.storage.bucket
    SDFLEET_INTERACTIVE_QUEUE_URL = module.queues.queue_urls["interactive"]
    SDFLEET_BATCH_QUEUE_URL       = module.queues.queue_urls["batch"]
    SDFLEET_INTERACTIVE_DLQ_URL   = module.queues.dlq_urls["interactive"]
    SDFLEET_BATCH_DLQ_URL         = module.queues.dlq_urls["batch"]
    SDFLEET_MODEL_SOURCE          = var.model_source
  }
  service_unit              = file("${path.module}/../../../worker/systemd/sdfleet-worker.service")
  kms_key_arn               = module.config.kms_key_arn
  queue_arns                = values(module.queues.queue_arns)
  dlq_arns                  = values(module.queues.dlq_arns)
  jobs_table_arn            = module.storage.jobs_table_arn
  workers_table_arn         = module.storage.workers_table_arn
  model_source              = var.model_source
  bucket_arn                = module.storage.bucket_arn
  ssm_path_arn              = module.config.ssm_path_arn
  ssm_parameter_arn_pattern = module.config.ssm_parameter_arn_pattern
  # The workers' journal, shipped by the CloudWatch agent, in a group the stack's key encrypts.
  log_group_name   = "${module.config.log_group_name_prefix}worker"
  logs_kms_key_arn = module.config.logs_kms_key_arn
}

output "asg_name" {
  description = "The workers' Auto Scaling Group: its desired capacity is the fleet size."
  value       = module.worker_fleet.asg_name
}

output "worker_log_group" {
  description = "The workers' logs: aws logs tail <group> --follow --log-stream-name-prefix worker/."
  value       = module.worker_fleet.log_group_name
}

output "interactive_queue_url" {
  description = "Send a v1 job message here for a worker to run."
  value       = module.queues.queue_urls["interactive"]
}

output "bucket" {
  description = "Where the workers write users/<owner>/outputs/<job_id>/."
  value       = module.storage.bucket
}
