# The cheapest fleet: spot only across several GPU types, scales to zero after 5 quiet minutes.
# Expect interruptions (capacity rebalance replaces workers early; the lifecycle hook drains).
#   terraform -chdir=terraform plan -var-file=examples/scale-to-zero-spot.tfvars
environment = "cheap"
region      = "us-east-1"
bucket_name = "example-org-sdfleet-cheap-data"
vpc_id      = "vpc-0123456789abcdef0"
subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

instance_types                  = ["g4dn.xlarge", "g5.xlarge", "g6.xlarge", "g4dn.2xlarge"]
spot_allocation_strategy        = "price-capacity-optimized"
on_demand_base_capacity         = 0
on_demand_percentage_above_base = 0

# backlog_tolerance 1.0: the backlog may use the whole target wait before a worker is added
# (fewer launches, longer waits).
min_capacity              = 0
max_capacity              = 8
target_wait_seconds       = 300
quiet_seconds_before_zero = 300
boot_seconds              = 240
backlog_tolerance         = 1.0

model_source            = "s3://example-org-sdfleet-cheap-data/models/sd15/"
hourly_price_per_worker = 0.25
