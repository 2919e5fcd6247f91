"""What every section of the site configuration shares: a frozen model that refuses unknown keys,
and the field types several sections use (names, MQTT topics, points in the frame, precision)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

ANY_CAMERA = "*"
NAME = r"^[A-Za-z0-9_.-]+$"  # camera, machine, rule and event-type names: also one MQTT topic level
# An MQTT topic to publish to: no wildcards, no NUL, not a broker's $-topic (RFC: MQTT 3.1.1, 4.7)
TOPIC = r"^[^#+$\x00][^#+\x00]*$"
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]  # (x, y) in 0..1 of the frame: a point outside it can never be reached


class Section(BaseModel):
    # inf/nan passed as a quota or a timeout validate as "greater than 0" and then crash the run
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# auto: the precision the bundle's gate measured the artifact in; default: the runtime's own choice
# (OpenVINO computes FP32 in bf16 on CPUs that have it); f32/bf16/f16: forced.
PrecisionChoice = Literal["auto", "default", "f32", "bf16", "f16"]
PRECISION_HELP = (
    "inference precision: auto = as the bundle's accuracy gate measured it, default = the runtime's choice"
)
