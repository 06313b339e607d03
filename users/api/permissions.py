"""DRF's side of who may do what: permission classes over the predicates in users/accounts/permissions.py."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from users.accounts.permissions import (
    user_can_import,
    user_can_view_customers,
    user_can_view_service_metrics,
    user_is_active_staff,
)


class CanImportCustomers(BasePermission):
    message = "Only active staff with permission to add customers may import them."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_can_import(request.user)


class IsStaffUser(BasePermission):
    message = "Only staff may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_is_active_staff(request.user)


class CanViewCustomers(BasePermission):
    message = "Only active staff with permission to view customers may list them."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_can_view_customers(request.user)


class CanViewServiceMetrics(BasePermission):
    message = "Only active staff with permission to view the service's metrics may see them."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_can_view_service_metrics(request.user)
