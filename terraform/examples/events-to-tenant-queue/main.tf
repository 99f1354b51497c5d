# Route one tenant's job events to an SQS queue of its own: an EventBridge rule on the fleet's
# job events bus (terraform output event_bus_name) matching that owner's terminal transitions.
# A batch submitter then follows its jobs by reading the queue (`sdfleet submit --wait` can).
#   terraform init && terraform apply -var event_bus_name=sdfleet-prod-jobs -var tenant=acme

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

variable "event_bus_name" {
  description = "The fleet's job events bus (root output event_bus_name)."
  type        = string
}

variable "tenant" {
  description = "Owner whose events are routed (a tenant name or a user's sub)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,64}$", var.tenant))
    error_message = "tenant must be 1..64 of A-Z a-z 0-9 _ . -"
  }
}

variable "detail_types" {
  description = "Which transitions to route (job.queued, job.running, job.succeeded, job.failed, job.cancelled)."
  type        = list(string)
  default     = ["job.succeeded", "job.failed", "job.cancelled"]
  validation {
    condition     = alltrue([for t in var.detail_types : contains(["job.queued", "job.running", "job.succeeded", "job.failed", "job.cancelled"], t)])
    error_message = "detail_types must be job.<status> for a job status."
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { "sdfleet:example" = "events-to-tenant-queue" }
  }
}

data "aws_cloudwatch_event_bus" "jobs" {
  name = var.event_bus_name
}

resource "aws_sqs_queue" "tenant_events" {
  name                      = "${var.event_bus_name}-${var.tenant}-events"
  message_retention_seconds = 345600
  sqs_managed_sse_enabled   = true
}

resource "aws_cloudwatch_event_rule" "tenant" {
  name           = "${var.event_bus_name}-${var.tenant}"
  description    = "Job events of ${var.tenant}"
  event_bus_name = data.aws_cloudwatch_event_bus.jobs.name
  event_pattern = jsonencode({
    source        = ["sdfleet.jobs"]
    "detail-type" = var.detail_types
    detail        = { owner = [var.tenant] }
  })
}

resource "aws_cloudwatch_event_target" "queue" {
  rule           = aws_cloudwatch_event_rule.tenant.name
  event_bus_name = data.aws_cloudwatch_event_bus.jobs.name
  arn            = aws_sqs_queue.tenant_events.arn
}

# Only this rule may send to the queue.
data "aws_iam_policy_document" "queue" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.tenant_events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.tenant.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "queue" {
  queue_url = aws_sqs_queue.tenant_events.id
  policy    = data.aws_iam_policy_document.queue.json
}

output "queue_url" {
  description = "The tenant's events queue."
  value       = aws_sqs_queue.tenant_events.id
}
