locals {
  local_mode = var.aws_endpoint_url != null
}

provider "aws" {
  region = var.region

  # Local mode: the emulator accepts any credentials; offline_plan: plan without reaching AWS.
  access_key                  = local.local_mode ? "testing" : null
  secret_key                  = local.local_mode ? "testing" : null
  skip_credentials_validation = local.local_mode || var.offline_plan
  skip_requesting_account_id  = local.local_mode || var.offline_plan
  skip_metadata_api_check     = local.local_mode || var.offline_plan
  skip_region_validation      = local.local_mode
  s3_use_path_style           = local.local_mode

  dynamic "endpoints" {
    for_each = local.local_mode ? [1] : []
    content {
      amplify        = var.aws_endpoint_url
      apigatewayv2   = var.aws_endpoint_url
      autoscaling    = var.aws_endpoint_url
      cloudwatch     = var.aws_endpoint_url
      cloudwatchlogs = var.aws_endpoint_url
      cognitoidp     = var.aws_endpoint_url
      dynamodb       = var.aws_endpoint_url
      ec2            = var.aws_endpoint_url
      events         = var.aws_endpoint_url
      iam            = var.aws_endpoint_url
      kms            = var.aws_endpoint_url
      lambda         = var.aws_endpoint_url
      s3             = var.aws_endpoint_url
      sqs            = var.aws_endpoint_url
      ssm            = var.aws_endpoint_url
      sts            = var.aws_endpoint_url
    }
  }

  # The scaler rewrites this ASG tag every run; Terraform must neither show nor remove it.
  ignore_tags {
    keys = [local.scaler_memory_tag]
  }

  default_tags {
    tags = merge(var.tags, {
      "sdfleet:environment" = var.environment
      "sdfleet:managed-by"  = "terraform"
    })
  }
}
