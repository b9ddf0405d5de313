"""OpenAPI post-processing: what every operation of a kind answers, documented in one place.

Registered in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]; the schema fuzz test
(tests/core/test_api_fuzz.py) holds the API to what is written here.
"""

from __future__ import annotations

from typing import Any

INVALID_PAGE = {"description": "No such page: `page` is below 1 or past the last page."}
BAD_QUERY = {
    "description": "A query parameter is malformed (an id that is not a positive whole "
    "number, an unknown choice); the body names it."
}


def document_query_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular documents only the responses a view declares; these two come from
    conventions shared by every view, so they are added here rather than in each view:

    - a paginated list answers 404 for a page that does not exist (DRF's pagination);
    - a query filter is validated (`aigsec.core.api.id_param`, `_choice_param`) and a bad one
      is a 400.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            query = {
                p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"
            }
            if "page" in query:
                operation["responses"].setdefault("404", dict(INVALID_PAGE))
            if query - {"page"}:
                operation["responses"].setdefault("400", dict(BAD_QUERY))
    return result
