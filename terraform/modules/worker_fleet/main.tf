# GPU workers: launch template + ASG (mixed on-demand/spot) + termination hook.
# The scaler owns desired capacity; Terraform only sets the bounds.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  asg_arn          = "arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.name}:*:autoScalingGroup:*:autoScalingGroupName/${var.asg_name}"
  hook_name        = "${var.name_prefix}-drain"
  launch_hook_name = "${var.name_prefix}-launch"
  # A warm pool cannot be combined with a mixed instances policy (AWS restriction).
  warm_pool = var.warm_pool_enabled
  # The ASG and hook names are this module's own: the worker completes the drain hook after
  # draining, and the launch hook (warm pool only) once its model is loaded and warm.
  environment = merge(var.worker_environment, {
    SDFLEET_ASG_NAME            = var.asg_name
    SDFLEET_LIFECYCLE_HOOK_NAME = local.hook_name
    }, local.warm_pool ? {
    SDFLEET_LAUNCH_HOOK_NAME = local.launch_hook_name
  } : {})
  # Instance store is wiped when an instance stops, so a warm-pool (stopped) fleet keeps the
  # model cache on its root volume, which survives the stop.
  model_cache_volume = local.warm_pool && var.model_cache_volume == "auto" ? "root" : var.model_cache_volume
  env_file           = join("\n", [for name in sort(keys(local.environment)) : "${name}=${local.environment[name]}"])
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    env_file                 = local.env_file
    package_source           = var.package_source
    package_extras           = var.package_extras
    wheelhouse_uri           = var.wheelhouse_uri == null ? "" : var.wheelhouse_uri
    model_cache_volume       = local.model_cache_volume
    service_unit             = var.service_unit
    log_group_name           = aws_cloudwatch_log_group.worker.name
    cloudwatch_agent_version = var.cloudwatch_agent_version
  })
  # s3://bucket/prefix/ of the wheelhouse, read by the user data with the instance role.
  wheelhouse_parts = var.wheelhouse_uri == null ? null : regex("^s3://([^/]+)/(.*)$", var.wheelhouse_uri)
  instance_tags    = merge(var.tags, { Name = "${var.name_prefix}-worker" })
  # s3://bucket/prefix of the model, split as worker/model_source.py parse_s3_uri does.
  model_s3_parts = startswith(var.model_source, "s3://") ? regex("^s3://([^/]+)/?(.*)$", var.model_source) : null
  model_s3 = local.model_s3_parts == null ? null : {
    bucket = local.model_s3_parts[0]
    prefix = local.model_s3_parts[1] == "" || endswith(local.model_s3_parts[1], "/") ? local.model_s3_parts[1] : "${local.model_s3_parts[1]}/"
  }
  # The user data copies an s3:// wheel with the instance role.
  package_s3 = startswith(var.package_source, "s3://") ? trimprefix(var.package_source, "s3://") : null
  # Built from the name (not the resource's ARN) so the policy is known at plan time; the
  # account is the role's own (a role cannot write another account's log groups).
  log_group_arn = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:*:log-group:${var.log_group_name}"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name               = "${var.name_prefix}-worker-role"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

