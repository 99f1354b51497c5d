"""The published message v1 JSON Schema and the pydantic model accept exactly the same
messages: a batch submitter who validates against the schema is never surprised by the
worker. Messages are generated around every limit, valid and invalid."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sdfleet.messages import SCHEMA_PATH, JobMessage
from sdfleet.requests import (
    GUIDANCE_MAX,
    NUM_IMAGES_MAX,
    PROMPT_MAX_CHARS,
    SEED_MAX,
    SIZE_MAX,
    SIZE_MIN,
    STEPS_MAX,
)
from tests.support.hypothesis_profiles import examples

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))

# Python's re lets "$" match before a trailing newline, which ECMA-262 (the schema's regex
# dialect) and pydantic do not: ids are generated without newlines so that this library quirk
# is not mistaken for a contract difference.
ID_TEXT = st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=70)

PROMPTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", "\t\n", "a", " a ", "\u3000", "\u00a0x"]),
    st.integers(PROMPT_MAX_CHARS - 1, PROMPT_MAX_CHARS + 1).map(lambda n: "p" * n),
)
PARAMS = st.fixed_dictionaries(
    {"prompt": PROMPTS},
    optional={
        "negative_prompt": st.none() | st.text(max_size=4),
        "width": st.integers(SIZE_MIN - 9, SIZE_MAX + 9),
        "height": st.sampled_from([SIZE_MIN - 8, SIZE_MIN, 100, 512, SIZE_MAX, SIZE_MAX + 8]),
        "steps": st.integers(-1, STEPS_MAX + 1),
        "guidance_scale": st.floats(-1, GUIDANCE_MAX + 1, allow_nan=False),
        "num_images": st.integers(0, NUM_IMAGES_MAX + 1),
        "seed": st.none() | st.integers(-1, SEED_MAX + 1),
        "strength": st.none() | st.floats(-0.5, 1.5, allow_nan=False),
        "input_key": st.none() | st.text(max_size=6),
        "surprise": st.just(1),
    },
)
MESSAGES = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 2]),
        "kind": st.sampled_from(["txt2img", "img2img", "upscale"]),
        "params": PARAMS,
    },
    optional={
        "job_id": st.none() | ID_TEXT | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z"),
        "lane": st.none() | st.sampled_from(["interactive", "batch", "fast"]),
        "client_ref": st.none() | st.integers(255, 257).map(lambda n: "r" * n),
    },
)


def _model_accepts(message: dict[str, Any]) -> bool:
    try:
        JobMessage.from_body(json.dumps(message))
    except ValidationError:
        return False
    return True


@settings(max_examples=examples(300), deadline=None)
@given(MESSAGES)
# The four the schema used to accept and the model refuses.
@example({"version": 1, "kind": "img2img", "params": {"prompt": "a"}})
@example({"version": 1, "kind": "txt2img", "params": {"prompt": "a", "strength": 0.5}})
@example({"version": 1, "kind": "txt2img", "params": {"prompt": "a", "input_key": "k"}})
@example({"version": 1, "kind": "txt2img", "params": {"prompt": "   "}})
@example({"version": 1, "kind": "img2img", "params": {"prompt": "a", "input_key": "k"}})
def test_schema_and_model_agree(message: dict[str, Any]) -> None:
    schema_accepts = VALIDATOR.is_valid(message)
    assert schema_accepts == _model_accepts(message), (
        f"schema {'accepts' if schema_accepts else 'refuses'} what the model does not: "
        f"{[e.message for e in VALIDATOR.iter_errors(message)]}"
    )
