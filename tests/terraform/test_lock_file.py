"""The committed provider lock files let `terraform init -lockfile=readonly` pass on linux and
darwin, amd64 and arm64: they carry every ``zh:`` checksum of the provider release (its signed
SHA256SUMS, one per platform package) besides the ``h1:`` hash of the unpacked linux_amd64
package, which the offline mirror is checked against."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from tests.support.tools import require_provider_mirror

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
LOCKS = [
    TERRAFORM / ".terraform.lock.hcl",
    *sorted(TERRAFORM.glob("examples/*/.terraform.lock.hcl")),
]
#: One zh: per package in the release's SHA256SUMS (15 for 5.100.0: linux, darwin, windows,
#: freebsd builds); fewer would leave a platform without a checksum.
MIN_ZH = 14


def _aws_entry(path: Path) -> tuple[str, list[str]]:
    text = path.read_text()
    block = re.search(
        r'provider "registry\.terraform\.io/hashicorp/aws" \{\s*version\s*=\s*"([^"]+)"'
        r".*?hashes = \[(.*?)\]",
        text,
        re.S,
    )
    assert block, f"{path}: no hashicorp/aws entry"
    return block.group(1), re.findall(r'"((?:h1|zh):[^"]+)"', block.group(2))


def test_every_lock_file_pins_one_version_with_every_platform_checksum() -> None:
    entries = {path: _aws_entry(path) for path in LOCKS}
    assert len({version for version, _ in entries.values()}) == 1, entries
    root = entries[LOCKS[0]][1]
    zh = [h for h in root if h.startswith("zh:")]
    assert len(zh) >= MIN_ZH, f"only {len(zh)} zh: checksums: not every platform is covered"
    assert all(re.fullmatch(r"zh:[0-9a-f]{64}", h) for h in zh)
    for path, (_, hashes) in entries.items():
        assert hashes == root, f"{path} differs from terraform/.terraform.lock.hcl"


def test_the_mirror_package_matches_the_locked_h1_hash() -> None:
    """The h1: hash Terraform computes for an unpacked package (dirhash Hash1) of the mirror's
    linux_amd64 copy is in the lock file, so the offline init verifies it."""
    mirror = require_provider_mirror()
    version, hashes = _aws_entry(LOCKS[0])
    package = mirror / "registry.terraform.io" / "hashicorp" / "aws" / version / "linux_amd64"
    summary = "".join(
        f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(package)}\n"
        for f in sorted(p for p in package.rglob("*") if p.is_file())
    )
    h1 = "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()
    assert h1 in hashes
