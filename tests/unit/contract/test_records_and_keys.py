from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sdfleet import keys
from sdfleet.records import TERMINAL_STATUSES, TRANSITIONS, JobRecord, JobStatus, can_transition
from sdfleet.requests import JobKind


def test_terminal_statuses_have_no_way_out() -> None:
    for status in TERMINAL_STATUSES:
        assert TRANSITIONS[status] == frozenset()
        assert status.is_terminal


def test_nothing_moves_back_to_queued() -> None:
    assert not any(can_transition(s, JobStatus.QUEUED) for s in JobStatus)


def test_key_layout() -> None:
    assert keys.output_key("u1", "job1", 3) == "users/u1/outputs/job1/03.png"
    assert keys.models_prefix("u1", "a1") == "users/u1/models/a1/"
    assert keys.models_root("u1") == "users/u1/models/"
    assert keys.adapter_key("u1", "a1") == "users/u1/models/a1/adapter.safetensors"
    assert keys.adapter_metadata_key("u1", "a1") == "users/u1/models/a1/metadata.json"
    assert keys.checkpoint_key("u1", "a1") == "users/u1/models/a1/checkpoint/latest.pt"
    key = keys.new_input_key("u1", "image/png")
    assert key.startswith("users/u1/inputs/") and key.endswith(".png")


@pytest.mark.parametrize(
    ("key", "owner", "owned"),
    [
        ("users/alice/inputs/a.png", "alice", True),
        ("users/alice/inputs/a.png", "ali", False),
        ("users/alicex/inputs/a.png", "alice", False),
        ("users/alice/../bob/inputs/a.png", "alice", False),
        ("users/alice//inputs/a.png", "alice", False),
        ("other/alice/inputs/a.png", "alice", False),
    ],
)
def test_ownership(key: str, owner: str, owned: bool) -> None:
    assert keys.is_owned_by(key, owner) is owned


def test_bad_content_type_names_field() -> None:
    with pytest.raises(ValueError) as refused:
        keys.new_input_key("u1", "image/gif")
    assert str(refused.value) == (
        "content_type: 'image/gif' is not one of image/jpeg, image/png, image/webp"
    )


@pytest.mark.parametrize(
    ("key", "is_input"),
    [
        ("users/alice/inputs/a.png", True),
        ("users/alice/outputs/j1/00.png", False),
        # Under alice's inputs/ by its first characters, but it names bob's object.
        ("users/alice/inputs/../../bob/inputs/a.png", False),
        ("users/bob/inputs/a.png", False),
    ],
)
def test_an_input_of_the_owner_is_under_their_inputs_and_nowhere_else(
    key: str, is_input: bool
) -> None:
    assert keys.is_input_of(key, "alice") is is_input


def test_bad_owner_rejected() -> None:
    with pytest.raises(ValueError, match="owner"):
        keys.user_prefix("../etc")


@pytest.mark.parametrize("owner", ["alice\n", "alice\n\n", "\nalice", "alice\r"])
def test_an_owner_must_match_in_full(owner: str) -> None:
    """Finding 5: ``OWNER_PATTERN`` ended in ``$``, which also matches before a final newline."""
    with pytest.raises(ValueError, match="owner"):
        keys.check_owner(owner)
    assert not keys.is_owned_by(f"users/{owner}/inputs/a.png", "alice")


def test_a_new_record_is_stamped_in_utc() -> None:
    """Records compare and serialise their times: a naive timestamp would be read as local
    time by whoever loads it."""
    record = JobRecord(job_id="j1", owner="alice", kind=JobKind.TXT2IMG, params={"prompt": "p"})
    assert record.created_at.tzinfo is not None
    assert record.created_at.utcoffset() == timedelta(0)
    assert abs(record.created_at - datetime.now(UTC)) < timedelta(minutes=5)
