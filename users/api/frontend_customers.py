"""The frontend's Clients page: its customer list and the upload statistics.

The old backend kept customers and staff in one user table, so the Clients page
asks for `/api/auth/admin/users/?user_role=CUSTOMER`. Here customers are their
own table; these views answer in the old shape, with the fields the old user
rows had and customers don't (company, user type, verification) filled with
constant strings and booleans, never null, so the page never crashes on them.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users.api.permissions import CanViewCustomers
from users.api.schema import ErrorSerializer, PagePagination, error_responses
from users.customers.selectors import DEFAULT_ORDERING, customer_list, customer_stats
from users.models import Customer

CUSTOMER_ROLE = "CUSTOMER"
# The old user rows' names for the fields the frontend may order by → the Customer model's.
FRONTEND_ORDER_FIELDS = {
    "date_joined": "created_at",
    "created_at": "created_at",
    "shipping_mark": "shipping_mark",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "region": "region",
    "id": "id",
}
SEARCH_MAX_LENGTH = 100
RECENT_DAYS = 30


class ClientsPagination(PagePagination):
    """`?page=&page_size=` as the Clients page sends them (25 a page), at most 200 a page."""

    page_size = 25


def _model_ordering(ordering: str) -> str:
    descending = ordering.startswith("-")
    field_name = FRONTEND_ORDER_FIELDS.get(ordering.removeprefix("-"))
    if field_name is None:
        return DEFAULT_ORDERING
    return f"-{field_name}" if descending else field_name


class AdminUsersListApi(APIView):
    """GET /api/auth/admin/users/?user_role=CUSTOMER: one page of customers, newest first by default."""

    permission_classes = (CanViewCustomers,)
    pagination_class = ClientsPagination

    @extend_schema_serializer(component_name="ClientsFilter")
    class FilterSerializer(serializers.Serializer):
        user_role = serializers.CharField(
            required=False,
            allow_blank=True,
            default=CUSTOMER_ROLE,
            help_text="Only CUSTOMER lists anything: staff accounts are managed in Django's admin.",
        )
        search = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=SEARCH_MAX_LENGTH,
            help_text="Words that must each match part of the mark, a name, the email or the phone; "
            "or a whole phone number in any common form.",
        )
        is_active = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Customers are always active."
        )
        ordering = serializers.CharField(
            required=False,
            allow_blank=True,
            default="-date_joined",
            help_text="date_joined, shipping_mark, first_name, last_name, email, phone or region; '-' for descending.",
        )

    @extend_schema_serializer(component_name="ClientsCustomer")
    class OutputSerializer(serializers.ModelSerializer):
        full_name = serializers.CharField(read_only=True)
        company_name = serializers.SerializerMethodField()
        user_type = serializers.SerializerMethodField()
        is_active = serializers.SerializerMethodField()
        is_verified = serializers.SerializerMethodField()
        date_joined = serializers.DateTimeField(source="created_at", read_only=True)

        class Meta:
            model = Customer
            fields = (
                "id",
                "shipping_mark",
                "full_name",
                "first_name",
                "last_name",
                "email",
                "phone",
                "company_name",
                "region",
                "user_type",
                "is_active",
                "is_verified",
                "date_joined",
            )
            read_only_fields = fields

        @extend_schema_field(OpenApiTypes.STR)
        def get_company_name(self, customer: Customer) -> str:
            return ""

        @extend_schema_field(OpenApiTypes.STR)
        def get_user_type(self, customer: Customer) -> str:
            return "INDIVIDUAL"

        @extend_schema_field(OpenApiTypes.BOOL)
        def get_is_active(self, customer: Customer) -> bool:
            return True

        @extend_schema_field(OpenApiTypes.BOOL)
        def get_is_verified(self, customer: Customer) -> bool:
            # Imported customers have not confirmed their phone number.
            return False

    @extend_schema(
        operation_id="frontend_clients_list",
        summary="Customers for the Clients page",
        parameters=[FilterSerializer],
        responses={
            200: OutputSerializer(many=True),
            **error_responses(400, 401),
            403: OpenApiResponse(ErrorSerializer, description="Not active staff with users.view_customer."),
            404: OpenApiResponse(ErrorSerializer, description="The page is past the last one."),
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        options = filters.validated_data
        if (options["user_role"] or CUSTOMER_ROLE).upper() != CUSTOMER_ROLE or options["is_active"] is False:
            customers = Customer.objects.none()
        else:
            customers = customer_list(search=options["search"], ordering=_model_ordering(options["ordering"]))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(customers, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


@extend_schema_serializer(component_name="UploadStatsRegion")
class RegionCountSerializer(serializers.Serializer):
    region = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


@extend_schema_serializer(component_name="UploadStatsUploader")
class UploaderCountSerializer(serializers.Serializer):
    created_by_id = serializers.IntegerField(source="user_id")
    name = serializers.CharField()
    # The old endpoint's keys, kept for clients that read them.
    created_by__first_name = serializers.CharField(source="first_name")
    created_by__last_name = serializers.CharField(source="last_name")
    count = serializers.IntegerField()


class UploadStatsApi(APIView):
    """GET /api/auth/customers/upload/stats/: totals, the last 30 days, by region and by uploader."""

    permission_classes = (CanViewCustomers,)

    @extend_schema_serializer(component_name="UploadStats")
    class OutputSerializer(serializers.Serializer):
        total_customers = serializers.IntegerField(source="total")
        active_customers = serializers.IntegerField(source="total", help_text="Customers are always active.")
        recent_customers = serializers.IntegerField(source="recent", help_text="Added in the last `recent_days`.")
        recent_days = serializers.IntegerField()
        region_distribution = RegionCountSerializer(source="by_region", many=True)
        upload_history = UploaderCountSerializer(source="by_uploader", many=True)

    @extend_schema(
        operation_id="frontend_upload_stats",
        summary="Customer upload statistics",
        responses={
            200: OutputSerializer,
            **error_responses(401),
            403: OpenApiResponse(ErrorSerializer, description="Not active staff with users.view_customer."),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(customer_stats(recent_days=RECENT_DAYS)).data)
