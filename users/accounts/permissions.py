"""Who may do what: plain predicates shared by the API, the import page, the services and the command line.

Importing needs an active staff account with the add-customer permission. Each
option that reaches further needs a permission of its own: updating existing
customers (`users.change_customer`), texting new ones (`users.send_welcome_sms`).
Undoing an import deletes and rewrites customers: it needs both
`users.delete_customer` and `users.change_customer`, whoever ran the import.
Customers' names, phones and emails are personal data: listing customers, or
seeing the details of an existing customer an upload matched, needs
`users.view_customer`. Seeing every user's jobs (`users.view_all_importjobs`)
is oversight, not control: only a job's owner commits it or cancels it (a
superuser may cancel any, see `user_may_cancel_import`).
"""

from users.models import User


def user_is_active_staff(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def user_can_import(user: User) -> bool:
    return user_is_active_staff(user) and user.has_perm("users.add_customer")


def user_can_view_customers(user: User) -> bool:
    return user_is_active_staff(user) and user.has_perm("users.view_customer")


def user_can_update_customers(user: User) -> bool:
    """May choose on_duplicate=update: overwrite existing customers' names, email, phone and region."""
    return user_is_active_staff(user) and user.has_perm("users.change_customer")


def user_can_send_welcome_sms(user: User) -> bool:
    """May ask an import to text the customers it creates (texts cost money and reach people)."""
    return user_is_active_staff(user) and user.has_perm("users.send_welcome_sms")


def user_can_undo_imports(user: User) -> bool:
    """May undo an import: that deletes the customers it created and rewrites those it updated."""
    return (
        user_is_active_staff(user) and user.has_perm("users.delete_customer") and user.has_perm("users.change_customer")
    )


def user_can_view_service_metrics(user: User) -> bool:
    """A permission of its own, which superusers hold anyway: on-call staff need not be able to read customers."""
    return user_is_active_staff(user) and user.has_perm("users.view_service_metrics")


def user_sees_all_imports(user: User) -> bool:
    return bool(user.is_superuser or user.has_perm("users.view_all_importjobs"))


def user_owns_import(user: User, created_by_id: int | None) -> bool:
    return created_by_id is not None and getattr(user, "pk", None) == created_by_id


def user_may_commit_import(user: User, created_by_id: int | None) -> bool:
    """Only the owner: a commit writes customers with the options the owner chose, under the owner's name."""
    return user_can_import(user) and user_owns_import(user, created_by_id)


def user_may_correct_import(user: User, created_by_id: int | None) -> bool:
    """Only the owner chooses an import's columns and corrects its rows: their commit writes what they change."""
    return user_can_import(user) and user_owns_import(user, created_by_id)


def user_may_cancel_import(user: User, created_by_id: int | None) -> bool:
    """The owner; and a superuser, as the emergency brake on anyone's runaway import (cancelling writes nothing)."""
    return user_can_import(user) and (user_owns_import(user, created_by_id) or bool(user.is_superuser))
