"""The OpenAPI document says what the service really answers.

BentoML 1.4.39 generates ``/docs.json`` from the API signatures, and gets three things wrong for
this service: a 400 body's ``detail`` is declared a string while BentoML sends pydantic's error
list; the answers the service itself gives (401, 409, 413, 422, 503) are missing; and there is no
security scheme.  ``amend_openapi`` fixes the document (``docs.DocsPage`` applies it to what
BentoML serves), derived from the same ``guard.is_public`` that decides who needs the key, so the
document cannot drift from it.
"""

from __future__ import annotations

import copy
from typing import Any

from bentos.crowding.guard import SCHEME, is_public
from bentos.crowding.schemas import ErrorResponse
from tasks.core.settings import get_settings

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_PYDANTIC_ERRORS = {
    "type": "array",
    "title": "Error Detail",
    "description": "pydantic's validation errors: where (loc), what (msg) and the error type.",
    "items": {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "url": {"type": "string"},
        },
        "required": ["type", "loc", "msg"],
    },
}

_ANSWERS: dict[str, dict[str, str]] = {
    "/forecast": {
        "413": "Request body too large",
        "422": "Unknown station (with suggestions) or dates the package cannot forecast",
        "503": "No model package loaded yet",
    },
    "/predict": {
        "409": "The served model cannot score feature rows (trained on other features)",
        "413": "Request body too large",
        "422": "Rows whose features give no finite prediction",
        "503": "No model package loaded yet",
    },
    "/reload": {"409": "The newest package could not be loaded (the previous one keeps serving)"},
    "/model": {"503": "No model package loaded yet"},
}


def amend_openapi(spec: dict[str, Any], *, everywhere: bool | None = None) -> dict[str, Any]:
    """BentoML's document with the real error bodies, every status the service answers and the
    API-key scheme on every operation that needs the key (``everywhere``: default from settings)."""
    if everywhere is None:
        everywhere = get_settings().bento_auth_everywhere
    spec = copy.deepcopy(spec)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in error.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas["ErrorResponse"] = error
    schemas.get("InvalidArgument", {}).setdefault("properties", {})["detail"] = _PYDANTIC_ERRORS
    components["securitySchemes"] = {SCHEME: {"type": "http", "scheme": "bearer"}}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
            if "requestBody" in operation:  # every JSON API needs its body: an empty one is a 400
                operation["requestBody"]["required"] = True
            for status, text in _ANSWERS.get(path, {}).items():
                responses.setdefault(status, _error(text))
            if not is_public(path, everywhere):
                operation["security"] = [{SCHEME: []}]
                responses.setdefault("401", _error("Missing or wrong API key"))
    return spec


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(_ERROR_REF)}}}
