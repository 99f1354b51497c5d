"""A monthly cost estimate from one simulated trace (``sdfleet simulate --monthly-cost``).

The simulated run gives the fleet's billed GPU-hours, split into spot and on-demand, and its
launches over the trace; both are scaled to a month as if the trace repeated. The fixed parts
of a deployment are added with list prices (us-east-1, on-demand, as published in 2025; every
price is a field to override):

* GPU instances: billed seconds per instance (60 s minimum) at the spot or on-demand price;
* their root volumes (gp3) for the same hours;
* NAT: the gateway's hours plus the data each launch pulls through it (the dependencies from
  PyPI and the model from S3 when the VPC has no S3 gateway endpoint);
* the scaler Lambda: one invocation a minute, each running through the sampling window;
* CloudWatch: the dashboard, the alarms, the worker's custom metrics and log ingestion;
* storage: the model and the outputs kept until the bucket's expiry rule removes them.

Not included: the API's requests (API Gateway, the ingest Lambda, DynamoDB on demand), which
scale with the number of requests and stay cents per thousand jobs, and data transfer out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from autoscaler.errors import TfvarsError
from autoscaler.simulator.engine import MIN_BILLED_SECONDS, RunResult

if TYPE_CHECKING:
    from rich.table import Table

#: What a plain launch installs through the NAT: the worker's wheels (the wheelhouse, 4.2 GB).
DEPENDENCIES_GB: Final = 4.2
#: What every launch pulls: the fp16 SD 1.5 model (2.0 GB).
MODEL_GB: Final = 2.0
HOURS_PER_MONTH: Final = 730.0
DAYS_PER_MONTH: Final = HOURS_PER_MONTH / 24.0
MINUTES_PER_MONTH: Final = HOURS_PER_MONTH * 60.0


@dataclass(frozen=True)
class CostInputs:
    """What the estimate assumes beyond the simulated fleet. Prices in USD."""

    root_volume_gb: float = 100.0
    gp3_gb_month: float = 0.08
    nat_gateways: int = 1
    nat_gateway_hourly: float = 0.045
    nat_per_gb: float = 0.045
    #: Pulled through NAT per launch: the dependencies plus the model (a baked AMI carries the
    #: dependencies: ``worker_ami_bake``).
    nat_gb_per_launch: float = DEPENDENCIES_GB + MODEL_GB
    scaler_memory_gb: float = 0.25
    #: One invocation runs through the 44 s sampling window plus its calls.
    scaler_seconds_per_invocation: float = 46.0
    lambda_gb_second: float = 0.0000166667
    lambda_per_million_requests: float = 0.20
    dashboards: int = 1
    dashboard_month: float = 3.0
    #: DLQ not empty and oldest message over the SLO per lane, scaler errors.
    alarms: int = 5
    alarm_month: float = 0.10
    #: The worker's two job metrics and the scaler's eight EMF metrics.
    custom_metrics: int = 10
    custom_metric_month: float = 0.30
    log_ingest_per_gb: float = 0.50
    #: Scaler log lines per invocation (12 samples with their inputs and decision).
    scaler_log_kb_per_invocation: float = 6.0
    worker_log_kb_per_job: float = 2.0
    model_gb: float = 2.0
    output_mb_per_job: float = 0.5
    output_retention_days: float = 30.0
    s3_gb_month: float = 0.023


#: tfvars variables this estimate reads (the rest of the file feeds the simulation).
TFVARS_INPUTS: Final = {
    "worker_root_volume_size_gb": "root_volume_gb",
    "user_data_expiry_days": "output_retention_days",
}


@dataclass(frozen=True)
class MonthlyCost:
    """One month of the fleet at the trace's traffic, by part (USD)."""

    trace: str
    trace_hours: float
    jobs_per_month: float
    spot_gpu_hours: float
    on_demand_gpu_hours: float
    gpu_spot: float
    gpu_on_demand: float
    root_volumes: float
    nat: float
    scaler_lambda: float
    cloudwatch: float
    storage: float

    @property
    def gpu_hours(self) -> float:
        return self.spot_gpu_hours + self.on_demand_gpu_hours

    @property
    def spot_share(self) -> float:
        return self.spot_gpu_hours / self.gpu_hours if self.gpu_hours else 0.0

    @property
    def parts(self) -> dict[str, float]:
        return {
            "GPU instances, spot": self.gpu_spot,
            "GPU instances, on-demand": self.gpu_on_demand,
            "root volumes (gp3)": self.root_volumes,
            "NAT gateway and data": self.nat,
            "scaler Lambda": self.scaler_lambda,
            "CloudWatch": self.cloudwatch,
            "S3 storage": self.storage,
        }

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def inputs_from_tfvars(values: dict[str, str | float | bool], base: CostInputs) -> CostInputs:
    """``base`` with what a parsed tfvars file sets (``autoscaler.simulator.tfvars.parse``)."""
    changes: dict[str, Any] = {}
    for variable, name in TFVARS_INPUTS.items():
        if variable not in values:
            continue
        value = values[variable]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise TfvarsError(f"{variable}: must be a number >= 0 (got {value!r})")
        changes[name] = float(value)
    bake = values.get("worker_ami_bake", False)
    if not isinstance(bake, bool):
        raise TfvarsError(f"worker_ami_bake: must be true or false (got {bake!r})")
    if bake:
        changes["nat_gb_per_launch"] = MODEL_GB
    return replace(base, **changes)


