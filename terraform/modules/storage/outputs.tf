output "bucket" {
  description = "Data bucket name."
  value       = aws_s3_bucket.data.id
}

output "bucket_arn" {
  description = "Data bucket ARN."
  value       = aws_s3_bucket.data.arn
}

output "jobs_table" {
  description = "Jobs table name."
  value       = aws_dynamodb_table.jobs.name
}

output "jobs_table_arn" {
  description = "Jobs table ARN."
  value       = aws_dynamodb_table.jobs.arn
}

output "workers_table" {
  description = "Worker heartbeat table name."
  value       = aws_dynamodb_table.workers.name
}

output "workers_table_arn" {
  description = "Worker heartbeat table ARN."
  value       = aws_dynamodb_table.workers.arn
}

output "idempotency_table" {
  description = "Powertools idempotency table name."
  value       = aws_dynamodb_table.idempotency.name
}

output "idempotency_table_arn" {
  description = "Powertools idempotency table ARN."
  value       = aws_dynamodb_table.idempotency.arn
}

output "jobs_stream_arn" {
  description = "ARN of the jobs table's stream (NEW_AND_OLD_IMAGES), read by the notifier."
  value       = aws_dynamodb_table.jobs.stream_arn
}
