"""Which parameters go with which job kind: a generation's :class:`JobParams` or a training's
:class:`TrainParams`. Messages, records and the HTTP API hold either, chosen by ``kind``
(a request or message without ``kind`` is a txt2img, as before training existed)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import Discriminator, RootModel, Tag

from sdfleet.requests import JobKind, JobParams, JobRequest
from sdfleet.training import TrainParams, TrainRequest

_GENERATE: Final = "generate"
_TRAIN: Final = JobKind.TRAIN.value
#: The union's tags appear in validation error locations; error messages leave them out.
UNION_TAGS: Final = frozenset({_GENERATE, _TRAIN})
#: Fields only a training's parameters have: their presence picks :class:`TrainParams`.
_TRAIN_ONLY_FIELDS: Final = frozenset({"instance_images", "instance_prompt"})


def _params_tag(value: Any) -> str:
    if isinstance(value, TrainParams):
        return _TRAIN
    if isinstance(value, dict) and _TRAIN_ONLY_FIELDS & value.keys():
        return _TRAIN
    return _GENERATE


def _request_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return _TRAIN if kind == _TRAIN else _GENERATE


#: ``POST /jobs``'s parsed body.
AnyRequest = JobRequest | TrainRequest

#: A message's or record's ``params``.
AnyParams = Annotated[
    Annotated[JobParams, Tag(_GENERATE)] | Annotated[TrainParams, Tag(_TRAIN)],
    Discriminator(_params_tag),
]


class AnyJobRequest(RootModel[Any]):
    """``POST /jobs``'s body: a generation (:class:`JobRequest`) or a training
    (:class:`TrainRequest`, ``kind: "train"``)."""

    root: Annotated[
        Annotated[JobRequest, Tag(_GENERATE)] | Annotated[TrainRequest, Tag(_TRAIN)],
        Discriminator(_request_tag),
    ]


def params_match_kind(kind: JobKind, params: JobParams | TrainParams) -> None:
    """A training needs training parameters and a generation generation parameters; then the
    generation kind's own rules (:meth:`JobParams.check_kind`). Raises ValueError."""
    if kind is JobKind.TRAIN:
        if not isinstance(params, TrainParams):
            raise ValueError("params: kind train needs instance_images and instance_prompt")
        return
    if not isinstance(params, JobParams):
        raise ValueError(
            f"params: instance_images and instance_prompt are for kind train only, not {kind.value}"
        )
    params.check_kind(kind)
