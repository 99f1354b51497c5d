"""Builds a Lambda deployment zip (python3.11, x86_64): our packages plus their runtime deps.

Dependencies come from setup.cfg (``install_requires`` plus the ``lambda`` extra), pinned to
the versions installed in the venv that ran the tests, as manylinux2014 x86_64 cp311 wheels.
boto3 and botocore are left out (the Lambda runtime provides them); torch, diffusers and
friends must never appear. The zip is deterministic: sorted entries, fixed timestamps and
permissions, so the same inputs give the same bytes (and Terraform sees no spurious change).

    python mk/lambda_zip.py --name ingest --package sdfleet --package ingest_lambda
"""

from __future__ import annotations

import argparse
import compileall
import configparser
import hashlib
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
PYTHON_VERSION: Final = "3.11"
PLATFORM: Final = "manylinux2014_x86_64"
UV_PLATFORM: Final = "x86_64-manylinux2014"
#: Provided by the Lambda Python runtime; bundling them only adds megabytes.
RUNTIME_PROVIDED: Final = ("boto3", "botocore", "s3transfer")
#: Never in a Lambda: the GPU stack is gigabytes and only the worker needs it; the emulator,
#: the JWT library and the CLI package are developer tooling (the local stack).
FORBIDDEN: Final = (
    "torch", "diffusers", "transformers", "xformers", "triton", "nvidia",
    "moto", "jwt", "pyjwt", "sdfleet_cli",
)  # fmt: skip
LAMBDA_TASK_ROOT: Final = "/var/task"
FIXED_TIME: Final = (1980, 1, 1, 0, 0, 0)
SKIPPED_PARTS: Final = frozenset({"tests"})
#: Console scripts pip writes for the build machine's interpreter: useless in a Lambda.
SKIPPED_TOP_LEVEL: Final = frozenset({"bin"})
SKIPPED_SUFFIXES: Final = (".pyo",)
#: Cached dependency trees in the output directory, one per requirement set.
DEPS_PREFIX: Final = ".deps-"
#: zlib level: 6 makes zips within 1 % of level 9 in size, in about half the time.
ZIP_LEVEL: Final = 6


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?", requirement)
    if not match:
        raise SystemExit(f"setup.cfg: cannot read requirement {requirement!r}")
    return match.group(1)


def runtime_requirements(extra: str = "lambda") -> list[str]:
    """setup.cfg's install_requires + the extra, pinned to the venv's versions."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    lines += config["options.extras_require"][extra].splitlines()
    pinned: dict[str, str] = {}
    for line in (entry.strip() for entry in lines):
        if not line:
            continue
        name = _requirement_name(line)
        if name.lower() in RUNTIME_PROVIDED:
            continue
        extras = re.match(r"\s*[A-Za-z0-9._-]+(\[[^\]]*\])?", line)
        suffix = extras.group(1) or "" if extras else ""
        pinned[name.lower()] = f"{name}{suffix}=={metadata.version(name)}"
    return sorted(pinned.values())


def _uv() -> str | None:
    """uv beside this interpreter (the Makefile installs it into the venv), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() else shutil.which("uv")


def install_dependencies(target: Path, requirements: list[str]) -> None:
    uv = _uv()
    if uv is not None:
        # uv resolves and unpacks in parallel from its cache: ~1 s here against pip's ~11 s.
        command = [
            uv, "pip", "install", "--quiet", "--target", str(target),
            "--python-platform", UV_PLATFORM, "--python-version", PYTHON_VERSION,
            "--only-binary", ":all:", *requirements,
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(target), "--platform", PLATFORM, "--implementation", "cp",
            "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--no-compile",
            "--upgrade", *requirements,
        ]  # fmt: skip
    subprocess.run(command, check=True)
    for entry in sorted(target.iterdir()):
        top = _top_name(entry.name)
        if top in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    found = [e.name for e in target.iterdir() if _top_name(e.name) in FORBIDDEN]
    if found:
        raise SystemExit(f"forbidden packages pulled into the Lambda: {found}")