# Exactly what worker/ calls (daemon.py, lanes.py, acks.py, visibility.py, outputs.py,
# lifecycle.py, model_source.py, start_timing.py, sdfleet/store.py, sdfleet/heartbeats.py, the
# settings loader, metrics.py) plus the user data's copy of the package wheel.
data "aws_iam_policy_document" "worker" {
  statement {
    sid = "Consume"
    actions = [
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    ]
    resources = var.queue_arns
  }
  # A message that can never run goes to its lane's DLQ with the reason attached.
  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = var.dlq_arns
  }
  # Claim, lease renewal, finish/fail/cancel (UpdateItem); batch messages create records;
  # finish checks the owner's deletion state in the same transaction (ConditionCheckItem).
  statement {
    sid       = "Jobs"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [var.jobs_table_arn]
  }
  statement {
    sid       = "Heartbeats"
    actions   = ["dynamodb:PutItem"]
    resources = [var.workers_table_arn]
  }
  # One record per start, launch to ready (worker/start_timing.py): the simulator's boot samples.
  statement {
    sid       = "RecordStarts"
    actions   = ["s3:PutObject"]
    resources = ["${var.bucket_arn}/fleet/starts/*"]
  }
  statement {
    sid       = "ReadInputs"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/users/*/inputs/*"]
  }
  # PutObject with If-None-Match / If-Match; HeadObject (GetObject) to resolve a conflict;
  # DeleteObject to remove the outputs of a job cancelled before its result was committed.
  statement {
    sid       = "WriteOutputs"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/users/*/outputs/*"]
  }
  dynamic "statement" {
    for_each = local.model_s3 == null ? [] : [local.model_s3]
    content {
      sid       = "ReadModel"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${statement.value.bucket}/${statement.value.prefix}*"]
    }
  }
  dynamic "statement" {
    for_each = local.model_s3 == null ? [] : [local.model_s3]
    content {
      sid       = "ListModel"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${statement.value.bucket}"]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${statement.value.prefix}*"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.package_s3 == null ? [] : [local.package_s3]
    content {
      sid       = "ReadPackage"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${statement.value}"]
    }
  }
  statement {
    sid       = "Settings"
    actions   = ["ssm:GetParametersByPath", "ssm:GetParameters"]
    resources = [var.ssm_path_arn, var.ssm_parameter_arn_pattern]
  }
  # SSE-KMS: Decrypt for SecureStrings, tables and object reads; GenerateDataKey for outputs.
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "JobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource ARNs; the namespace condition scopes it.
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }
  statement {
    sid       = "Drain"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
    resources = [local.asg_arn]
  }
  # A worker that cannot load its model (no usable GPU, or repeated failures) marks its own
  # instance unhealthy so the group replaces it (worker/startup.py).
  statement {
    sid       = "ReplaceMe"
    actions   = ["autoscaling:SetInstanceHealth"]
    resources = [local.asg_arn]
  }
  dynamic "statement" {
    for_each = local.wheelhouse_parts == null ? [] : [local.wheelhouse_parts]
    content {
      sid       = "ReadWheelhouse"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${statement.value[0]}/${statement.value[1]}*"]
    }
  }
  dynamic "statement" {
    for_each = local.wheelhouse_parts == null ? [] : [local.wheelhouse_parts]
    content {
      sid       = "ListWheelhouse"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${statement.value[0]}"]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${statement.value[1]}*"]
      }
    }
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# The CloudWatch agent (user data) ships the worker's journal here: one stream per instance
# and source (worker/<instance id>, bootstrap/<instance id>).
resource "aws_cloudwatch_log_group" "worker" {
  #checkov:skip=CKV_AWS_338:Retention is the SRE knob worker_log_retention_days (30 days by default); worker logs are for debugging, not a year-long audit trail.
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

# What the agent's journald pipeline calls: the group exists (Terraform made it, with its
# retention), so no CreateLogGroup, PutRetentionPolicy or Describe*.
data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "ShipWorkerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.logs.json
}

# Shell access by Session Manager, no SSH: the agent's registration and its session channels,
# as in AWS's AWSCloud9SSMInstanceProfile. Not AmazonSSMManagedInstanceCore: that also grants
# ssm:GetParameter(s) on every parameter in the account, Run Command (ec2messages), inventory
# and patching. These actions have no resource ARNs to scope them to.
data "aws_iam_policy_document" "session_manager" {
  #checkov:skip=CKV_AWS_111:Session Manager's instance actions are granted on "*" as in AWS's own AWSCloud9SSMInstanceProfile: the ssmmessages channels have no resource ARNs, and the agent registers the instance it runs on.
  #checkov:skip=CKV_AWS_356:ssm:UpdateInstanceInformation is called by the SSM agent for its own instance; AWS's minimal Session Manager policy grants it on "*", and a narrower ARN that the agent's call does not match would silently break shell access.
  statement {
    sid = "SessionManager"
    actions = [
      "ssm:UpdateInstanceInformation",
      "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "session_manager" {
  name   = "session-manager"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.session_manager.json
}

resource "aws_iam_instance_profile" "worker" {
  name = "${var.name_prefix}-worker"
  role = aws_iam_role.worker.name
  tags = var.tags
}

# No ingress rule, and the launch template names no key pair: shell access is Session
# Manager's, over the agent's outbound HTTPS channel.
resource "aws_security_group" "worker" {
  name        = "${var.name_prefix}-worker"
  description = "sdfleet workers: no inbound; HTTPS out to AWS APIs and the package index"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.worker.id
  description       = "HTTPS to AWS APIs (SQS, DynamoDB, S3, SSM) and the package index"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_launch_template" "worker" {
  name_prefix            = "${var.name_prefix}-worker-"
  description            = "sdfleet GPU worker"
  image_id               = var.ami_id
  instance_type          = var.instance_types[0]
  update_default_version = true
  ebs_optimized          = true
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.worker.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.metadata_hop_limit
    instance_metadata_tags      = "disabled"
  }

  # The AWS managed EBS key: a customer key would also need a grant for the ASG's service role.
  block_device_mappings {
    device_name = var.root_device_name
    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      throughput            = var.root_volume_throughput_mibps
      iops                  = var.root_volume_iops
      encrypted             = true
      delete_on_termination = true
    }
  }

  network_interfaces {
    device_index                = 0
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.worker.id]
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.instance_tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.instance_tags
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "workers" {
  #checkov:skip=CKV2_AWS_15:Workers pull from SQS and serve no traffic, so there is no load balancer to health-check them.
  name                      = var.asg_name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.subnet_ids
  capacity_rebalance        = !local.warm_pool
  protect_from_scale_in     = true
  health_check_type         = "EC2"
  health_check_grace_period = 300
  wait_for_capacity_timeout = "0"
  # Protected instances never leave on a capacity decrease, so a delete that waited for them
  # would hang: destroy removes the group and its instances outright.
  force_delete        = true
  metrics_granularity = "1Minute"
  enabled_metrics = [
    "GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances",
    "GroupTerminatingInstances", "GroupTotalInstances",
  ]

  dynamic "mixed_instances_policy" {
    for_each = local.warm_pool ? [] : [1]
    content {
      instances_distribution {
        on_demand_base_capacity                  = var.on_demand_base_capacity
        on_demand_percentage_above_base_capacity = var.on_demand_percentage_above_base
        spot_allocation_strategy                 = var.spot_allocation_strategy
      }
      launch_template {
        launch_template_specification {
          launch_template_id = aws_launch_template.worker.id
          version            = "$Latest"
        }
        dynamic "override" {
          for_each = var.instance_types
          content {
            instance_type = override.value
          }
        }
      }
    }
  }

  dynamic "launch_template" {
    for_each = local.warm_pool ? [1] : []
    content {
      id      = aws_launch_template.worker.id
      version = "$Latest"
    }
  }

  # Created with the group, so even the first warm-pool instances wait for it: an instance
  # enters the pool (and later the group) only after its worker loaded the model and completed
  # the hook; one that never does is abandoned (terminated) when the timeout runs out.
  dynamic "initial_lifecycle_hook" {
    for_each = local.warm_pool ? [1] : []
    content {
      name                 = local.launch_hook_name
      lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
      heartbeat_timeout    = var.launch_hook_timeout_seconds
      default_result       = "ABANDON"
    }
  }

  dynamic "warm_pool" {
    for_each = local.warm_pool ? [1] : []
    content {
      pool_state                  = "Stopped"
      min_size                    = var.warm_pool_min_size
      max_group_prepared_capacity = coalesce(var.warm_pool_max_prepared_capacity, var.max_size)
      instance_reuse_policy {
        reuse_on_scale_in = false
      }
    }
  }

  dynamic "tag" {
    for_each = local.instance_tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # The scaler Lambda sets desired capacity; applies must not reset it.
    ignore_changes = [desired_capacity]
    precondition {
      condition     = var.min_size <= var.max_size
      error_message = "min_size (${var.min_size}) must not exceed max_size (${var.max_size})."
    }
    precondition {
      condition     = !var.warm_pool_enabled || var.on_demand_percentage_above_base == 100
      error_message = "warm_pool_enabled needs an on-demand-only fleet (on_demand_percentage_above_base = 100): AWS has no warm pools with spot or mixed instances."
    }
    precondition {
      condition     = var.warm_pool_max_prepared_capacity == null ? true : var.warm_pool_max_prepared_capacity >= var.warm_pool_min_size
      error_message = "warm_pool_max_prepared_capacity (${coalesce(var.warm_pool_max_prepared_capacity, -1)}) must be at least warm_pool_min_size (${var.warm_pool_min_size}): the pool never holds more than it allows."
    }
  }
}

resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.hook_name
  autoscaling_group_name = aws_autoscaling_group.workers.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.lifecycle_hook_timeout_seconds
  # If a worker never answers, termination goes ahead: the message reappears after its visibility.
  default_result = "CONTINUE"
}
