"""What every params section shares: strict frozen models and the cross-field validators."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo


class ConfigError(ValueError):
    """A params file that cannot be used; the message names every offending key path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _above(other: str):  # noqa: ANN202 (a pydantic validator factory)
    """A validator: this field must exceed the (already validated) field `other`."""

    def check(cls: type, value: float, info: ValidationInfo) -> float:
        low = info.data.get(other)
        if low is not None and value <= low:
            raise ValueError(f"must be > {other} ({low})")
        return value

    return classmethod(check)


def _required_when(key: str, value: object, what: str):  # noqa: ANN202 (a validator factory)
    """A validator: this path must be given when the (already validated) `key` equals `value`."""

    def check(cls: type, path: str, info: ValidationInfo) -> str:
        if info.data.get(key) == value and not path:
            raise ValueError(f"must name {what} when {key}: {str(value).lower()}")
        return path

    return classmethod(check)


class _Parallel(_Section):
    """A section that fans work out: `concurrency` 0 means one worker per CPU core."""

    concurrency: int = Field(ge=0, le=256, description="items processed at once; 0 = CPU cores")

    def workers(self) -> int:
        return self.concurrency or os.cpu_count() or 1
