# Production: on-demand base for latency, spot above it, several GPU types for spot capacity.
environment = "prod"
region      = "us-east-1"
vpc_id      = "vpc-0123456789abcdef0"
# A fixed bucket name so model_source can point into it before the first apply.
bucket_name = "example-org-sdfleet-prod-data"
subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210", "subnet-00112233445566778"]

enable_frontend     = true
frontend_repository = "https://github.com/example-org/sdfleet"
frontend_branch     = "main"
web_origins         = ["https://app.example.com"]

instance_types                  = ["g5.xlarge", "g6.xlarge", "g4dn.xlarge", "g5.2xlarge", "g6.2xlarge"]
spot_allocation_strategy        = "capacity-optimized"
on_demand_base_capacity         = 1
on_demand_percentage_above_base = 20

# Scaler: the tuned defaults (docs/scaling.md) with a 300 s quiet time: the last worker stays warm
# through lulls of a few minutes. Benchmarked as deployed (make bench-scaler, "prod.tfvars"): the
# former 300 s scale-in window and 900 s quiet cost 11-34% more GPU-hours on every trace.
min_capacity                 = 0
max_capacity                 = 20
target_wait_seconds          = 60
idle_seconds_before_scale_in = 60
quiet_seconds_before_zero    = 300
max_step                     = 4
default_seconds_per_job      = 6
training_minutes_per_job     = 15
boot_seconds                 = 180
boot_deadline_seconds        = 600
samples_per_invocation       = 12
backlog_tolerance            = 0.75

visibility_timeout_seconds          = 120
training_visibility_timeout_seconds = 900
heartbeat_seconds                   = 30
max_receive_count                   = 3
record_ttl_days                     = 30
user_data_expiry_days               = 30
input_expiry_days                   = 7

model_source             = "s3://example-org-sdfleet-prod-data/models/sd15/"
hourly_price_per_worker  = 0.55
max_active_jobs_per_user = 20
# Per-user quotas (docs/api.md) and the interactive lane's per-user fairness (docs/worker.md).
max_active_cost_units_per_user = 6400
max_uploads_per_user_per_day   = 200
fair_window_messages           = 24
api_throttling_burst_limit     = 200
api_throttling_rate_limit      = 100
oldest_message_slo_seconds     = { interactive = 120, training = 1800, batch = 3600 }
log_retention_days             = 90
