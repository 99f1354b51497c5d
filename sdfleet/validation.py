"""Turns pydantic validation errors into messages that name the field and the limit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from sdfleet.job_kinds import UNION_TAGS

_MAX_SHOWN_INPUT: Final = 60
_FIELD_PREFIX: Final = re.compile(
    r"^(?:Value error, )?(?P<field>[a-z_][a-z0-9_.]*): (?P<rest>.*)$", re.S
)


@dataclass(frozen=True)
class FieldProblem:
    field: str | None
    message: str

    def __str__(self) -> str:
        return self.message


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 3] + "..."


def describe_validation_error(exc: ValidationError) -> list[FieldProblem]:
    """One problem per pydantic error, e.g. ``steps: must be <= 100 (got 500)``."""
    problems: list[FieldProblem] = []
    for error in exc.errors(include_url=False):
        # A job-kind union adds its tag (``train``) to the location: not a field the user wrote.
        location = ".".join(str(part) for part in error["loc"] if part not in UNION_TAGS)
        field: str | None
        kind = error["type"]
        context = error.get("ctx") or {}
        given = error.get("input")
        if kind == "extra_forbidden":
            field = location
            text = f"{field}: unknown field is not allowed"
        elif kind == "missing":
            field = location
            text = f"{field}: required"
        else:
            raw = str(context.get("error", error["msg"])) if kind == "value_error" else error["msg"]
            match = _FIELD_PREFIX.match(raw)
            if match and not location:
                field = match["field"]
                raw = match["rest"]
            else:
                field = location or None
            limit = _limit_text(kind, context)
            detail = limit or raw[:1].lower() + raw[1:]
            # Model-level errors carry the whole body as input: not worth quoting.
            quote = bool(location) and kind != "string_too_long"
            shown = f" (got {_shown(given)})" if quote else ""
            text = f"{field}: {detail}{shown}" if field else f"{detail}{shown}"
        problems.append(FieldProblem(field=field or None, message=text))
    return problems


def _limit_text(kind: str, context: dict[str, Any]) -> str | None:
    limits = {
        "greater_than_equal": ("must be >= {ge}", "ge"),
        "greater_than": ("must be > {gt}", "gt"),
        "less_than_equal": ("must be <= {le}", "le"),
        "less_than": ("must be < {lt}", "lt"),
        "multiple_of": ("must be a multiple of {multiple_of}", "multiple_of"),
        "string_too_short": ("must have at least {min_length} characters", "min_length"),
        "string_too_long": ("must have at most {max_length} characters", "max_length"),
        "too_short": ("must have at least {min_length} items", "min_length"),
        "too_long": ("must have at most {max_length} items", "max_length"),
        "string_pattern_mismatch": ("must match {pattern}", "pattern"),
    }
    if kind in limits:
        template, key = limits[kind]
        if key in context:
            return template.format(**{key: context[key]})
    if kind == "enum" and "expected" in context:
        return f"must be one of {context['expected']}"
    if kind == "literal_error" and "expected" in context:
        return f"must be {context['expected']}"
    return None
