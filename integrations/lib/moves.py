"""Moving models between apps with their tables, for the migrations that do it.

A model that moves keeps its table (``Meta.db_table``): the old app's migration takes it out
of that app's state and the new app's ``0001`` puts it into its own, neither touching the
database (:func:`state_only`). Its content type moves with it (:func:`content_types_moved`),
so the permissions given on it, and the admin's history of its rows, stay attached.

Used by migrations, so it stays as it is: change it only together with every migration
that calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import migrations
from django.db.migrations.operations.base import Operation

DEFAULT_ACTIONS = ("add", "change", "delete", "view")


def state_only(*operations: Operation) -> migrations.SeparateDatabaseAndState:
    """``operations`` applied to the migration state only: the tables stay as they are."""
    return migrations.SeparateDatabaseAndState(state_operations=list(operations))


@dataclass(frozen=True)
class Move:
    """A model that was ``old_app.old_model`` and is now ``new_app.new_model`` (lower case);
    ``verbose_name`` names the new model in its permissions ("Can view <verbose_name>")."""

    old_app: str
    old_model: str
    new_app: str
    new_model: str
    verbose_name: str = ""

    def reversed(self, old_verbose_name: str = "") -> Move:
        return Move(self.new_app, self.new_model, self.old_app, self.old_model, old_verbose_name)


def content_types_moved(moves: Sequence[Move]) -> migrations.RunPython:
    """A reversible operation that gives each old content type its new app and model.

    Nothing happens for a model whose new content type exists already (a database made at
    the new layout) or whose old one does not (a fresh database).
    """

    def forwards(apps: Any, schema_editor: Any) -> None:
        _move(apps, moves)

    def backwards(apps: Any, schema_editor: Any) -> None:
        _move(apps, [move.reversed() for move in moves])

    return migrations.RunPython(forwards, backwards, elidable=False)


def _move(apps: Any, moves: Sequence[Move]) -> None:
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    for move in moves:
        types = content_type_model.objects
        if types.filter(app_label=move.new_app, model=move.new_model).exists():
            continue
        old = types.filter(app_label=move.old_app, model=move.old_model).first()
        if old is None:
            continue
        old.app_label, old.model = move.new_app, move.new_model
        old.save(update_fields=["app_label", "model"])
        if move.old_model == move.new_model:
            continue
        for action in DEFAULT_ACTIONS:
            permission_model.objects.filter(
                content_type=old, codename=f"{action}_{move.old_model}"
            ).update(
                codename=f"{action}_{move.new_model}",
                name=f"Can {action} {move.verbose_name or move.new_model}",
            )
