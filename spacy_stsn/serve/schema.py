"""The JSON of ``POST /extract``: what a request may hold, and (for the OpenAPI
description at ``/docs``) what it is answered with.

The answer's documents are the records ``extract`` writes
(:func:`spacy_stsn.extraction.extract.doc_to_record`); the models below describe them
and are checked against it by the tests, not used to build them.
"""

from typing import Any, List, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)


class ExtractRequest(BaseModel):
    """One document (``text``) or several (``texts``), never both; ``id`` comes back
    as it was sent."""

    model_config = ConfigDict(extra="forbid")

    text: Optional[StrictStr] = Field(None, description="one document")
    texts: Optional[List[StrictStr]] = Field(
        None, description="several documents, answered in this order"
    )
    id: Any = Field(
        None, description="any JSON value, returned unchanged with the answer"
    )
    html: StrictBool = Field(
        False, description="also answer each document's displaCy markup (the page's)"
    )

    @model_validator(mode="after")
    def one_of_text_or_texts(self) -> "ExtractRequest":
        if (self.text is None) == (self.texts is None):
            raise ValueError(
                "give either 'text' (one document) or 'texts' (a list of documents)"
            )
        return self

    def documents(self) -> List[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class Entity(BaseModel):
    text: str
    label: str
    start_char: int = Field(description="character offset in the text")
    end_char: int = Field(description="character offset, exclusive")
    start: int = Field(description="token offset")
    end: int = Field(description="token offset, exclusive")
    score: float


class Relation(BaseModel):
    head: int = Field(description="index of the head entity in 'entities'")
    tail: int = Field(description="index of the tail entity in 'entities'")
    label: str
    score: float


class Document(BaseModel):
    """A document's annotations, as ``extract`` writes them."""

    text: str
    entities: List[Entity]
    relations: List[Relation]
    tokens: Optional[List[str]] = Field(None, description="with --tags only")
    tags: Optional[List[str]] = Field(None, description="with --tags only")
    html: Optional[str] = Field(None, description="with 'html': true only")


class DocumentAnswer(Document):
    """The answer to ``{"text": ...}``: the document, and ``id`` if one was sent."""

    id: Any = None


class DocumentsAnswer(BaseModel):
    """The answer to ``{"texts": [...]}``: ``id`` if one was sent, and the documents
    in the order of ``texts``."""

    id: Any = None
    documents: List[Document]


class Problem(BaseModel):
    """Any 4xx or 5xx answer."""

    detail: str
