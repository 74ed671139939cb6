"""The response envelope every FastFlyer endpoint speaks: ``{"code", "message", "data"}``."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class BaseResponse(BaseModel):
    """Envelope without data: a status ``code`` (see :mod:`fastflyer.status`) and a message."""

    code: int = Field(200, description="Status code of the result (HTTP-like, or 60x).")
    message: str = Field("success", description="Human-readable result.")


class DataResponse(BaseResponse, Generic[T]):
    """Envelope with a payload; ``DataResponse[MyModel]`` documents the payload's schema."""

    data: T | None = Field(None, description="The payload.")


class PageInfo(BaseModel):
    """Where a page sits in the whole result."""

    total: int = Field(0, ge=0, description="Items in the whole result.")
    offset: int = Field(0, ge=0, description="Index of the first item of this page.")
    limit: int = Field(0, ge=0, description="Page size asked for.")


class PageDataResponse(DataResponse[T], Generic[T]):
    """Envelope for one page of a list."""

    page_info: PageInfo = Field(default_factory=PageInfo, description="Paging information.")


class ErrorResponse(BaseResponse):
    """Envelope of every error answer; ``request_id`` ties it to the server's log lines."""

    request_id: str | None = Field(None, description="The request's X-Request-ID.")
    data: Any = Field(None, description="Details safe to show (e.g. validation errors).")


__all__ = ["BaseResponse", "DataResponse", "PageInfo", "PageDataResponse", "ErrorResponse"]
