"""The scaler's exceptions."""

from sdfleet.errors import SdfleetError


class ScalerError(SdfleetError):
    """Base of every error the scaler raises on purpose."""


class ObservationError(ScalerError):
    """SQS or the Auto Scaling group could not be read or made no sense."""


class TraceError(ScalerError):
    """A trace name is unknown or a trace file is malformed."""


class TfvarsError(ScalerError):
    """A tfvars file could not be parsed or holds an invalid value."""
