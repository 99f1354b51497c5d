# One dashboard and the alarms an on-call SRE needs.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
  lanes  = sort(keys(var.queue_names))
  widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title  = "Queue depth (visible + in flight)"
        region = local.region
        stat   = "Maximum"
        period = 60
        metrics = flatten([for lane in local.lanes : [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_names[lane], { label = "${lane} visible" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.queue_names[lane], { label = "${lane} in flight" }],
        ]])
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title   = "Oldest message age (s)"
        region  = local.region
        stat    = "Maximum"
        period  = 60
        metrics = [for lane in local.lanes : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_names[lane], { label = lane }]]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title  = "Capacity"
        region = local.region
        stat   = "Maximum"
        period = 60
        metrics = [
          ["AWS/AutoScaling", "GroupDesiredCapacity", "AutoScalingGroupName", var.asg_name, { label = "desired" }],
          ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", var.asg_name, { label = "in service" }],
          ["AWS/AutoScaling", "GroupPendingInstances", "AutoScalingGroupName", var.asg_name, { label = "pending" }],
          # The scaler's own view (Powertools EMF metrics carry a `service` dimension).
          [var.metrics_namespace, "WorkersNeeded", "service", var.scaler_service_name, { label = "needed (scaler)" }],
          [var.metrics_namespace, "BusyWorkers", "service", var.scaler_service_name, { label = "busy (scaler)" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title  = "Job latency (s, queue to done)"
        region = local.region
        period = 60
        metrics = [
          [var.metrics_namespace, "JobLatencySeconds", "service", var.worker_service_name, { stat = "p50", label = "p50" }],
          [var.metrics_namespace, "JobLatencySeconds", "service", var.worker_service_name, { stat = "p90", label = "p90" }],
          [var.metrics_namespace, "JobLatencySeconds", "service", var.worker_service_name, { stat = "p99", label = "p99" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Failures"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = concat(
          [[var.metrics_namespace, "JobsFailed", "service", var.worker_service_name, { label = "jobs failed" }]],
          [for lane in local.lanes : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_names[lane], { label = "${lane} DLQ", stat = "Maximum" }]],
          [
            ["AWS/Lambda", "Errors", "FunctionName", var.scaler_function_name, { label = "scaler errors" }],
            ["AWS/Lambda", "Errors", "FunctionName", var.ingest_function_name, { label = "ingest errors" }],
          ],
        )
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title  = "Cost per hour (USD, at ${var.hourly_price_per_worker}/worker-hour)"
        region = local.region
        period = 300
        metrics = [
          ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", var.asg_name, { id = "workers", stat = "Average", visible = false }],
          [{ expression = "workers * ${var.hourly_price_per_worker}", label = "USD / hour", id = "cost" }],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "fleet" {
  dashboard_name = "${var.name_prefix}-fleet"
  dashboard_body = jsonencode({ widgets = local.widgets })
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = var.dlq_names

  alarm_name          = "${var.name_prefix}-${each.key}-dlq-not-empty"
  alarm_description   = "Jobs of the ${each.key} lane failed every retry and wait in ${each.value}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each = var.queue_names

  alarm_name          = "${var.name_prefix}-${each.key}-oldest-message"
  alarm_description   = "The ${each.key} lane's oldest job waits longer than its SLO."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = lookup(var.oldest_message_slo_seconds, each.key, 600)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "scaler_errors" {
  alarm_name          = "${var.name_prefix}-scaler-errors"
  alarm_description   = "The scaler Lambda failed; the fleet size is frozen until it recovers."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = var.scaler_function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# A worker instance with no ready worker past boot_deadline_seconds was replaced (the scaler's
# InstancesPastBootDeadline). One is a flaky boot; a stream of them is a broken build that
# replacing cannot fix: every new instance is billed until someone fixes it.
resource "aws_cloudwatch_metric_alarm" "boot_deadline" {
  alarm_name          = "${var.name_prefix}-instances-past-boot-deadline"
  alarm_description   = "The scaler replaced worker instances whose worker never reported ready within boot_deadline_seconds; its log line names each with what the worker last reported (docs/scaling.md)."
  namespace           = var.metrics_namespace
  metric_name         = "InstancesPastBootDeadline"
  dimensions          = { service = var.scaler_service_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# A worker stopped on an invalid setting (exit 78, never restarted: docs/worker.md).
resource "aws_cloudwatch_metric_alarm" "worker_configuration_errors" {
  alarm_name          = "${var.name_prefix}-worker-configuration-errors"
  alarm_description   = "A worker stopped on an invalid setting; its heartbeat record's stop_reason says which."
  namespace           = var.metrics_namespace
  metric_name         = "WorkerConfigurationErrors"
  dimensions          = { service = var.worker_service_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
