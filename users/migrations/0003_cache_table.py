"""The database cache's table, wherever `migrate` runs.

DRF's throttles count each client's requests in Django's cache, which is a
database table so that every web worker and process shares one count
(settings: CACHES). `createcachetable` makes it; running it here means test
databases, `make run`, Render's build and the deploy tests' template all have
it without a step of their own. It only adds what is missing, so it is safe on
a database where the table already exists.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_leaner_customer_indexes"),
    ]

    operations = [
        # Nothing to undo: the table holds only short-lived counts, and other code may share it.
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
    ]
