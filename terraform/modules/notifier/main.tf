# Job events and webhooks: the jobs table's stream feeds the notifier Lambda, which publishes one
# event per status transition on its own EventBridge bus and delivers signed webhooks; failed
# deliveries wait on an SQS delay queue (retries up to 24 h), then land in its DLQ with a reason.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  function_name = "${var.name_prefix}-notifier"
  secrets_arn   = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:*:parameter${var.secrets_path}*"
  # Longer than one batch of attempts (10 x the receiver timeout), as Lambda requires.
  retry_visibility_seconds = 6 * var.lambda_timeout_seconds
  environment = merge(var.resource_environment, {
    SDFLEET_EVENT_BUS_NAME                  = aws_cloudwatch_event_bus.jobs.name
    SDFLEET_WEBHOOK_RETRY_QUEUE_URL         = aws_sqs_queue.retry.id
    SDFLEET_WEBHOOK_DLQ_URL                 = aws_sqs_queue.dlq.id
    SDFLEET_WEBHOOK_SECRETS_PATH            = var.secrets_path
    SDFLEET_WEBHOOK_TIMEOUT_SECONDS         = tostring(var.webhook_timeout_seconds)
    SDFLEET_WEBHOOK_RETRY_BASE_SECONDS      = tostring(var.webhook_retry_base_seconds)
    SDFLEET_WEBHOOK_DELIVERY_WINDOW_SECONDS = tostring(var.webhook_delivery_window_seconds)
    POWERTOOLS_SERVICE_NAME                 = "sdfleet-notifier"
  })
}

resource "aws_cloudwatch_event_bus" "jobs" {
  name = "${var.name_prefix}-jobs"
  tags = var.tags
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name_prefix}-webhook-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  tags                      = merge(var.tags, { "sdfleet:role" = "webhook-dlq" })
}

resource "aws_sqs_queue" "retry" {
  name                       = "${var.name_prefix}-webhook-retry"
  visibility_timeout_seconds = local.retry_visibility_seconds
  # Deliveries are retried for up to a day; a message outlives that by the longest hop.
  message_retention_seconds = 2 * 86400
  kms_master_key_id         = var.kms_key_arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = 5
  })
  tags = merge(var.tags, { "sdfleet:role" = "webhook-retry" })
}

# Exactly what notifier_lambda/ calls: the stream (through the mapping), the job record (order
# check and attempts), the bus, both queues and the owners' signing secrets.
data "aws_iam_policy_document" "notifier" {
  statement {
    sid = "ReadJobStream"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:ListStreams",
    ]
    resources = [var.jobs_stream_arn]
  }
  statement {
    sid       = "JobAttempts"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [var.jobs_table_arn]
  }
  statement {
    sid       = "PublishEvents"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.jobs.arn]
  }
  statement {
    sid       = "ScheduleRetries"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.retry.arn, aws_sqs_queue.dlq.arn]
  }
  statement {
    sid       = "ConsumeRetries"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.retry.arn]
  }
  # Get, or create on first need (sdfleet/webhook_secrets.py); never overwrite or delete.
  statement {
    sid       = "SigningSecrets"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [local.secrets_arn]
  }
  # Queues, table and environment; Encrypt only for creating a signing secret.
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "EncryptSigningSecrets"
    actions   = ["kms:Encrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = [local.secrets_arn]
    }
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

module "function" {
  source = "../lambda_function"

  function_name         = local.function_name
  handler               = var.lambda_handler
  zip_path              = var.lambda_zip_path
  architecture          = var.lambda_architecture
  memory_mb             = var.lambda_memory_mb
  timeout_seconds       = var.lambda_timeout_seconds
  environment_variables = local.environment
  kms_key_arn           = var.kms_key_arn
  policy_name           = "notifier"
  policy_json           = data.aws_iam_policy_document.notifier.json
  log_retention_days    = var.log_retention_days
  tags                  = var.tags
}

# Every write of the jobs table, in order per job; a failed record is retried (bisecting the
# batch) until the stream's 24 h retention, so no transition is skipped.
resource "aws_lambda_event_source_mapping" "stream" {
  count = var.create_event_source_mappings ? 1 : 0

  event_source_arn               = var.jobs_stream_arn
  function_name                  = module.function.arn
  starting_position              = "TRIM_HORIZON"
  batch_size                     = 100
  maximum_retry_attempts         = -1
  bisect_batch_on_function_error = true
  function_response_types        = ["ReportBatchItemFailures"]
}

resource "aws_lambda_event_source_mapping" "retries" {
  count = var.create_event_source_mappings ? 1 : 0

  event_source_arn        = aws_sqs_queue.retry.arn
  function_name           = module.function.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}
