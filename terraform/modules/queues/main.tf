# One lane = a work queue + its dead-letter queue. Both use SQS-managed SSE so batch
# submitters need no KMS grants to send.
locals {
  # The message contract (sdfleet/messages.py MAX_MESSAGE_BYTES) is the SQS maximum.
  max_message_size = 262144
  # Dead letters are kept as long as SQS allows, so an SRE has two weeks to redrive them.
  dlq_retention_seconds = 1209600
  lanes                 = toset(var.lanes)
}

resource "aws_sqs_queue" "dlq" {
  for_each = local.lanes

  name                      = "${var.name_prefix}-${each.key}-dlq"
  message_retention_seconds = local.dlq_retention_seconds
  max_message_size          = local.max_message_size
  sqs_managed_sse_enabled   = true
  tags                      = merge(var.tags, { "sdfleet:lane" = each.key, "sdfleet:role" = "dlq" })
}

resource "aws_sqs_queue" "lane" {
  for_each = local.lanes

  name                       = "${var.name_prefix}-${each.key}"
  visibility_timeout_seconds = lookup(var.lane_visibility_timeout_seconds, each.key, var.visibility_timeout_seconds)
  message_retention_seconds  = var.message_retention_seconds
  max_message_size           = local.max_message_size
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  sqs_managed_sse_enabled    = true
  tags                       = merge(var.tags, { "sdfleet:lane" = each.key, "sdfleet:role" = "work" })

  # aws_sqs_queue_redrive_policy.lane owns it; the queue must not plan it back.
  lifecycle {
    ignore_changes = [redrive_policy]
  }
}

# A resource of its own rather than the queue's redrive_policy: both queues of a lane are
# created at once, and whatever only needs the work queue (workers, Lambdas) need not wait
# for the provider's ~25 s attribute-propagation check of the DLQ first.
resource "aws_sqs_queue_redrive_policy" "lane" {
  for_each = local.lanes

  queue_url = aws_sqs_queue.lane[each.key].id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Who may send where. Identity policies alone let any principal of the account with
# sqs:SendMessage post to the interactive lane (skipping lane priority and quotas); these
# resource policies deny every sender but the listed ones, allow the listed ones (so principals
# of other accounts can send to the batch lane), and refuse any request not made over TLS.
data "aws_iam_policy_document" "lane" {
  for_each = local.lanes

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.lane[each.key].arn]
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

  statement {
    sid       = "DenyUnlistedSenders"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lane[each.key].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    dynamic "condition" {
      for_each = length(lookup(var.sender_arns, each.key, [])) > 0 ? [1] : []
      content {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = var.sender_arns[each.key]
      }
    }
  }

  dynamic "statement" {
    for_each = length(lookup(var.sender_arns, each.key, [])) > 0 ? [1] : []
    content {
      sid       = "AllowListedSenders"
      effect    = "Allow"
      actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
      resources = [aws_sqs_queue.lane[each.key].arn]
      principals {
        type        = "AWS"
        identifiers = var.sender_arns[each.key]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "lane" {
  for_each = local.lanes

  queue_url = aws_sqs_queue.lane[each.key].id
  policy    = data.aws_iam_policy_document.lane[each.key].json
}

data "aws_iam_policy_document" "dlq" {
  for_each = local.lanes

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq[each.key].arn]
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

  # SQS's own redrive needs no grant; only the workers copy rejected messages in.
  statement {
    sid       = "DenyOtherSenders"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq[each.key].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    dynamic "condition" {
      for_each = length(var.dead_letter_sender_arn_patterns) > 0 ? [1] : []
      content {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = var.dead_letter_sender_arn_patterns
      }
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = local.lanes

  queue_url = aws_sqs_queue.dlq[each.key].id
  policy    = data.aws_iam_policy_document.dlq[each.key].json
}
