"""Shapes every API view shares: the error envelope, page-numbered pagination, and their OpenAPI descriptions.

Views declare their error answers with `error_responses(...)`, so the published
schema lists each status a client can get (schemathesis checks that no response
falls outside it).
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request was refused: an option or the file is invalid (`code` says which).",
    401: "No valid credentials: send `Authorization: Bearer <access token>` or a session cookie.",
    403: "Signed in, but without the permission this needs (importing: active staff with users.add_customer).",
    404: "No such resource visible to you (another user's job answers 404 too, so ids don't leak).",
    406: "The Accept header asks for a format this endpoint can't produce.",
    409: "The job is not in a state that allows this (e.g. committing a job that is not VALIDATED).",
    413: "The body is larger than this endpoint accepts (docs/api.md, Request size limits).",
    415: "Wrong Content-Type: uploads are multipart/form-data.",
}


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every error the API answers, whatever its status: the handler in users/api/errors.py makes it."""

    success = serializers.BooleanField(help_text="Always false.")
    code = serializers.CharField(help_text="Stable machine-readable reason, e.g. `not_found`, `too_large`.")
    message = serializers.CharField(help_text="A sentence for people.")
    detail = serializers.CharField(required=False, help_text="The same sentence, for clients that read DRF's key.")
    errors = serializers.JSONField(required=False, help_text="Field-by-field validation errors, when there are any.")


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The OpenAPI responses for the given error statuses, each with the shared error envelope."""
    return {status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status]) for status in statuses}


class PagePagination(PageNumberPagination):
    """`?page=` and `?page_size=` (at most 200), answered as DRF's `{count, next, previous, results}`.

    Unlike DRF's default, a page or page_size that isn't a whole number ≥ 1 is a
    400, not silently ignored: the schema says what is valid, and the API keeps to
    it. A page past the end is still DRF's 404.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        if self.page_size_query_param not in request.query_params:
            return self.page_size
        size = _whole_number(request.query_params[self.page_size_query_param])
        if size is None:
            raise serializers.ValidationError(
                {self.page_size_query_param: f"A whole number from 1 to {self.max_page_size}."}
            )
        return min(size, self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> int:
        if self.page_query_param not in request.query_params:
            return 1
        number = _whole_number(request.query_params[self.page_query_param])
        if number is None:
            raise serializers.ValidationError({self.page_query_param: "A whole number from 1."})
        return number

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = f"Results per page: 1 to {self.max_page_size} (larger values are capped)."
        return parameters


def _whole_number(text: str) -> int | None:
    """`text` as an integer ≥ 1, or None: `""`, `0`, `-3`, `2.5` and `abc` are not page numbers."""
    return int(text) if text.isascii() and text.isdigit() and int(text) >= 1 else None


def paginated_response(
    *,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.BaseSerializer],
    request: Request,
    view: APIView,
    pagination_class: type[PageNumberPagination] = PagePagination,
) -> Response:
    """One page of `queryset`, serialised: one COUNT and one page query, whatever the table's size."""
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request})
    return paginator.get_paginated_response(serializer.data)
