# A small, cheap development fleet: spot only, scales to zero quickly.
environment = "dev"
region      = "us-east-1"
vpc_id      = "vpc-0123456789abcdef0"
# A fixed bucket name so model_source can point into it before the first apply.
bucket_name = "example-org-sdfleet-dev-data"
subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

enable_frontend     = true
frontend_repository = "https://github.com/example-org/sdfleet"
frontend_branch     = "dev"
force_destroy       = true

instance_types                  = ["g4dn.xlarge", "g5.xlarge", "g6.xlarge"]
on_demand_base_capacity         = 0
on_demand_percentage_above_base = 0

min_capacity                 = 0
max_capacity                 = 2
target_wait_seconds          = 120
idle_seconds_before_scale_in = 60
quiet_seconds_before_zero    = 120
max_step                     = 2
default_seconds_per_job      = 8
training_minutes_per_job     = 15
boot_seconds                 = 240
boot_deadline_seconds        = 900
samples_per_invocation       = 12
backlog_tolerance            = 0.75

model_source            = "s3://example-org-sdfleet-dev-data/models/sd15/"
hourly_price_per_worker = 0.3
log_retention_days      = 14
point_in_time_recovery  = false
