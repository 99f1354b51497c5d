"""Only tests/support/tools.py may skip a test, and it fails instead under CI=true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import tools

TESTS = Path(__file__).resolve().parents[1]
HELPER = TESTS / "support" / "tools.py"
#: Ways to skip (or expect a failure) that bypass the helper.
SKIPS = re.compile(
    r"importorskip|pytest\.skip\(|mark\.skip|skipif|xfail|unittest\.skip|SkipTest"
    r"|environ(?:\.get)?\(\s*env\.TF_PROVIDER_MIRROR"
)


def test_no_test_skips_or_finds_a_tool_except_through_the_helper() -> None:
    this = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.resolve() not in (HELPER, this)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SKIPS.search(line)
    ]
    assert offenders == [], "use tests/support/tools.py:\n" + "\n".join(offenders)


def test_a_missing_tool_skips_locally_and_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no-such-tool is not available: get it"):
        tools.require_executable("no-such-tool", "get it")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no-such-tool is not available"):
        tools.require_executable("no-such-tool", "get it")


def test_a_wrong_mirror_setting_is_missing_not_searched_past(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A mirror named in the environment that is not one is reported, on CI as a failure."""
    from sdfleet import env

    monkeypatch.setenv(env.TF_PROVIDER_MIRROR, str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match=r"has no registry\.terraform\.io/hashicorp/aws/ inside"
    ):
        tools.require_provider_mirror()
