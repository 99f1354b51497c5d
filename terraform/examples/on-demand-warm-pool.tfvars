# An on-demand-only fleet with a warm pool: no spot interruptions, and stopped, pre-booted
# instances (model already cached on the root volume) join in well under a minute.
# AWS allows warm pools only without a mixed instances policy, so the fleet uses one type.
#   terraform -chdir=terraform plan -var-file=examples/on-demand-warm-pool.tfvars
environment = "steady"
region      = "us-east-1"
bucket_name = "example-org-sdfleet-steady-data"
vpc_id      = "vpc-0123456789abcdef0"
subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

instance_types                  = ["g5.xlarge"]
on_demand_base_capacity         = 0
on_demand_percentage_above_base = 100
warm_pool_enabled               = true
warm_pool_min_size              = 2

min_capacity                 = 0
max_capacity                 = 6
target_wait_seconds          = 30
idle_seconds_before_scale_in = 600
quiet_seconds_before_zero    = 1800
boot_seconds                 = 45
backlog_tolerance            = 0.75

model_source            = "s3://example-org-sdfleet-steady-data/models/sd15/"
hourly_price_per_worker = 1.006
