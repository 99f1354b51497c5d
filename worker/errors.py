"""The worker's exception hierarchy."""

from sdfleet.errors import SdfleetError


class WorkerError(SdfleetError):
    """Base of every error the worker raises on purpose."""


class InvalidJobInput(WorkerError):
    """The job can never succeed as given (bad message, bad image): fail it at once."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class InvalidInputImage(InvalidJobInput):
    """The input image is unreadable, of a forbidden format, or over the pixel limit."""


class GenerationCancelled(WorkerError):
    """The job's owner asked to cancel; raised from the step callback."""


class ModelLoadError(WorkerError):
    """The model could not be found, downloaded, verified, loaded or run once.

    ``permanent``: trying again on this host cannot help (no usable GPU); the instance is
    marked unhealthy at once instead of after ``max_model_load_attempts``.
    """

    permanent: bool = False


class DeviceUnavailable(ModelLoadError):
    """The requested device (CUDA) is not usable on this host."""

    permanent = True


class UnknownSender(InvalidJobInput):
    """A batch message came from an SQS SenderId that no tenant is configured for."""

    def __init__(self, sender_id: str | None) -> None:
        self.sender_id = sender_id
        super().__init__(
            "unknown_sender",
            f"SenderId {sender_id!r} is not in the sender_tenants map "
            "(SDFLEET_SENDER_TENANTS); ask an operator to map it to a tenant",
        )


class OutputConflict(WorkerError):
    """An output object changed under us while we held the lease: retry the upload."""
