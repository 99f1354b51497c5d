"""``.sdfleet/``: where the local stack keeps its files, and ``local.json``, what it tells clients.

``local.json`` is written once the stack is ready and removed when it stops, so its presence
means "a stack is up" to ``sdfleet submit/status/token`` and to the web app's dev config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, ValidationError

from sdfleet import env
from sdfleet_cli.local.errors import StateNotFound

DEFAULT_STATE_DIR: Final = ".sdfleet"
STATE_FILE: Final = "local.json"
STATE_VERSION: Final = 1


class LocalState(BaseModel):
    """The contents of ``local.json``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int = STATE_VERSION
    api_url: str
    frontend_url: str | None = None
    aws_endpoint_url: str
    region: str
    interactive_queue_url: str
    batch_queue_url: str
    interactive_dlq_url: str | None = None
    batch_dlq_url: str | None = None
    training_queue_url: str | None = None
    training_dlq_url: str | None = None
    bucket: str
    jobs_table: str
    workers_table: str
    idempotency_table: str | None = None
    user_pool_id: str
    user_pool_client_id: str
    asg_name: str
    local_tenant: str
    logs_dir: str
    pid: int


class StateDir:
    """The layout under the state directory (``.sdfleet`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_env(cls, override: str | None = None) -> StateDir:
        return cls(Path(override or os.environ.get(env.LOCAL_STATE_DIR) or DEFAULT_STATE_DIR))

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def prepare(self) -> None:
        for path in (self.root, self.logs_dir, self.terraform_dir, self.models_dir):
            path.mkdir(parents=True, exist_ok=True)

    def write(self, state: LocalState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".json.tmp")
        temporary.write_text(state.model_dump_json(indent=2) + "\n")
        temporary.replace(self.state_file)

    def read(self) -> LocalState:
        try:
            text = self.state_file.read_text()
        except FileNotFoundError:
            raise StateNotFound(
                f"{self.state_file} does not exist: start the local stack with `sdfleet up` "
                "(or pass the AWS settings as flags/environment)"
            ) from None
        try:
            return LocalState.model_validate(json.loads(text))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise StateNotFound(f"{self.state_file} is not a valid local state: {exc}") from exc

    def remove(self) -> None:
        self.state_file.unlink(missing_ok=True)
