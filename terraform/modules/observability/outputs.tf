output "dashboard_name" {
  description = "CloudWatch dashboard name."
  value       = aws_cloudwatch_dashboard.fleet.dashboard_name
}

output "alarm_names" {
  description = "Every alarm."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.dlq_not_empty : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.oldest_message : a.alarm_name],
    [aws_cloudwatch_metric_alarm.scaler_errors.alarm_name],
    [aws_cloudwatch_metric_alarm.boot_deadline.alarm_name],
    [aws_cloudwatch_metric_alarm.worker_configuration_errors.alarm_name],
  )
}
