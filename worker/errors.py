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
    """The model could not be found, downloaded, verified or loaded."""
