# The data bucket and the three tables. Shapes match sdfleet/store.py, sdfleet/heartbeats.py
# and Powertools' idempotency layer.

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_18:Access logs would need a second bucket per stack; API Gateway access logs and CloudTrail data events cover who touched what.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for short-lived, regenerable images; not wanted.
  #checkov:skip=CKV_AWS_21:Versioning would keep "deleted" user data; deletes must be real (users delete their data, lifecycle expires it).
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; jobs are announced through SQS.
  bucket        = var.bucket_name
  bucket_prefix = var.bucket_name == null ? "${var.name_prefix}-data-" : null
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.data.arn,
      "${aws_s3_bucket.data.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  bucket = aws_s3_bucket.data.id
  policy = data.aws_iam_policy_document.tls_only.json
  # A policy put before the public access block could be judged public and be refused.
  depends_on = [aws_s3_bucket_public_access_block.data]
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    id     = "expire-user-data"
    status = "Enabled"
    filter {
      prefix = "users/"
    }
    expiration {
      days = var.user_data_expiry_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_upload_days
    }
  }

  rule {
    id     = "expire-start-records"
    status = "Enabled"
    filter {
      prefix = "fleet/starts/"
    }
    expiration {
      days = var.start_record_expiry_days
    }
  }

  rule {
    id     = "expire-inputs"
    status = "Enabled"
    filter {
      tag {
        key   = "sdfleet-kind"
        value = "input"
      }
    }
    expiration {
      days = var.input_expiry_days
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_upload_days
    }
  }
}

resource "aws_s3_bucket_cors_configuration" "data" {
  count  = var.enable_cors ? 1 : 0
  bucket = aws_s3_bucket.data.id
  cors_rule {
    allowed_methods = ["GET", "HEAD", "POST"]
    allowed_origins = var.web_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3000
  }
}

resource "aws_dynamodb_table" "jobs" {
  name         = "${var.name_prefix}-jobs"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "job_id"

  attribute {
    name = "job_id"
    type = "S"
  }
  attribute {
    name = "owner"
    type = "S"
  }
  attribute {
    name = "created_at"
    type = "S"
  }
  attribute {
    name = "queue_lane"
    type = "S"
  }
  attribute {
    name = "queue_seq"
    type = "S"
  }
  attribute {
    name = "source_message_id"
    type = "S"
  }

  # "My jobs, newest first".
  global_secondary_index {
    name            = "by_owner"
    hash_key        = "owner"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  # Sparse: only queued jobs carry queue_lane/queue_seq, so "queued ahead of me" is a COUNT.
  global_secondary_index {
    name            = "queued_by_lane"
    hash_key        = "queue_lane"
    range_key       = "queue_seq"
    projection_type = "KEYS_ONLY"
  }

  # Sparse: batch records only. The DLQ reaper finds a batch job from its message's id, as it
  # has no tenant map to rebuild the namespaced record id.
  global_secondary_index {
    name            = "by_source_message"
    hash_key        = "source_message_id"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  # Every write, old and new image: the notifier turns status changes into events (an outbox
  # that no process can forget to send).
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  tags = var.tags
}

resource "aws_dynamodb_table" "workers" {
  #checkov:skip=CKV_AWS_28:Heartbeats are rewritten every few seconds and expire in minutes; a backup would restore only dead workers.
  name         = "${var.name_prefix}-workers"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "worker_id"

  attribute {
    name = "worker_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "idempotency" {
  #checkov:skip=CKV_AWS_28:Idempotency records live for an hour; restoring them has no value.
  name         = "${var.name_prefix}-idempotency"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  # Powertools' DynamoDBPersistenceLayer writes its expiry into "expiration".
  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
