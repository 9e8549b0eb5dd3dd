"""Users: the caller's own account (endpoints 6-10). This module holds the hookimpls only.

- GET/PUT `/api/v1/users/profile`: read and change nickname, email (unique, lower-cased) and
  avatar_url (an http(s) URL, or null to clear).
- POST `/api/v1/users/change-password`: keeps the calling login, revokes the refresh tokens of
  every other login.
- POST `/api/v1/users/upload-avatar` (multipart `file`, <= 5 MB): the content decides, not the
  MIME type or the name. The image is decoded with Pillow (PNG, JPEG, GIF, WebP), resized to fit
  256x256, re-encoded without metadata (WebP, or PNG when Pillow lacks WebP) and stored as
  `<data_dir>/avatars/<random>.<ext>`. GET `/api/v1/users/avatars/<name>` serves it publicly
  (immutable, cacheable: a new upload gets a new name and the previous file is deleted). The
  database keeps the path, the API answers with the absolute URL (setting `public_url`, else the
  request's host).
- DELETE `/api/v1/users/account`: soft deletion, see below.

Account deletion policy (`service.delete_account`, also used by the admin plugin):

- the row stays (meetings, messages and files of others keep pointing at it), with status
  `deleted`;
- the username and email are released for reuse: they become `deleted-<id>` and
  `deleted-<id>@deleted.invalid` (with a random suffix in the unlikely case someone registered
  that name), so the old name and address can register again;
- nickname and avatar are cleared, the avatar file is removed;
- every access and refresh token of the account stops working at once;
- the event `user.deleted` {user_id, actor_id} is published (the meetings plugin hands over or
  ends the user's meetings);
- the last active admin cannot be deleted (409): promote another admin first.
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.users.routes import bp

    register(bp)
