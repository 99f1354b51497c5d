# Only with create_network: an isolated VPC (no internet gateway) so the emulator and offline
# plans have somewhere to put the workers. Real fleets bring private subnets with egress.

resource "aws_vpc" "workers" {
  #checkov:skip=CKV2_AWS_11:Emulator/plan-only network with no route out; flow logs would record nothing.
  #checkov:skip=CKV2_AWS_12:No internet gateway and no instances use the default security group; workers get their own group.
  count                = var.create_network ? 1 : 0
  cidr_block           = "10.42.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${local.name_prefix}-workers" }
}

resource "aws_subnet" "workers" {
  count                   = var.create_network ? 2 : 0
  vpc_id                  = aws_vpc.workers[0].id
  cidr_block              = cidrsubnet("10.42.0.0/16", 8, count.index)
  availability_zone       = "${var.region}${["a", "b"][count.index]}"
  map_public_ip_on_launch = false
  tags                    = { Name = "${local.name_prefix}-workers-${count.index}" }
}

locals {
  vpc_id     = var.create_network ? aws_vpc.workers[0].id : var.vpc_id
  subnet_ids = var.create_network ? aws_subnet.workers[*].id : var.subnet_ids
}
