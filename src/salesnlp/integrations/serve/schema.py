"""The request and response schemas of the HTTP service (they are its OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from salesnlp.labels import LABELS


class ClassifyRequest(BaseModel):
    """Exactly one of ``text`` (one note) and ``texts`` (several)."""

    model_config = ConfigDict(extra="ignore",
                              json_schema_extra={"examples": [
                                  {"text": "Küsisin, kes hanke võitis – ei öelnud."},
                                  {"texts": ["Katsotaan syksyllä, ei päivämäärää.",
                                             "Am semnat contractul, livrare marți."]}]})

    text: StrictStr | None = Field(None, description="One note.")
    texts: list[StrictStr] | None = Field(None, description="Several notes; results in order.")

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give either 'text' (one note) or 'texts' (a list of notes)")
        return self


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: StrictStr = Field(..., description="The text whose language to detect.")


class EvidenceModel(BaseModel):
    label: str = Field(..., description=f"One of {list(LABELS)}.")
    text: str = Field(..., description="The note's characters [start, end).")
    start: int
    end: int
    score: float


class ClassifyResponse(BaseModel):
    """One note's result (``Classification.to_dict()``)."""

    language: str = Field(..., description="ISO 639-1 code, or 'und'.")
    supported: bool = Field(..., description="One of et, fi, uk, ro, nl.")
    labels: list[str]
    scores: dict[str, float] = Field(..., description="Every label's probability, 0..1.")
    evidence: list[EvidenceModel]


class ManyResponse(BaseModel):
    results: list[ClassifyResponse]


class DetectResponse(BaseModel):
    language: str
    confidence: float
    supported: bool


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
