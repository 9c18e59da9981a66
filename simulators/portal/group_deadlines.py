"""The clocks of an interconnected group: its own deadline and the window to supplement.

Decree 63/2024 gives the birth group three working days end to end and the citizen seven
working days to supplement before the dossier is refused (DOMAIN.md §5; the numbers are
`deadline_working_days` and `supplement_working_days` of `groups` in
specs/procedures.yaml). Both are derived from the members' states at read time, like a
dossier's overdue flag, and never stored: moving the clock is all it takes for them to
lapse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from simulators.common.clock import add_working_days, parse_dvc, shift_working_days
from simulators.portal.dossiers import DossierState, due_date, paused_working_days

__all__ = [
    "group_due",
    "group_effective_due",
    "group_overdue",
    "supplement_deadline",
    "supplement_lapsed",
]

SUPPLEMENT_REQUESTED = 5
IN_PROGRESS = "in-progress"


def group_due(received_at: str, deadline_working_days: int) -> str:
    """The group's NgayHenTra: working days from the declaration (15:00 cut-off, holidays)."""
    return due_date(parse_dvc(received_at), deadline_working_days)


def group_effective_due(due_at: str, members: Sequence[DossierState], now: datetime) -> datetime:
    """The group's due date moved later by the longest pause of any one member.

    [ours] The branches run in parallel, so the group is held up only as long as its
    most-paused member was; pauses of different members do not add up.
    """
    lost = max((paused_working_days(m, now) for m in members), default=0)
    return shift_working_days(parse_dvc(due_at), lost)


def group_overdue(
    due_at: str, members: Sequence[DossierState], group_status: str, now: datetime
) -> bool:
    """Unfinished and past the due date at `now`, or finished after it.

    A group closed with nothing finished (refused, withdrawn) owes no result, so it is
    never overdue; a partly refused one is judged by its last finished member.
    """
    if group_status == IN_PROGRESS:
        return now > group_effective_due(due_at, members, now)
    finished = [m.finished_at for m in members if m.finished_at is not None]
    if not finished:
        return False
    last = parse_dvc(max(finished))
    return last > group_effective_due(due_at, members, last)


def supplement_deadline(member: DossierState, window_working_days: int) -> datetime | None:
    """When a member awaiting a supplement (5) runs out of time to get one; else None.

    The window counts from the agency's request like any deadline: a request after 15:00
    counts from the next working day.
    """
    if member.status != SUPPLEMENT_REQUESTED or member.paused_since is None:
        return None
    return add_working_days(parse_dvc(member.paused_since), window_working_days)


def supplement_lapsed(member: DossierState, window_working_days: int, now: datetime) -> bool:
    """True once the window has passed with the supplement still missing: the agency may
    now refuse (the portal shows it; refusing is the agency's sync, status 3)."""
    deadline = supplement_deadline(member, window_working_days)
    return deadline is not None and now > deadline
