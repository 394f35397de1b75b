"""Base model of every event payload: closed (unknown fields are an error), immutable, and no
control or bidi-override characters in any string (see `contracts.types.check_text`) — checked on
everything that comes in (ingest, API bodies, constructors), not again when a consumer decodes the
platform's own log (`parse_event` without a personal-data key), which stays as fast as before."""

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from contracts.types import FREE_TEXT_FIELDS, check_text


def check_strings(model: BaseModel, info: ValidationInfo) -> None:
    """`check_text` over every string of a model's fields (lists and dicts of strings included).
    The error (type `unsafe_text`) names the field in its context: a model validator has no loc
    of its own below the model."""
    if info.context and info.context.get("from_log"):
        return  # the platform's own log, checked when it came in
    for name, value in model.__dict__.items():
        if isinstance(value, dict):
            texts = [*value.keys(), *(v for v in value.values() if isinstance(v, str))]
        elif isinstance(value, list | tuple):
            texts = [v for v in value if isinstance(v, str)]
        elif isinstance(value, str):
            texts = [value]
        else:
            continue
        for text in texts:
            try:
                check_text(text, multiline=name in FREE_TEXT_FIELDS)
            except ValueError as exc:
                raise PydanticCustomError("unsafe_text", "{field}: {message}",
                                          {"field": name, "message": str(exc)}) from None


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="after")
    def _no_control_characters(self, info: ValidationInfo) -> Any:
        check_strings(self, info)
        return self
