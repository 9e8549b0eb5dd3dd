"""Tortoise models owned by the example plugin (Tortoise app label "example")."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# A model docstring becomes the table comment, and tortoise's SQLite migration runner splits SQL
# on semicolons: keep them out of model docstrings.


class Note(Model):
    """A short private text kept by one user"""

    id = fields.IntField(primary_key=True)
    # related_name=False: no reverse accessor is added to the kernel's User model.
    user = fields.ForeignKeyField("kernel.User", related_name=False, on_delete="CASCADE")
    text = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        # Prefix tables with the plugin name: every plugin shares one database.
        table = "example_notes"
