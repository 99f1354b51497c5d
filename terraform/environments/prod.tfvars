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

# Scaler: tuned on the benchmark as deployed (make bench-scaler, "prod.tfvars"; docs/scaling.md):
# a 30 s scale-in window (60 s held a steady load within 1.3x of the GPU-hour bound on 5 of
# 10 seeds, 30 s on 8) and a 300 s quiet time (the last worker stays warm through lulls of a
# few minutes). boot_seconds is the baked AMI's (~100 s; 180 s installing at every boot left
# the web p95 over 60 s on 7 of 10 spot-storm and 9 of 10 training-mix seeds).
min_capacity                 = 0
max_capacity                 = 20
target_wait_seconds          = 60
idle_seconds_before_scale_in = 30
quiet_seconds_before_zero    = 300
max_step                     = 4
default_seconds_per_job      = 6
training_minutes_per_job     = 15
boot_seconds                 = 100
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

model_source = "s3://example-org-sdfleet-prod-data/models/sd15/"
# Workers launch from a baked AMI (modules/worker_ami: the venv installed once from the hashed
# wheelhouse, `make worker-wheelhouse-upload` prints this line): ~100 s from launch to first
# image instead of ~150 s installing at every boot (docs/worker-install.md), and no 4.2 GB of
# wheels per launch. Bump worker_ami_version to bake again after a new wheelhouse.
worker_wheelhouse_uri    = "s3://example-org-sdfleet-prod-data/wheelhouse/5782e4bf4589/"
worker_ami_bake          = true
worker_ami_version       = "1.0.0"
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
