"""``fastflyer.APIRouter``: FastAPI's router, so sub-apps depend only on fastflyer."""

from fastapi import APIRouter

__all__ = ["APIRouter"]
