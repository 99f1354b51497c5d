# One Python Lambda function with its role, inline policy and log group; the ingest API and the
# scaler are both built from it. The caller passes what the code calls as a policy document;
# writing to the function's own log group is added here.

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [var.policy_json]
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = var.policy_name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest; a CMK would need an account-specific key policy for the logs service principal.
  #checkov:skip=CKV_AWS_338:Retention is the SRE knob log_retention_days; request logs and scaler decisions are not kept for a year by default.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:No asynchronous invocations: API Gateway calls the ingest function synchronously (the caller retries with its Idempotency-Key) and a failed scaler run is superseded by the next one, so a DLQ would hold nothing useful.
  #checkov:skip=CKV_AWS_117:Talks only to AWS APIs over TLS; a VPC would add NAT cost and cold-start latency without isolating anything.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile per account; the zip's hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is the knob reserved_concurrency (-1 by default: new accounts cannot reserve any); API stage throttling bounds the ingest rate and one schedule runs the scaler.
  function_name                  = var.function_name
  role                           = aws_iam_role.this.arn
  handler                        = var.handler
  runtime                        = "python3.11"
  architectures                  = [var.architecture]
  filename                       = var.zip_path
  source_code_hash               = fileexists(var.zip_path) ? filebase64sha256(var.zip_path) : null
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = var.environment_variables
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
  tags       = var.tags
}
