# One customer managed key per stack encrypts the settings, the tables, the bucket, the
# Lambda environments and the worker log group. Settings live in SSM under ssm_path; the
# parameter's last segment is the pydantic settings field it fills (sdfleet/settings.py
# SSMParameterSource).

data "aws_partition" "current" {}
data "aws_region" "current" {}

resource "aws_kms_key" "main" {
  description             = "${var.name_prefix}: settings, tables, bucket, Lambda environments, worker logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.key_deletion_window_days
  tags                    = var.tags
}

locals {
  # The account id from the key's own ARN, so an offline plan needs no STS call.
  account_id = split(":", aws_kms_key.main.arn)[4]
  # Log groups under this prefix (the worker's: <prefix>worker) may be encrypted with the key.
  log_group_arn_pattern = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${local.account_id}:log-group:${local.log_group_name_prefix}*"
  log_group_name_prefix = "/${var.name_prefix}/"
}

# The default key policy (account root + IAM delegation: each role gets exactly its kms actions
# through its own IAM policy) plus CloudWatch Logs, a service principal that IAM delegation
# cannot reach: it may use the key only for this stack's log groups (the encryption context
# CloudWatch Logs sends is the log group's ARN).
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy, not an identity policy: Resource "*" is this key alone, and the first statement is AWS's default (the account root delegating to IAM).
  #checkov:skip=CKV_AWS_356:A key policy, not an identity policy: Resource "*" is this key alone.
  #checkov:skip=CKV_AWS_109:A key policy, not an identity policy: kms:* for the account root is AWS's default statement, which keeps the key manageable through IAM.
  statement {
    sid       = "AccountRoot"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "StackLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn_pattern]
    }
  }
}

resource "aws_kms_key_policy" "main" {
  key_id = aws_kms_key.main.id
  policy = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# Every parameter is a SecureString: readers always decrypt (WithDecryption=True), so one type
# keeps plain settings and secrets on the same path and the same grants.
resource "aws_ssm_parameter" "setting" {
  for_each = var.parameters

  name   = "${var.ssm_path}${each.key}"
  type   = "SecureString"
  key_id = aws_kms_key.main.arn
  value  = each.value
  tags   = var.tags
}

resource "aws_ssm_parameter" "secret" {
  for_each = nonsensitive(toset(keys(var.secret_parameters)))

  name   = "${var.ssm_path}${each.key}"
  type   = "SecureString"
  key_id = aws_kms_key.main.arn
  value  = var.secret_parameters[each.key]
  tags   = var.tags
}
