"""Terraform against the emulator: ``init`` (from the offline provider mirror when one is
configured or found, else from the public registry), ``apply`` of
``environments/local.tfvars`` with the emulator's endpoint, and the outputs.

Terraform's own files (data dir, CLI config, state) live under the state directory, never in
``terraform/``, so a local apply does not touch the source tree. The emulator starts empty, so
each ``up`` applies onto a fresh state; the providers installed by ``init`` are reused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final

from sdfleet import env
from sdfleet_cli.local.errors import TerraformError

LOCAL_TFVARS: Final = "environments/local.tfvars"
ENDPOINT_VARIABLE: Final = "aws_endpoint_url"
#: The mirror holds ``registry.terraform.io/hashicorp/aws/...``; search this deep for it.
MIRROR_SEARCH_DEPTH: Final = 5
MIRROR_MARKER: Final = Path("registry.terraform.io") / "hashicorp" / "aws"
APPLY_TIMEOUT_SECONDS: Final = 600
INIT_TIMEOUT_SECONDS: Final = 300
#: Credentials for the emulator only; it accepts any.
EMULATOR_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


def find_provider_mirror(
    environ: Mapping[str, str] | None = None,
    search_roots: tuple[Path, ...] = (Path("/"),),
) -> Path | None:
    """``$SDFLEET_TF_PROVIDER_MIRROR``, else a mirror found under ``search_roots`` with
    ``find``, else None: Terraform then installs from the public registry.

    A mirror named in the environment that is not one is an error, never searched past.
    """
    environ = os.environ if environ is None else environ
    configured = environ.get(env.TF_PROVIDER_MIRROR)
    if configured:
        path = Path(configured)
        if not (path / MIRROR_MARKER).is_dir():
            raise TerraformError(
                f"{env.TF_PROVIDER_MIRROR}={configured!r} has no {MIRROR_MARKER}/ inside"
            )
        return path
    for root in search_roots:
        found = subprocess.run(
            [
                "find",
                str(root),
                "-maxdepth",
                str(MIRROR_SEARCH_DEPTH),
                "-type",
                "d",
                "-path",
                f"*/{MIRROR_MARKER}",
                "-not",
                "-path",
                "/proc/*",
                "-not",
                "-path",
                "*/.terraform/*",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if found:
            return Path(found[0]).parents[2]
    return None


def cli_config(mirror: Path | None, plugin_cache: Path) -> str:
    """The Terraform CLI configuration: the filesystem mirror as the only provider source when
    there is one (offline), else Terraform's default installation (the public registry)."""
    lines = []
    if mirror is not None:
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path = {json.dumps(str(mirror.resolve()))}",
            "  }",
            "}",
        ]
    # The cache makes re-inits link, not copy (or download).
    lines.append(f"plugin_cache_dir = {json.dumps(str(plugin_cache.resolve()))}")
    return "\n".join(lines) + "\n"


def terraform_binary() -> str:
    path = shutil.which("terraform")
    if path is None:
        raise TerraformError(
            "terraform is not on PATH: install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)"
        )
    return path


class LocalTerraform:
    """Runs the root configuration in ``source_dir`` with its files under ``work_dir``."""

    def __init__(
        self,
        source_dir: Path,
        work_dir: Path,
        mirror: Path | None,
        log: IO[str] | None = None,
    ) -> None:
        self.source_dir = source_dir
        self.work_dir = work_dir
        self.mirror = mirror
        self.log = log
        self.state_path = work_dir / "terraform.tfstate"
        self._binary = terraform_binary()

    def _environment(self) -> dict[str, str]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "terraformrc"
        cache = self.work_dir / "plugin-cache"
        cache.mkdir(exist_ok=True)
        config.write_text(cli_config(self.mirror, cache))
        return {
            **os.environ,
            **EMULATOR_CREDENTIALS,
            "TF_CLI_CONFIG_FILE": str(config.resolve()),
            "TF_DATA_DIR": str((self.work_dir / "data").resolve()),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }

    def _run(self, args: list[str], timeout: float, capture: bool = False) -> str:
        command = [self._binary, f"-chdir={self.source_dir}", *args]
        try:
            result = subprocess.run(
                command,
                env=self._environment(),
                stdout=subprocess.PIPE if capture else self.log,
                stderr=subprocess.PIPE if capture else self.log,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TerraformError(f"terraform {args[0]} took longer than {timeout:.0f}s") from exc
        if result.returncode != 0:
            detail = (result.stderr or "")[-2000:] if capture else "see the terraform log"
            raise TerraformError(f"terraform {args[0]} failed ({result.returncode}): {detail}")
        return result.stdout or ""

    def init(self) -> None:
        # The lock file stays read-only: the committed one pins the provider versions.
        source = f"the mirror {self.mirror}" if self.mirror else "the public registry"
        if self.log is not None:
            self.log.write(f"terraform init: providers from {source}\n")
            self.log.flush()
        locked = (self.source_dir / ".terraform.lock.hcl").exists()
        lock = ["-lockfile=readonly"] if locked else []
        self._run(
            ["init", "-input=false", "-no-color", "-backend=false", *lock], INIT_TIMEOUT_SECONDS
        )

    def apply(self, endpoint_url: str, extra_vars: Mapping[str, str] | None = None) -> None:
        # The emulator starts empty each time: an old state would only describe ghosts.
        self.state_path.unlink(missing_ok=True)
        variables = {ENDPOINT_VARIABLE: endpoint_url, **(extra_vars or {})}
        var_args = [f"-var={name}={value}" for name, value in variables.items()]
        self._run(
            [
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                f"-state={self.state_path.resolve()}",
                f"-var-file={LOCAL_TFVARS}",
                *var_args,
            ],
            APPLY_TIMEOUT_SECONDS,
        )

    def outputs(self) -> dict[str, Any]:
        text = self._run(
            ["output", "-json", "-no-color", f"-state={self.state_path.resolve()}"],
            60,
            capture=True,
        )
        raw: dict[str, Any] = json.loads(text or "{}")
        return {name: value.get("value") for name, value in raw.items()}
