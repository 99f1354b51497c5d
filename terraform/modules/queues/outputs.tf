output "queue_urls" {
  description = "Lane name -> work queue URL."
  value       = { for lane, queue in aws_sqs_queue.lane : lane => queue.url }
}

output "queue_arns" {
  description = "Lane name -> work queue ARN."
  value       = { for lane, queue in aws_sqs_queue.lane : lane => queue.arn }
}

output "queue_names" {
  description = "Lane name -> work queue name."
  value       = { for lane, queue in aws_sqs_queue.lane : lane => queue.name }
}

output "dlq_urls" {
  description = "Lane name -> dead-letter queue URL."
  value       = { for lane, queue in aws_sqs_queue.dlq : lane => queue.url }
}

output "dlq_arns" {
  description = "Lane name -> dead-letter queue ARN."
  value       = { for lane, queue in aws_sqs_queue.dlq : lane => queue.arn }
}

output "dlq_names" {
  description = "Lane name -> dead-letter queue name."
  value       = { for lane, queue in aws_sqs_queue.dlq : lane => queue.name }
}
