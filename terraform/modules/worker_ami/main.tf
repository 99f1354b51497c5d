# The baked worker AMI: EC2 Image Builder runs the worker's own bootstrap script in --bake
# mode (the venv from the hashed wheelhouse, nothing else) on the GPU base AMI and snapshots
# the result. Instances launched from it skip the install (~3-5 min of a plain boot).
# Building takes ~20-40 minutes and happens during `terraform apply` when the recipe changes
# (a new version: bump image_version with each new wheelhouse).

data "aws_partition" "current" {}

locals {
  bake_script = templatefile(var.bootstrap_template_path, {
    env_file           = ""
    package_source     = var.package_source
    package_extras     = var.package_extras
    wheelhouse_uri     = var.wheelhouse_uri
    model_cache_volume = "root"
    service_unit       = ""
    # The bake installs the agent; each instance configures it for its deployment's group.
    log_group_name           = ""
    cloudwatch_agent_version = var.cloudwatch_agent_version
  })
  wheelhouse_parts = regex("^s3://([^/]+)/(.*)$", var.wheelhouse_uri)
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

resource "aws_iam_role" "build" {
  name               = "${var.name_prefix}-ami-build"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

# What Image Builder's agent needs on the build instance (SSM + its own logging), AWS managed.
resource "aws_iam_role_policy_attachment" "build" {
  for_each = toset([
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/EC2InstanceProfileForImageBuilder",
  ])
  role       = aws_iam_role.build.name
  policy_arn = each.value
}

data "aws_iam_policy_document" "wheelhouse" {
  statement {
    sid       = "ReadWheelhouse"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${local.wheelhouse_parts[0]}/${local.wheelhouse_parts[1]}*"]
  }
  statement {
    sid       = "ListWheelhouse"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${local.wheelhouse_parts[0]}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.wheelhouse_parts[1]}*"]
    }
  }
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "wheelhouse" {
  name   = "wheelhouse"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.wheelhouse.json
}

resource "aws_iam_instance_profile" "build" {
  name = "${var.name_prefix}-ami-build"
  role = aws_iam_role.build.name
  tags = var.tags
}

resource "aws_security_group" "build" {
  name        = "${var.name_prefix}-ami-build"
  description = "sdfleet AMI build instance: no inbound; HTTPS out to S3, SSM and the OS mirrors"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "build_https" {
  security_group_id = aws_security_group.build.id
  description       = "HTTPS to S3 (wheelhouse), SSM (Image Builder agent) and the OS package mirrors"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_imagebuilder_component" "worker" {
  #checkov:skip=CKV_AWS_180:The component is the public bootstrap script (no secrets); the AWS owned key is enough.
  name     = "${var.name_prefix}-worker-venv"
  platform = "Linux"
  version  = var.image_version
  data = yamlencode({
    schemaVersion = 1.0
    phases = [{
      name = "build"
      steps = [{
        name   = "InstallWorker"
        action = "ExecuteBash"
        inputs = {
          commands = [
            "cat > /tmp/sdfleet-bootstrap.sh <<'SDFLEET_BOOTSTRAP'\n${local.bake_script}\nSDFLEET_BOOTSTRAP",
            "bash /tmp/sdfleet-bootstrap.sh --bake",
          ]
        }
      }]
    }]
  })
  tags = var.tags
}

resource "aws_imagebuilder_image_recipe" "worker" {
  #checkov:skip=CKV_AWS_200:Encrypted with the AWS managed EBS key, as the launch template's volumes: a customer key would need a grant for the Auto Scaling service-linked role to launch from the snapshot.
  name         = "${var.name_prefix}-worker"
  parent_image = var.parent_image
  version      = var.image_version

  component {
    component_arn = aws_imagebuilder_component.worker.arn
  }

  # The AWS managed EBS key, as on the launch template: a customer key would also need a grant
  # for the Auto Scaling service-linked role to launch from the snapshot.
  block_device_mapping {
    device_name = var.root_device_name
    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }
  tags = var.tags
}

resource "aws_imagebuilder_infrastructure_configuration" "worker" {
  name                          = "${var.name_prefix}-worker-build"
  instance_profile_name         = aws_iam_instance_profile.build.name
  instance_types                = [var.build_instance_type]
  subnet_id                     = var.subnet_id
  security_group_ids            = [aws_security_group.build.id]
  terminate_instance_on_failure = true

  instance_metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  tags = var.tags
}

resource "aws_imagebuilder_image" "worker" {
  image_recipe_arn                 = aws_imagebuilder_image_recipe.worker.arn
  infrastructure_configuration_arn = aws_imagebuilder_infrastructure_configuration.worker.arn
  enhanced_image_metadata_enabled  = true

  image_tests_configuration {
    # The worker tests itself at start-up (probe, warm-up); Image Builder's tests add ~15 min.
    image_tests_enabled = false
  }
  tags = var.tags
}
