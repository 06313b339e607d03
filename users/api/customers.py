"""GET /api/customers/: search and page through customers, e.g. to check what an import created."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users.api.permissions import IsStaffUser
from users.api.schema import PagePagination, error_responses, paginated_response
from users.customers.selectors import CUSTOMER_ORDER_FIELDS, DEFAULT_ORDERING, customer_list
from users.models import Customer, Region

ORDERINGS = sorted({*CUSTOMER_ORDER_FIELDS, *(f"-{field}" for field in CUSTOMER_ORDER_FIELDS)})

SEARCH_MAX_LENGTH = 100


class CanViewCustomers(BasePermission):
    """Customers' phones and emails are personal data: staff need users.view_customer to list them."""

    message = "Only staff with permission to view customers may list them."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.user.has_perm("users.view_customer")


class CustomerListApi(APIView):
    """Search customers by mark, name, email or phone; filter by region; page through the result.

    Every word of `search` must match part of the mark, a name, the email or the phone; a whole
    phone number in any common form (`024 123 4567`, `+233241234567`) matches the stored one.
    """

    permission_classes = [IsStaffUser, CanViewCustomers]
    pagination_class = PagePagination

    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=SEARCH_MAX_LENGTH,
            default="",
            help_text="Part of a shipping mark, name, email or phone; or a whole phone number in any common form.",
        )
        region = serializers.ChoiceField(
            choices=Region.choices,
            required=False,
            allow_blank=True,  # `?region=` (a form's "any region") means no filter
            help_text="Only customers in this region.",
        )
        ordering = serializers.ChoiceField(
            choices=ORDERINGS,
            required=False,
            allow_blank=True,  # `?ordering=` means the default, as a form's empty select sends it
            help_text=f"A field, `-` first for descending; default `{DEFAULT_ORDERING}`.",
        )

    @extend_schema_serializer(component_name="Customer")
    class OutputSerializer(serializers.ModelSerializer):
        full_name = serializers.CharField(read_only=True)
        region_label = serializers.CharField(source="get_region_display", read_only=True)
        import_job = serializers.UUIDField(source="import_job_id", read_only=True, allow_null=True)

        class Meta:
            model = Customer
            fields = (
                "id",
                "shipping_mark",
                "first_name",
                "last_name",
                "full_name",
                "email",
                "phone",
                "region",
                "region_label",
                "import_job",
                "import_row_number",
                "created_at",
                "updated_at",
            )
            read_only_fields = fields

    @extend_schema(
        operation_id="customers_list",
        summary="Search customers",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        customers = customer_list(**filters.validated_data)
        return paginated_response(
            queryset=customers, serializer_class=self.OutputSerializer, request=request, view=self
        )
