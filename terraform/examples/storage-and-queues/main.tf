# The data plane on its own: the KMS key and SSM settings path, the two job lanes with their
# dead-letter queues, the data bucket and the three tables. Nothing runs yet; batch submitters
# can already push v1 messages onto a lane and a worker started anywhere can drain it.
#   terraform init && terraform apply -var name_prefix=sdfleet-try
# The other examples build on these three modules the same way.

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

provider "aws" {
  region = var.region
  default_tags {
    tags = { "sdfleet:example" = "storage-and-queues" }
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
  # Who may send to each lane (roles, users or account roots; other accounts allowed).
  sender_arns                     = { interactive = var.interactive_sender_arns, batch = var.batch_sender_arns }
  dead_letter_sender_arn_patterns = []
}

variable "interactive_sender_arns" {
  description = "Principals that may send to the interactive lane (the ingest API's role)."
  type        = list(string)
  default     = []
}

variable "batch_sender_arns" {
  description = "Principals that may send to the batch lane."
  type        = list(string)
  default     = []
}

module "storage" {
  source = "../../modules/storage"

  name_prefix = var.name_prefix
  kms_key_arn = module.config.kms_key_arn
}

output "interactive_queue_url" {
  description = "Interactive lane: web jobs, drained first."
  value       = module.queues.queue_urls["interactive"]
}

output "batch_queue_url" {
  description = "Batch lane: `sdfleet submit` and other batch submitters."
  value       = module.queues.queue_urls["batch"]
}

output "bucket" {
  description = "Data bucket (users/<owner>/inputs, outputs, models)."
  value       = module.storage.bucket
}

output "jobs_table" {
  description = "Job records (SDFLEET_JOBS_TABLE)."
  value       = module.storage.jobs_table
}

output "workers_table" {
  description = "Worker status records (SDFLEET_WORKERS_TABLE)."
  value       = module.storage.workers_table
}

output "ssm_path" {
  description = "Settings path (SDFLEET_SSM_PATH)."
  value       = module.config.ssm_path
}
