# The scaler Lambda: on a schedule it samples queue depth, in-flight jobs and worker states and
# sets the ASG's desired capacity (the ASG ignores desired_capacity in Terraform for this reason).

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  function_name = "${var.name_prefix}-scaler"
  asg_arn       = "arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.name}:*:autoScalingGroup:*:autoScalingGroupName/${var.asg_name}"
  # The knobs are SSM parameters under ssm_path, named after the ScalerSettings fields they
  # fill, so an operator's override in SSM takes effect at the next run (the environment
  # outranks SSM, so no knob may be set there: README "Configuration").
  knob_parameters = {
    min_capacity                 = tostring(var.min_capacity)
    max_capacity                 = tostring(var.max_capacity)
    target_wait_seconds          = tostring(var.target_wait_seconds)
    idle_seconds_before_scale_in = tostring(var.idle_seconds_before_scale_in)
    quiet_seconds_before_zero    = tostring(var.quiet_seconds_before_zero)
    max_step                     = tostring(var.max_step)
    default_seconds_per_job      = tostring(var.default_seconds_per_job)
    training_minutes_per_job     = tostring(var.training_minutes_per_job)
    boot_seconds                 = tostring(var.boot_seconds)
    boot_deadline_seconds        = tostring(var.boot_deadline_seconds)
    samples_per_invocation       = tostring(var.samples_per_invocation)
    backlog_tolerance            = tostring(var.backlog_tolerance)
  }
  environment = merge(var.resource_environment, {
    SDFLEET_SSM_PATH             = var.ssm_path
    SDFLEET_ASG_NAME             = var.asg_name
    POWERTOOLS_SERVICE_NAME      = "sdfleet-scaler"
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    }, var.lifecycle_hook_name == null ? {} : {
    # The boot deadline completes the hook of instances no worker will drain.
    SDFLEET_LIFECYCLE_HOOK_NAME = var.lifecycle_hook_name
  })
}

# SecureString like every sdfleet setting (modules/config): one type, one grant, one key.
resource "aws_ssm_parameter" "knob" {
  for_each = local.knob_parameters

  name   = "${var.ssm_path}${each.key}"
  type   = "SecureString"
  key_id = var.kms_key_arn
  value  = each.value
  tags   = var.tags

  lifecycle {
    # ScalerSettings refuses it too, but at run time: the scaler would fail every minute.
    precondition {
      condition     = var.boot_deadline_seconds == 0 || var.boot_deadline_seconds > var.boot_seconds
      error_message = "boot_deadline_seconds must be 0 (off) or above boot_seconds: a shorter deadline replaces healthy workers while they boot."
    }
  }
}

# Exactly what autoscaler/ calls (observe.py, actuate.py, reaper.py, sdfleet/heartbeats.py,
# sdfleet/store.py, the settings loader); metrics go out as EMF log lines, not PutMetricData.
data "aws_iam_policy_document" "scaler" {
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
  # JobStore.fail for jobs whose message reached a DLQ (UpdateItem; GetItem on a refused update);
  # the background purge of DELETE /me (sdfleet/deletion.py) cancels, fails and deletes records
  # and updates the user item.
  statement {
    sid       = "FailDeadLetteredJobs"
    actions   = ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem"]
    resources = [var.jobs_table_arn]
  }
  # by_source_message (reaper), by_owner and queued_by_lane's "deletions" pseudo-lane (purge).
  statement {
    sid       = "JobIndexes"
    actions   = ["dynamodb:Query"]
    resources = ["${var.jobs_table_arn}/index/*"]
  }
  # The purge removes the user's Idempotency-Key rows (a filtered scan of a one-day table).
  statement {
    sid       = "PurgeIdempotencyRows"
    actions   = ["dynamodb:Scan", "dynamodb:DeleteItem"]
    resources = [var.idempotency_table_arn]
  }
  # The purge deletes every object under users/<owner>/ (inputs, outputs, adapters).
  statement {
    sid       = "PurgeUserObjects"
    actions   = ["s3:DeleteObject"]
    resources = ["${var.bucket_arn}/users/*"]
  }
  statement {
    sid       = "ListUserObjects"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["users/*"]
    }
  }
  # Describe* actions of Auto Scaling support no resource-level permissions.
  statement {
    sid       = "DescribeFleet"
    actions   = ["autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }
  # The boot deadline reads launch times, the observer each instance's market (spot or
  # on-demand); Describe* of EC2 has no resource-level permissions.
  statement {
    sid       = "LaunchTimes"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }
  statement {
    sid = "DriveFleet"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:SetInstanceProtection",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
      # An instance with no ready worker past boot_deadline_seconds (autoscaler/boot_deadline.py),
      # and its termination hook, which no worker will complete.
      "autoscaling:SetInstanceHealth",
      "autoscaling:CompleteLifecycleAction",
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
    actions   = ["ssm:GetParametersByPath", "ssm:GetParameters"]
    resources = [var.ssm_path_arn, var.ssm_parameter_arn_pattern]
  }
  # SecureString settings, the CMK-encrypted Lambda environment and tables.
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    # Never the secret parameters of other components (sender_tenants).
    condition {
      test     = "StringNotLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = var.denied_parameter_arn_patterns
    }
  }
  # Active tracing: X-Ray has no resource-level permissions for these two actions.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

module "function" {
  source = "../lambda_function"

  function_name = local.function_name
  handler       = var.lambda_handler
  zip_path      = var.lambda_zip_path
  architecture  = var.lambda_architecture
  memory_mb     = var.lambda_memory_mb
  # Samples are spread over most of the one-minute period.
  timeout_seconds       = 55
  environment_variables = local.environment
  kms_key_arn           = var.kms_key_arn
  policy_name           = "scaler"
  policy_json           = data.aws_iam_policy_document.scaler.json
  log_retention_days    = var.log_retention_days
  tags                  = var.tags
}

# The function and its role used to live in this module.
moved {
  from = aws_iam_role.scaler
  to   = module.function.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.scaler
  to   = module.function.aws_iam_role_policy.this
}

moved {
  from = aws_cloudwatch_log_group.scaler
  to   = module.function.aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function.scaler
  to   = module.function.aws_lambda_function.this
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${local.function_name}-schedule"
  description         = "Runs the sdfleet scaler"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "scaler" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = module.function.arn
  # The first run must find its knobs, not fall back to the defaults.
  depends_on = [aws_ssm_parameter.knob]
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "AllowSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}