def read_inputs(path: Path | None) -> CostInputs:
    """Defaults, or those a tfvars file overrides."""
    if path is None:
        return CostInputs()
    from autoscaler.simulator.tfvars import parse

    return inputs_from_tfvars(parse(path.read_text(encoding="utf-8"), str(path)), CostInputs())


def estimate_monthly(run: RunResult, trace_seconds: float, inputs: CostInputs) -> MonthlyCost:
    """Scales ``run`` (one policy over a trace of ``trace_seconds``) to a month and prices it."""
    if trace_seconds <= 0:
        raise ValueError(f"trace_seconds: must be > 0 (got {trace_seconds})")
    scale = HOURS_PER_MONTH * 3600.0 / trace_seconds
    spot = on_demand = 0.0
    for instance in run.instances:
        ended = instance.ended if instance.ended is not None else run.end
        hours = max(MIN_BILLED_SECONDS, ended - instance.launched) / 3600.0
        if instance.spot:
            spot += hours
        else:
            on_demand += hours
    spot *= scale
    on_demand *= scale
    launches = len(run.instances) * scale
    jobs = len(run.jobs) * scale
    env = run.environment
    invocations = MINUTES_PER_MONTH
    scaler_lambda = (
        invocations
        * inputs.scaler_seconds_per_invocation
        * inputs.scaler_memory_gb
        * inputs.lambda_gb_second
        + invocations / 1e6 * inputs.lambda_per_million_requests
    )
    log_gb = (
        invocations * inputs.scaler_log_kb_per_invocation + jobs * inputs.worker_log_kb_per_job
    ) / 1024**2
    cloudwatch = (
        inputs.dashboards * inputs.dashboard_month
        + inputs.alarms * inputs.alarm_month
        + inputs.custom_metrics * inputs.custom_metric_month
        + log_gb * inputs.log_ingest_per_gb
    )
    kept = min(1.0, inputs.output_retention_days / DAYS_PER_MONTH)
    stored_gb = inputs.model_gb + jobs * kept * inputs.output_mb_per_job / 1024
    return MonthlyCost(
        trace=run.trace,
        trace_hours=trace_seconds / 3600.0,
        jobs_per_month=jobs,
        spot_gpu_hours=spot,
        on_demand_gpu_hours=on_demand,
        gpu_spot=spot * env.spot_hourly_price,
        gpu_on_demand=on_demand * env.on_demand_hourly_price,
        root_volumes=(spot + on_demand)
        * inputs.root_volume_gb
        * inputs.gp3_gb_month
        / HOURS_PER_MONTH,
        nat=inputs.nat_gateways * HOURS_PER_MONTH * inputs.nat_gateway_hourly
        + launches * inputs.nat_gb_per_launch * inputs.nat_per_gb,
        scaler_lambda=scaler_lambda,
        cloudwatch=cloudwatch,
        storage=stored_gb * inputs.s3_gb_month,
    )


def monthly_cost_table(cost: MonthlyCost) -> Table:
    """The estimate as a table of parts, with the GPU-hours behind the GPU lines."""
    from rich.table import Table

    table = Table(
        title=f"monthly cost estimate, USD: {cost.trace} ({cost.trace_hours:.1f} h) repeated "
        f"for {HOURS_PER_MONTH:.0f} h, {cost.jobs_per_month:,.0f} jobs"
    )
    table.add_column("part")
    table.add_column("USD / month", justify="right")
    table.add_column("basis")
    basis = {
        "GPU instances, spot": f"{cost.spot_gpu_hours:,.0f} GPU-h ({cost.spot_share:.0%} spot)",
        "GPU instances, on-demand": f"{cost.on_demand_gpu_hours:,.0f} GPU-h",
    }
    for part, dollars in cost.parts.items():
        table.add_row(part, f"{dollars:,.2f}", basis.get(part, ""))
    table.add_row("total", f"{cost.total:,.2f}", f"{cost.gpu_hours:,.0f} GPU-h")
    return table
