# Local mode: the embedded emulator (moto server). `sdfleet up` passes
# -var aws_endpoint_url=http://127.0.0.1:<port>; Amplify is off (the emulator has none).
environment     = "local"
region          = "us-east-1"
enable_frontend = false
create_network  = true
force_destroy   = true
web_origins     = ["http://127.0.0.1:8788", "http://localhost:8788"]

# An AMI the emulator knows, so the instances the scaler asks for can "launch".
worker_ami_id = "ami-12c6146b"
# The random-weight test model on the CPU: allowed only here (aws_endpoint_url is set).
model_source  = "tiny"
worker_device = "cpu"

min_capacity                 = 0
max_capacity                 = 2
target_wait_seconds          = 30
idle_seconds_before_scale_in = 20
quiet_seconds_before_zero    = 40
max_step                     = 2
default_seconds_per_job      = 5
training_minutes_per_job     = 1
boot_seconds                 = 5
boot_deadline_seconds        = 600
samples_per_invocation       = 1
backlog_tolerance            = 0.75

visibility_timeout_seconds          = 60
training_visibility_timeout_seconds = 120
heartbeat_seconds                   = 10
max_receive_count                   = 3
point_in_time_recovery              = false
log_retention_days                  = 1

# moto stamps every message with one SenderId (AIDAIT2UOQQY3AUEKVGXU) and enforces no queue
# policy: this entry shows the shape, and `sdfleet up` maps that SenderId to the local tenant.
batch_senders = [
  {
    principal_arn = "arn:aws:iam::123456789012:role/sdfleet-local-batch"
    sender_id     = "AIDAIT2UOQQY3AUEKVGXU"
    tenant        = "local"
  },
]

# The local web app's sign-up page is the way in (the emulator confirms any code).
allow_self_sign_up = true
