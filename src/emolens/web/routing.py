"""Routes as data: each router module lists its :class:`Route` records and :func:`build_router` makes the router.

A route names its handler (a module-level function), its summary and the error statuses it can
answer; those are documented in the OpenAPI schema with :class:`~emolens.web.schemas.ErrorBody`.
The answer's schema comes from the handler's return annotation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from emolens.web.schemas import error_responses


@dataclass(frozen=True)
class Route:
    """One HTTP route: ``methods`` on ``path`` call ``endpoint``."""

    path: str
    endpoint: Callable[..., Any]
    summary: str
    methods: tuple[str, ...] = ("GET",)
    errors: tuple[int, ...] = ()
    status_code: int | None = None
    responses: dict[int | str, dict[str, Any]] = field(default_factory=dict)
    openapi_extra: dict[str, Any] | None = None
    include_in_schema: bool = True


def build_router(routes: Sequence[Route], *, tags: Sequence[str] = ()) -> APIRouter:
    """An APIRouter with ``routes``."""
    router = APIRouter(tags=list(tags))
    for route in routes:
        router.add_api_route(
            route.path,
            route.endpoint,
            methods=list(route.methods),
            summary=route.summary,
            status_code=route.status_code,
            responses={**error_responses(*route.errors), **route.responses},
            openapi_extra=route.openapi_extra,
            include_in_schema=route.include_in_schema,
        )
    return router
