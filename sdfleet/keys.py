"""The S3 key layout. Every object of a user lives under ``users/<owner>/``."""

from __future__ import annotations

import re
import uuid
from typing import Final

USERS_PREFIX: Final = "users/"
#: Always used with ``fullmatch``: with ``match``, ``$`` also matches before a final newline,
#: so ``"alice\n"`` would pass and name a different S3 prefix and record owner.
OWNER_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+=-]{0,127}")
#: Every input carries this tag: the bucket's ``expire-inputs`` lifecycle rule filters on it.
INPUT_TAG: Final = ("sdfleet-kind", "input")
INPUT_TAGGING_XML: Final = (
    "<Tagging><TagSet><Tag>"
    f"<Key>{INPUT_TAG[0]}</Key><Value>{INPUT_TAG[1]}</Value>"
    "</Tag></TagSet></Tagging>"
)
INPUT_EXTENSIONS: Final = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def check_owner(owner: str) -> str:
    if not OWNER_PATTERN.fullmatch(owner):
        raise ValueError(f"owner: {owner!r} is not a valid owner id")
    return owner


def user_prefix(owner: str) -> str:
    return f"{USERS_PREFIX}{check_owner(owner)}/"


def inputs_prefix(owner: str) -> str:
    return f"{user_prefix(owner)}inputs/"


def new_input_key(owner: str, content_type: str) -> str:
    try:
        extension = INPUT_EXTENSIONS[content_type]
    except KeyError:
        allowed = ", ".join(sorted(INPUT_EXTENSIONS))
        raise ValueError(f"content_type: {content_type!r} is not one of {allowed}") from None
    return f"{inputs_prefix(owner)}{uuid.uuid4().hex}.{extension}"


def outputs_prefix(owner: str, job_id: str) -> str:
    return f"{user_prefix(owner)}outputs/{job_id}/"


def output_key(owner: str, job_id: str, index: int) -> str:
    return f"{outputs_prefix(owner, job_id)}{index:02d}.png"


def models_prefix(owner: str, adapter_id: str) -> str:
    return f"{user_prefix(owner)}models/{adapter_id}/"


#: A trained adapter's files under its models/<adapter_id>/ prefix.
ADAPTER_FILE: Final = "adapter.safetensors"
ADAPTER_METADATA_FILE: Final = "metadata.json"
#: The latest training checkpoint (adapter, optimizer, scheduler, RNG state, step).
CHECKPOINT_FILE: Final = "checkpoint/latest.pt"


def models_root(owner: str) -> str:
    return f"{user_prefix(owner)}models/"


def adapter_key(owner: str, adapter_id: str) -> str:
    return f"{models_prefix(owner, adapter_id)}{ADAPTER_FILE}"


def adapter_metadata_key(owner: str, adapter_id: str) -> str:
    return f"{models_prefix(owner, adapter_id)}{ADAPTER_METADATA_FILE}"


def checkpoint_key(owner: str, adapter_id: str) -> str:
    return f"{models_prefix(owner, adapter_id)}{CHECKPOINT_FILE}"


def is_owned_by(key: str, owner: str) -> bool:
    """True when ``key`` lies under the owner's prefix (no ``..`` tricks)."""
    if ".." in key.split("/") or "//" in key:
        return False
    return key.startswith(user_prefix(owner))


def is_input_of(key: str, owner: str) -> bool:
    return is_owned_by(key, owner) and key.startswith(inputs_prefix(owner))