def _top_name(entry: str) -> str:
    """``torch``, ``PyJWT-2.8.0.dist-info``, ``six.py`` -> torch, pyjwt, six."""
    return re.split(r"[-.]", entry, maxsplit=1)[0].lower()


def copy_packages(target: Path, packages: list[str]) -> None:
    for package in packages:
        if package.lower() in FORBIDDEN:
            raise SystemExit(f"package {package!r} must never be in a Lambda zip")
        source = ROOT / package
        if not (source / "__init__.py").exists():
            raise SystemExit(f"package {package!r} not found at {source}")
        shutil.copytree(
            source,
            target / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"),
        )


def compile_bytecode(target: Path, root: Path | None = None) -> bool:
    """Ships .pyc files: Lambda's /var/task is read-only, so without them every cold start
    compiles every module it imports. Unchecked-hash pycs are used as they are (the zip's
    fixed timestamps would invalidate mtime-based ones) and do not depend on build time.
    ``root`` is the directory that becomes /var/task (default: ``target`` itself)."""
    if sys.version_info[:2] != tuple(int(p) for p in PYTHON_VERSION.split(".")):
        print(f"not compiling: this is Python {sys.version_info[:2]}, the runtime {PYTHON_VERSION}")
        return False
    return compileall.compile_dir(
        target,
        quiet=1,
        workers=1,
        # Paths inside the pycs are where Lambda unpacks the code, not the build directory.
        stripdir=str(root or target),
        prependdir=LAMBDA_TASK_ROOT,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def dependency_tree(cache_root: Path, requirements: list[str]) -> Path:
    """The runtime dependencies, installed and compiled once per requirement set: the zips
    built from one venv all share them. Older sets are removed."""
    identity = "\n".join([PLATFORM, PYTHON_VERSION, *requirements])
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    tree = cache_root / f"{DEPS_PREFIX}{key}"
    if tree.is_dir():
        return tree
    cache_root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{DEPS_PREFIX}partial-", dir=cache_root))
    try:
        install_dependencies(partial, requirements)
        compile_bytecode(partial)
        try:
            partial.rename(tree)
        except OSError:
            # A concurrent build (make -j) finished the same set first: use that one.
            if not tree.is_dir():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    for stale in cache_root.glob(f"{DEPS_PREFIX}*"):
        if stale != tree and not stale.name.startswith(f"{DEPS_PREFIX}partial-"):
            shutil.rmtree(stale, ignore_errors=True)
    return tree


def _included(path: Path, base: Path) -> bool:
    parts = path.relative_to(base).parts
    if parts[0] in SKIPPED_TOP_LEVEL or SKIPPED_PARTS & set(parts):
        return False
    return not path.name.endswith(SKIPPED_SUFFIXES)


def write_zip(source: Path, destination: Path) -> int:
    files = sorted(
        (p for p in source.rglob("*") if p.is_file() and _included(p, source)),
        key=lambda p: p.relative_to(source).as_posix(),
    )
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"{destination.name}.", dir=destination.parent)
    os.close(handle)
    partial = Path(name)
    with zipfile.ZipFile(
        partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL
    ) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3
            zf.writestr(info, path.read_bytes(), compresslevel=ZIP_LEVEL)
    partial.chmod(0o644)
    partial.replace(destination)  # atomic: readers never see a half-written zip
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a deterministic Lambda zip.")
    parser.add_argument("--name", required=True, help="zip name, e.g. ingest")
    parser.add_argument("--package", action="append", required=True, help="package to include")
    parser.add_argument("--out-dir", default=str(ROOT / "build" / "lambda"))
    args = parser.parse_args(argv)

    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    # A private staging directory: two builds at once (make -j, two shells) must not collide.
    staging = Path(tempfile.mkdtemp(prefix=f"{args.name}.staging-", dir=out_dir))
    try:
        deps = dependency_tree(out_dir, runtime_requirements())
        shutil.copytree(deps, staging, dirs_exist_ok=True)
        copy_packages(staging, args.package)
        for package in args.package:
            compile_bytecode(staging / package, root=staging)
        destination = out_dir / f"{args.name}.zip"
        count = write_zip(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = destination.stat().st_size
    print(f"{destination}: {count} files, {size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
