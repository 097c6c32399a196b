"""The base of every request body: unknown keys refused, and no value JSON/UTF-8 cannot carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from backend.encoding import find_unencodable

# Trading symbols as the exchange spells them (BTCUSDT).
Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,20}$", examples=["BTCUSDT"])]
# Seeds fit the generators they feed (numpy takes 32-bit seeds in places).
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range: the time in UTC must fall between years 1 and 9999") from None


# An aware time, converted to UTC; one whose UTC form leaves datetime's range is refused (422).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class RequestModel(BaseModel):
    """Requests forbid unknown keys; strings with lone surrogates and NaN/Infinity are refused.

    Python's JSON parser accepts ``NaN``, ``Infinity`` and ``1e309`` (read as infinity) and lone
    ``\\udXXX`` escapes; none can be stored or echoed, so they are refused here, by name.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unencodable(cls, data: Any) -> Any:
        where = find_unencodable(data)
        if where is not None:
            field = ".".join(map(str, where)) or "body"
            raise ValueError(f"{field}: NaN, Infinity and lone surrogates (\\ud800-\\udfff) are not accepted")
        return data
