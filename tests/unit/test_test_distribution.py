"""``make pytest`` spreads test files over processes; files sharing the local stack must not."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import distribution_unit

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
#: What a test file that starts or uses the local stack (fixed ports, one state directory) names.
LOCAL_STACK_SIGNS = ("FIXED_PORTS", "e2e-stack")


def _shares_the_local_stack(path: Path) -> bool:
    under_browser = path.is_relative_to(TESTS / "browser")  # tests/browser/conftest.py's stack
    return under_browser or any(sign in path.read_text() for sign in LOCAL_STACK_SIGNS)


def test_every_file_sharing_the_local_stack_is_one_unit() -> None:
    sharing = [
        path.relative_to(ROOT).as_posix()
        for path in sorted(TESTS.rglob("test_*.py"))
        if path != Path(__file__).resolve() and _shares_the_local_stack(path)
    ]
    assert "tests/e2e/test_local_stack.py" in sharing
    assert len(sharing) >= 3
    units = {path: distribution_unit(f"{path}::test_x") for path in sharing}
    assert set(units.values()) == {"local-stack"}, units


def test_any_other_file_is_its_own_unit() -> None:
    node = "tests/integration/notifier/test_webhooks.py::test_410_is_not_retried"
    assert distribution_unit(node) == "tests/integration/notifier/test_webhooks.py"
    assert distribution_unit("tests/e2e/test_reliability_smoke.py::test_x[a::b]") == (
        "tests/e2e/test_reliability_smoke.py"
    )
