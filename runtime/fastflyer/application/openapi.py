"""Make the OpenAPI document tell the truth about errors: every error FastFlyer sends is an
``ErrorResponse`` envelope, not FastAPI's default ``{"detail": ...}``."""

from __future__ import annotations

import json
from typing import Any

from fastflyer.schemas import ErrorResponse

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
ERROR_CONTENT = {"application/json": {"schema": ERROR_REF}}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def document_error_envelope(schema: dict[str, Any]) -> dict[str, Any]:
    """Point 422 answers and a ``default`` answer of every operation at ``ErrorResponse``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorResponse"] = error_schema
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Validation Error", "content": ERROR_CONTENT}
            responses.setdefault("default", {"description": "Error", "content": ERROR_CONTENT})
    if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema
