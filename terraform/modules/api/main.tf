# Browser -> HTTP API (Cognito JWT on every route) -> ingest Lambda.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  function_name = "${var.name_prefix}-ingest"
  issuer        = "https://cognito-idp.${data.aws_region.current.name}.amazonaws.com/${aws_cognito_user_pool.users.id}"
}

resource "aws_cognito_user_pool" "users" {
  name                     = "${var.name_prefix}-users"
  alias_attributes         = ["email"]
  auto_verified_attributes = ["email"]
  deletion_protection      = var.user_pool_deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration        = "OPTIONAL"

  # Self sign-up is a tfvars switch (allow_self_sign_up); off, only administrators create users.
  admin_create_user_config {
    allow_admin_create_user_only = !var.allow_self_sign_up
  }

  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  tags = var.tags
}

# A public client (no secret): the single-page app signs in with SRP or a password.
resource "aws_cognito_user_pool_client" "web" {
  name                          = "${var.name_prefix}-web"
  user_pool_id                  = aws_cognito_user_pool.users.id
  generate_secret               = false
  prevent_user_existence_errors = "ENABLED"
  explicit_auth_flows           = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  access_token_validity         = 60
  id_token_validity             = 60
  refresh_token_validity        = 30
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
  callback_urls                        = length(var.callback_urls) > 0 ? var.callback_urls : null
  allowed_oauth_flows_user_pool_client = length(var.callback_urls) > 0
  allowed_oauth_flows                  = length(var.callback_urls) > 0 ? ["code"] : null
  allowed_oauth_scopes                 = length(var.callback_urls) > 0 ? ["openid", "email"] : null
  supported_identity_providers         = ["COGNITO"]
}

# Exactly what ingest_lambda/ calls (services.py, idempotency.py, sdfleet/store.py,
# sdfleet/heartbeats.py, the settings loader); metrics go out as EMF log lines.
data "aws_iam_policy_document" "ingest" {
  statement {
    sid = "Jobs"
    actions = [
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
      "dynamodb:Query", "dynamodb:ConditionCheckItem",
    ]
    resources = [var.jobs_table_arn]
  }
  # by_owner (listing, quotas, account deletion) and queued_by_lane (queue position).
  statement {
    sid       = "JobIndexes"
    actions   = ["dynamodb:Query"]
    resources = ["${var.jobs_table_arn}/index/*"]
  }
  # ETA: live workers and their seconds per job come from the heartbeats.
  statement {
    sid       = "Heartbeats"
    actions   = ["dynamodb:Scan"]
    resources = [var.workers_table_arn]
  }
  # Powertools idempotency (DynamoDBPersistenceLayer).
  statement {
    sid       = "Idempotency"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [var.idempotency_table_arn]
  }
  statement {
    sid       = "Enqueue"
    actions   = ["sqs:SendMessage"]
    resources = var.queue_arns
  }
  # The presigned upload POST is signed with this role: it may only create inputs, tagged
  # sdfleet-kind=input by the POST's `tagging` field (S3 checks PutObjectTagging for that).
  statement {
    sid       = "PresignUploads"
    actions   = ["s3:PutObject", "s3:PutObjectTagging"]
    resources = ["${var.bucket_arn}/users/*/inputs/*"]
  }
  # HeadObject on inputs, presigned GETs of outputs, DeleteObjects of a job's or user's data.
  statement {
    sid       = "UserObjects"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
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
  statement {
    sid       = "Settings"
    actions   = ["ssm:GetParametersByPath", "ssm:GetParameters"]
    resources = [var.ssm_path_arn, var.ssm_parameter_arn_pattern]
  }
  # SSE-KMS: Decrypt for its own SecureStrings, the Lambda environment, reads and presigned
  # GETs; GenerateDataKey for uploads through the presigned POST. No Encrypt: DynamoDB and S3
  # encrypt table and object writes themselves. Never the secret parameters of other
  # components (sender_tenants): their encryption context names them.
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringNotLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = var.denied_parameter_arn_patterns
    }
  }
  # POST /me/webhook-secret rotates the caller's signing secret; a job with a webhook_url
  # creates it on first need (sdfleet/webhook_secrets.py).
  dynamic "statement" {
    for_each = var.webhook_secrets_arn_pattern == null ? [] : [var.webhook_secrets_arn_pattern]
    content {
      sid       = "SigningSecrets"
      actions   = ["ssm:GetParameter", "ssm:PutParameter"]
      resources = [statement.value]
    }
  }
  dynamic "statement" {
    for_each = var.webhook_secrets_arn_pattern == null ? [] : [var.webhook_secrets_arn_pattern]
    content {
      sid       = "EncryptSigningSecrets"
      actions   = ["kms:Encrypt"]
      resources = [var.kms_key_arn]
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:PARAMETER_ARN"
        values   = [statement.value]
      }
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

  function_name         = local.function_name
  handler               = var.lambda_handler
  zip_path              = var.lambda_zip_path
  architecture          = var.lambda_architecture
  memory_mb             = var.lambda_memory_mb
  timeout_seconds       = var.lambda_timeout_seconds
  reserved_concurrency  = var.reserved_concurrency
  environment_variables = var.environment_variables
  kms_key_arn           = var.kms_key_arn
  policy_name           = "ingest"
  policy_json           = data.aws_iam_policy_document.ingest.json
  log_retention_days    = var.log_retention_days
  tags                  = var.tags
}

# The function and its role used to live in this module.
moved {
  from = aws_iam_role.ingest
  to   = module.function.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.ingest
  to   = module.function.aws_iam_role_policy.this
}

moved {
  from = aws_cloudwatch_log_group.ingest
  to   = module.function.aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function.ingest
  to   = module.function.aws_lambda_function.this
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest; a CMK would need an account-specific key policy for the logs service principal.
  #checkov:skip=CKV_AWS_338:Retention is the SRE knob log_retention_days; access logs are not kept for a year by default.
  name              = "/aws/apigateway/${var.name_prefix}-api"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_apigatewayv2_api" "http" {
  name          = "${var.name_prefix}-api"
  protocol_type = "HTTP"
  description   = "sdfleet job API (Cognito JWT on every route)"

  dynamic "cors_configuration" {
    for_each = var.enable_cors ? [1] : []
    content {
      allow_origins  = var.web_origins
      allow_methods  = ["GET", "POST", "DELETE", "OPTIONS"]
      allow_headers  = var.cors_allow_headers
      expose_headers = var.cors_expose_headers
      max_age        = 3600
    }
  }

  tags = var.tags
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  api_id           = aws_apigatewayv2_api.http.id
  name             = "cognito"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = local.issuer
    audience = [aws_cognito_user_pool_client.web.id]
  }
}

resource "aws_apigatewayv2_integration" "ingest" {
  api_id                 = aws_apigatewayv2_api.http.id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.function.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "route" {
  for_each = toset(var.routes)

  api_id             = aws_apigatewayv2_api.http.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.ingest.id}"
  authorization_type = "JWT"
  authorizer_id      = aws_apigatewayv2_authorizer.jwt.id
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      ip               = "$context.identity.sourceIp"
      requestTime      = "$context.requestTime"
      routeKey         = "$context.routeKey"
      status           = "$context.status"
      responseLength   = "$context.responseLength"
      latencyMs        = "$context.responseLatency"
      integrationError = "$context.integrationErrorMessage"
      authorizerError  = "$context.authorizer.error"
      sub              = "$context.authorizer.claims.sub"
    })
  }

  tags = var.tags
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = module.function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http.execution_arn}/*/*"
}
