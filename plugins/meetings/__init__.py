"""Meetings: scheduling, joining, participants, chat, recording control (endpoints 17-34).

Who may do what (admin = a user with the admin role; "member" = a participant who is not in
the waiting room; anonymous callers get 401 everywhere):

| endpoint                         | host | moderator | participant | other user | admin |
|----------------------------------|------|-----------|-------------|------------|-------|
| 17 create                        |  -   |     -     |      -      |    yes     |  yes  |
| 18 list, 19 get                  | yes  |    yes    |     yes     |    yes     |  yes  |
| 20 update (incl. cancel)         | yes  |    yes    |     403     |    403     |  yes  |
| 21 delete                        | creator only                                   |  yes  |
| 22 start, 23 end                 | yes  |    403    |     403     |    403     |  yes  |
| 24 join                          | yes  |    yes    |     yes     |   yes (1)  |  yes  |
| 25 leave                         | yes  |    yes    |     yes     |  409 (2)   |  409  |
| 26 participants, 33 read chat    | yes  |    yes    | yes (member)|    403     |  yes  |
| 27 add / admit participant       | yes  |    yes    |     403     |    403     |  yes  |
| 28 remove participant            | yes  | participants only | 403  |    403     |  yes  |
| 29 change role                   | yes  |    403    |     403     |    403     |  yes  |
| 30/31 recording start/stop       | yes  |    yes    |     403     |    403     |  yes  |
| 32 recordings                    | yes  |    yes    | yes (member)|    403     |  yes  |
| 34 send chat                     | yes  |    yes    | yes (member)|    403     |  yes  |

(1) with the meeting password if it has one, through the waiting room if it is on.
(2) not in the meeting.

The creator starts as host. Making someone else host hands the role over (the old host becomes
a moderator), so a meeting always has exactly one host. Recording needs
`settings.enable_recording` and a plugin implementing the hooks in `hookspecs.py`; without one
the recording endpoints answer 503. A deleted user's meetings: see `service.user_deleted`.
"""

from __future__ import annotations

from typing import Any

from kernel.api import get_platform, hookimpl
from plugins.meetings import hookspecs  # noqa: F401  (the kernel adds these hook specs)


@hookimpl
def register_models(register: Any) -> None:
    register(models="plugins.meetings.models", migrations="plugins.meetings.migrations")


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.meetings.routes import bp

    register(bp)


@hookimpl
async def on_event(event: Any) -> None:
    # Every node sees every event; the database work is done once, by the node that published.
    if event.name == "user.deleted" and event.node == get_platform().node:
        from plugins.meetings import service

        await service.user_deleted(int(event.data["user_id"]))
