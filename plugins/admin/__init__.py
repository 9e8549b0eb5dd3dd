"""Admin: user management for admins (endpoints 11-16). This module holds the hookimpls only.

Every route needs an access token of a user with the admin role (401 without a token, 403 for
other users). Reads count against the `high` rate-limit class, writes against `general`.

Rules:

- an admin cannot ban, delete or demote themselves (409), and no action may delete, ban or
  demote the last active admin (409): promote someone else first;
- deleting (DELETE, or PUT with status `deleted`) is the users plugin's soft deletion
  (`plugins.users.service.delete_account`): final, a deleted account cannot be changed (409);
- a ban without a duration is permanent; with `duration` (hours) it lifts itself once the time
  has passed (at the user's next login or request, or when an admin lists or reads users);
  a ban ends every session of the user at once;
- every action publishes an event, `admin.user_updated`, `admin.user_deleted`,
  `admin.user_banned` or `admin.user_unbanned`, with `actor_id`, `user_id` and what changed,
  and writes a line to the `platform.audit` logger: with the event bus's own log, the audit
  trail.
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("users",)


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.admin.routes import bp

    register(bp)
