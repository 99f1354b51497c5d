"""Errors of the local stack and the CLI."""

from sdfleet.errors import SdfleetError


class LocalStackError(SdfleetError):
    """Base of the local stack's errors."""


class EmulatorError(LocalStackError):
    """The emulator did not start or stopped answering."""


class TerraformError(LocalStackError):
    """``terraform init``/``apply``/``output`` failed, or the provider mirror is missing."""


class StateNotFound(LocalStackError):
    """No ``.sdfleet/local.json``: the local stack is not up (run ``sdfleet up``)."""


class AuthorizationError(LocalStackError):
    """A bearer token the authorizer refuses (the adapter answers 401)."""
