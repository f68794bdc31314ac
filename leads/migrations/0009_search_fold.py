from django.db import migrations

# Search matches names whatever their accents and case (leads.selectors, leads.normalize.fold):
# both sides go through leadline_fold(text). On PostgreSQL it is lower(unaccent(...)), with
# trigram indexes on the folded names in place of the upper-cased ones; unaccent, like
# pg_trgm, is a trusted extension (PostgreSQL 13+). SQLite gets the same function in Python
# on each connection (leads.apps), and reads the table as before.
FOLD_FUNCTION = """
CREATE OR REPLACE FUNCTION leadline_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$
"""
FOLDED_INDEXES = {
    "contact_first_name_fold_trgm": "leadline_fold(\"first_name\") gin_trgm_ops",
    "contact_last_name_fold_trgm": "leadline_fold(\"last_name\") gin_trgm_ops",
}
UPPER_INDEXES = {
    "contact_first_name_trgm": 'UPPER("first_name"::text) gin_trgm_ops',
    "contact_last_name_trgm": 'UPPER("last_name"::text) gin_trgm_ops',
}


def _indexes(schema_editor, make, drop):
    for name in drop:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    for name, expression in make.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "leads_contact" USING gin ({expression})'
        )


def add_folded_search(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
    schema_editor.execute(FOLD_FUNCTION)
    _indexes(schema_editor, make=FOLDED_INDEXES, drop=UPPER_INDEXES)


def remove_folded_search(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _indexes(schema_editor, make=UPPER_INDEXES, drop=FOLDED_INDEXES)
    schema_editor.execute("DROP FUNCTION IF EXISTS leadline_fold(text)")


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0008_cache_table"),
    ]

    operations = [
        migrations.RunPython(add_folded_search, remove_folded_search, elidable=False),
    ]
