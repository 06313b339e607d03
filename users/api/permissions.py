"""Who may do what: importing needs an active staff account with the add-customer permission.

Listing customers needs active staff with the view-customer permission: their
phones and emails are personal data.
"""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from users.models import User, UserRole

STAFF_ROLES = frozenset(UserRole.values)


def user_can_import(user: User) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm("users.add_customer")
    )


def user_can_view_customers(user: User) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm("users.view_customer")
    )


def user_sees_all_imports(user: User) -> bool:
    return bool(user.is_superuser or user.has_perm("users.view_all_importjobs"))


class CanImportCustomers(BasePermission):
    message = "Only active staff with permission to add customers may import them."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_can_import(request.user)


class IsStaffUser(BasePermission):
    message = "Only staff may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class CanViewCustomers(BasePermission):
    message = "Only active staff with permission to view customers may list them."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_can_view_customers(request.user)
