"""benchmarks.mutation's rerun of the mutants not killed in a fresh directory: every other
mutant keeps its committed result instead of counting as not checked."""

from __future__ import annotations

import pytest

from benchmarks.mutation import EQUIVALENT, ModuleScore, keep_unchecked

MODULE = "autoscaler/observe.py"
NOW_EQUIVALENT = "autoscaler.observe.xǁFleetObserverǁgroup__mutmut_20"
RETRIED = ["autoscaler.observe.xǁFleetObserverǁobserve__mutmut_4", "m__mutmut_9"]


def test_the_mutants_not_run_again_keep_their_committed_results() -> None:
    previous = {
        "killed": 200,
        "timed_out": 2,
        "survived": [*RETRIED, NOW_EQUIVALENT],
        "not_covered": [],
        "equivalent": {"m__mutmut_1": "a reason"},
        "diffs": {NOW_EQUIVALENT: "-a\n+b", "m__mutmut_1": "-c\n+d"},
    }
    # The rerun killed one retried mutant; the other survived; mutmut checked nothing else.
    rerun = ModuleScore(MODULE, [], killed=1, survived=["m__mutmut_9"])
    rerun.other["not checked"] = 200 + 2 + 2
    score = keep_unchecked(rerun, previous, RETRIED)
    assert (score.killed, score.timed_out, score.survived) == (201, 2, ["m__mutmut_9"])
    assert score.equivalent == {
        "m__mutmut_1": "a reason",
        NOW_EQUIVALENT: EQUIVALENT[NOW_EQUIVALENT],
    }
    assert score.diffs[NOW_EQUIVALENT] == "-a\n+b"
    assert score.other == {}


def test_mutants_the_committed_results_do_not_account_for_stop_the_rerun() -> None:
    previous = {"killed": 5, "timed_out": 0, "survived": RETRIED, "not_covered": []}
    rerun = ModuleScore(MODULE, [], killed=2)
    rerun.other["not checked"] = 5 + 3
    with pytest.raises(SystemExit, match=r"autoscaler/observe.py: \+3 mutants not checked"):
        keep_unchecked(rerun, previous, RETRIED)
