# One customer managed key per stack encrypts the settings, the tables, the bucket and the
# Lambda environments. Settings live in SSM under ssm_path; the parameter's last segment is the
# pydantic settings field it fills (sdfleet/settings.py SSMParameterSource).

data "aws_partition" "current" {}
data "aws_region" "current" {}

resource "aws_kms_key" "main" {
  #checkov:skip=CKV2_AWS_64:The default key policy (account root + IAM delegation) is intended: each role gets exactly its kms actions on this key through its own IAM policy, and writing an explicit policy would need the account id, which an offline plan cannot look up.
  description             = "${var.name_prefix}: settings, tables, bucket, Lambda environments"
  enable_key_rotation     = true
  deletion_window_in_days = var.key_deletion_window_days
  tags                    = var.tags
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
