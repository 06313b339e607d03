"""Django admin for staff users, customers and import jobs."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from users.accounts.forms import AdminSignInForm
from users.models import (
    Customer,
    ImportAuditEntry,
    ImportJob,
    ImportRowError,
    RememberedColumnMap,
    SmsMessage,
    User,
)

# A locked-out sign-in says so on the admin's own login page (users/accounts/lockout.py).
admin.site.login_form = AdminSignInForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Staff accounts; the phone typed in the add and change forms is normalised by `User.clean()`."""

    ordering = ("phone",)
    list_display = ("phone", "first_name", "last_name", "user_role", "is_staff", "is_active")
    list_filter = ("user_role", "is_staff", "is_active")
    search_fields = ("phone", "first_name", "last_name", "email")
    fieldsets = (
        (None, {"fields": ("phone", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        (
            "Role and permissions",
            {"fields": ("user_role", "is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("phone", "first_name", "last_name", "user_role", "password1", "password2"),
            },
        ),
    )


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("shipping_mark", "first_name", "last_name", "phone", "email", "region", "created_at")
    list_filter = ("region",)
    search_fields = ("shipping_mark", "first_name", "last_name", "phone", "email")
    readonly_fields = ("created_by", "import_job", "created_at", "updated_at")
    list_select_related = ()
    show_full_result_count = False


class ImportRowErrorInline(admin.TabularInline):
    model = ImportRowError
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("row_number", "outcome", "column", "value", "code", "reason")
    readonly_fields = fields


class ImportAuditEntryInline(admin.TabularInline):
    """What was changed on the job's Check step: columns chosen, rows corrected (read only, it is the record)."""

    model = ImportAuditEntry
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("at", "user_name", "action", "row_number", "changes", "outcome")
    readonly_fields = fields


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_filename",
        "created_by",
        "status",
        "total_rows",
        "created_count",
        "failed_count",
        "created_at",
    )
    list_filter = ("status", "source")
    search_fields = ("original_filename", "id")
    readonly_fields = [field.name for field in ImportJob._meta.fields]
    inlines = [ImportAuditEntryInline]


@admin.register(RememberedColumnMap)
class RememberedColumnMapAdmin(admin.ModelAdmin):
    """Column choices remembered for a header row (users/imports/columns.py); delete one to have the next such
    sheet ask again."""

    list_display = ("__str__", "confirmed_by_name", "confirmed_at")
    search_fields = ("confirmed_by_name",)
    readonly_fields = ("header_key", "headers", "fields", "confirmed_by", "confirmed_by_name", "confirmed_at")

    def has_add_permission(self, request: object) -> bool:
        return False  # a choice is remembered by making it on the import page, where the sheet's columns are known


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    list_display = ("to", "status", "attempts", "import_job", "sent_at")
    list_filter = ("status",)
    search_fields = ("to", "twilio_sid")
    raw_id_fields = ("customer", "import_job")
