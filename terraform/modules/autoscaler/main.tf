# The scaler Lambda: on a schedule it samples queue depth, in-flight jobs and worker states and
# sets the ASG's desired capacity (the ASG ignores desired_capacity in Terraform for this reason).

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  function_name = "${var.name_prefix}-scaler"
  asg_arn       = "arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.name}:*:autoScalingGroup:*:autoScalingGroupName/${var.asg_name}"
  # Knob values pass through unchanged: these names are sdfleet/env.py's SCALER_* constants.
  knob_environment = {
    SDFLEET_SCALER_MIN_CAPACITY                 = tostring(var.min_capacity)
    SDFLEET_SCALER_MAX_CAPACITY                 = tostring(var.max_capacity)
    SDFLEET_SCALER_TARGET_WAIT_SECONDS          = tostring(var.target_wait_seconds)
    SDFLEET_SCALER_IDLE_SECONDS_BEFORE_SCALE_IN = tostring(var.idle_seconds_before_scale_in)
    SDFLEET_SCALER_QUIET_SECONDS_BEFORE_ZERO    = tostring(var.quiet_seconds_before_zero)
    SDFLEET_SCALER_MAX_STEP                     = tostring(var.max_step)
    SDFLEET_SCALER_DEFAULT_SECONDS_PER_JOB      = tostring(var.default_seconds_per_job)
    SDFLEET_SCALER_BOOT_SECONDS                 = tostring(var.boot_seconds)
    SDFLEET_SCALER_SAMPLES_PER_INVOCATION       = tostring(var.samples_per_invocation)
    SDFLEET_SCALER_BACKLOG_TOLERANCE            = tostring(var.backlog_tolerance)
    SDFLEET_ASG_NAME                            = var.asg_name
    POWERTOOLS_SERVICE_NAME                     = "sdfleet-scaler"
    POWERTOOLS_METRICS_NAMESPACE                = var.metrics_namespace
  }
  environment = merge(var.resource_environment, local.knob_environment)
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "scaler" {
  name               = "${local.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

# Exactly what autoscaler/ calls (observe.py, actuate.py, reaper.py, sdfleet/heartbeats.py,
# sdfleet/store.py, the settings loader); metrics go out as EMF log lines, not PutMetricData.
data "aws_iam_policy_document" "scaler" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.scaler.arn}:*"]
  }
  statement {
    sid       = "QueueDepth"
    actions   = ["sqs:GetQueueAttributes"]
    resources = var.queue_arns
  }
  # The dead-letter reaper reads DLQ messages (short visibility) and leaves them there.
  statement {
    sid       = "ReadDeadLetters"
    actions   = ["sqs:ReceiveMessage"]
    resources = var.dlq_arns
  }
  statement {
    sid       = "Heartbeats"
    actions   = ["dynamodb:Scan"]
    resources = [var.workers_table_arn]
  }
  # JobStore.fail for jobs whose message reached a DLQ (UpdateItem; GetItem on a refused update).
  statement {
    sid       = "FailDeadLetteredJobs"
    actions   = ["dynamodb:UpdateItem", "dynamodb:GetItem"]
    resources = [var.jobs_table_arn]
  }
  # Describe* actions of Auto Scaling support no resource-level permissions.
  statement {
    sid       = "DescribeFleet"
    actions   = ["autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }
  statement {
    sid = "DriveFleet"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:SetInstanceProtection",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = [local.asg_arn]
  }
  # The policy's memory between runs is one tag on the group; no other tag may be written.
  statement {
    sid       = "RememberInTag"
    actions   = ["autoscaling:CreateOrUpdateTags"]
    resources = [local.asg_arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [var.memory_tag_key]
    }
  }
  statement {
    sid       = "Settings"
    actions   = ["ssm:GetParametersByPath"]
    resources = [var.ssm_path_arn, var.ssm_parameter_arn_pattern]
  }
  # SecureString settings, the CMK-encrypted Lambda environment and tables.
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  # Active tracing: X-Ray has no resource-level permissions for these two actions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "scaler" {
  name   = "scaler"
  role   = aws_iam_role.scaler.id
  policy = data.aws_iam_policy_document.scaler.json
}

resource "aws_cloudwatch_log_group" "scaler" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest; a CMK would need an account-specific key policy for the logs service principal.
  #checkov:skip=CKV_AWS_338:Retention is the SRE knob log_retention_days; scaler decisions are not kept for a year by default.
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "scaler" {
  #checkov:skip=CKV_AWS_116:Scheduled every minute; a failed run is superseded by the next one, so a DLQ would only hold stale decisions.
  #checkov:skip=CKV_AWS_117:Talks only to AWS APIs over TLS; a VPC would add NAT cost without isolating anything.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile per account; the zip's hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_115:One schedule invokes it, so it never runs concurrently with itself; reserving concurrency fails in new accounts.
  function_name    = local.function_name
  role             = aws_iam_role.scaler.arn
  handler          = var.lambda_handler
  runtime          = "python3.11"
  architectures    = [var.lambda_architecture]
  filename         = var.lambda_zip_path
  source_code_hash = fileexists(var.lambda_zip_path) ? filebase64sha256(var.lambda_zip_path) : null
  memory_size      = var.lambda_memory_mb
  # Samples are spread over most of the one-minute period.
  timeout     = 55
  kms_key_arn = var.kms_key_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.scaler, aws_iam_role_policy.scaler]
  tags       = var.tags
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${local.function_name}-schedule"
  description         = "Runs the sdfleet scaler"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "scaler" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.scaler.arn
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "AllowSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.scaler.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}
