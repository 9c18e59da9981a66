"""A group's own deadline (3 working days for the birth group) and the 7 working days a
citizen has to supplement: derived at read time, so moving the portal's clock is enough to
see them lapse."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from simulators.common.clock import VN_TZ
from simulators.population.clock import SimClock
from simulators.portal.dossiers import DossierState
from simulators.portal.group_deadlines import (
    group_effective_due,
    group_overdue,
    supplement_deadline,
    supplement_lapsed,
)


def vn(day: str, hour: int = 9, minute: int = 0) -> datetime:
    """A Vietnam time on `day` (yyyy-mm-dd)."""
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=VN_TZ)


def finish(groups: Any, group: dict[str, Any], *roles: str) -> dict[str, Any]:
    """Sync the named members to 9 (civil status first releases the others)."""
    for role in roles:
        code = group["MaNhom"]
        groups.sync(groups.member(groups.track(code), role), 2, 4, 9)
    return dict(groups.track(group["MaNhom"]))


# -- through the portal, with its clock moved -------------------------------------------


def test_the_birth_group_is_due_in_three_working_days(groups: Any, portal_clock: SimClock) -> None:
    portal_clock.set(vn("2025-03-03"))  # a Monday
    group = groups.declare("birth")
    assert group["NgayHenTra"] == "20250306170000"  # Tue, Wed, Thu
    assert group["QuaHan"] is False
    portal_clock.set(vn("2025-03-06", 16, 59))
    assert groups.track(group["MaNhom"])["QuaHan"] is False
    portal_clock.set(vn("2025-03-06", 17, 1))
    assert groups.track(group["MaNhom"])["QuaHan"] is True


def test_the_deadline_skips_hung_kings_day_and_the_cut_off(
    groups: Any, portal_clock: SimClock
) -> None:
    portal_clock.set(vn("2025-04-03", 15, 30))  # Thursday after 15:00: counts from Friday
    group = groups.declare("birth")
    # Fri 4 is day 0; Mon 7 April 2025 is Hùng Kings' day; Tue 8, Wed 9, Thu 10.
    assert group["NgayHenTra"] == "20250410170000"


def test_a_group_finished_in_time_stays_on_time(groups: Any, portal_clock: SimClock) -> None:
    portal_clock.set(vn("2025-03-03"))
    group = groups.declare("birth")
    portal_clock.set(vn("2025-03-05"))
    done = finish(groups, group, "civil-status", "residence", "health-insurance")
    assert done["TrangThaiNhom"] == "done"
    portal_clock.set(vn("2025-06-01"))
    assert groups.track(group["MaNhom"])["QuaHan"] is False


def test_a_group_finished_late_stays_late(groups: Any, portal_clock: SimClock) -> None:
    portal_clock.set(vn("2025-03-03"))
    group = groups.declare("birth")
    finish(groups, group, "civil-status", "residence")
    portal_clock.set(vn("2025-03-07"))  # the Friday after the Thursday deadline
    done = finish(groups, group, "health-insurance")
    assert (done["TrangThaiNhom"], done["QuaHan"]) == ("done", True)


def test_a_refused_group_is_never_overdue(groups: Any, portal_clock: SimClock) -> None:
    portal_clock.set(vn("2025-03-03"))
    group = groups.declare("birth")
    groups.sync(groups.member(group, "civil-status"), 3)
    portal_clock.set(vn("2025-06-01"))
    assert groups.track(group["MaNhom"])["QuaHan"] is False


def test_the_supplement_window_is_seven_working_days(groups: Any, portal_clock: SimClock) -> None:
    portal_clock.set(vn("2025-03-03"))
    group = groups.declare("birth")
    civil = groups.member(group, "civil-status")
    groups.sync(civil, 2, 5)  # supplementation requested on Monday 3 March, 09:00
    member = groups.member(groups.track(group["MaNhom"]), "civil-status")
    assert (member["HanBoSung"], member["HetHanBoSung"]) == ("20250312170000", False)
    portal_clock.set(vn("2025-03-12", 17, 1))
    view = groups.track(group["MaNhom"])
    assert groups.member(view, "civil-status")["HetHanBoSung"] is True
    # The paused member moved the group's due date by the 7 working days it waited, so
    # the group is on time although its own 3 days are long gone.
    assert view["NgayHenTraHieuLuc"] == "20250317170000" and view["QuaHan"] is False
    groups.sync(civil, 4)  # supplemented: the window closes with the request
    member = groups.member(groups.track(group["MaNhom"]), "civil-status")
    assert (member["HanBoSung"], member["HetHanBoSung"]) == (None, False)


def test_members_not_awaiting_a_supplement_have_no_window(groups: Any) -> None:
    group = groups.declare("death")
    assert all(m["HanBoSung"] is None for m in group["HoSoThanhPhan"])
    assert not any(m["HetHanBoSung"] for m in group["HoSoThanhPhan"])


# -- the rules on hand-built members -----------------------------------------------------


def member_state(status: int, **changes: Any) -> DossierState:
    base = {
        "code": "000.00.10.H29-250303-0001",
        "agency_id": "000.00.10.H29",
        "procedure": "1.001193",
        "status": status,
        "received_at": "20250303090000",
        "due_at": "20250304170000",
    }
    return DossierState(**(base | changes))


def test_the_longest_pause_moves_the_group_not_the_sum() -> None:
    members = [member_state(4, paused_days=2), member_state(4, paused_days=3)]
    moved = group_effective_due("20250306170000", members, vn("2025-03-04"))
    assert moved == vn("2025-03-11", 17)  # Thu 6 + 3 working days: Fri 7, Mon 10, Tue 11


def test_a_partly_refused_group_is_judged_by_its_last_finished_member() -> None:
    members = [
        member_state(9, finished_at="20250307100000"),
        member_state(3),
    ]
    assert group_overdue("20250306170000", members, "partly-refused", vn("2025-03-08")) is True
    members[0] = member_state(9, finished_at="20250306100000")
    assert group_overdue("20250306170000", members, "partly-refused", vn("2025-09-01")) is False


@pytest.mark.parametrize(
    ("asked", "deadline"),
    [
        ("20250303090000", "20250312170000"),  # Monday morning: Tue 4 … Wed 12
        ("20250303160000", "20250313170000"),  # after 15:00: counts from Tuesday
        # Across 30 April, 1 and 2 May; Saturday 26 April was a make-up working day:
        # Sat 26, Mon 28, Tue 29, Mon 5 … Thu 8.
        ("20250425100000", "20250508170000"),
    ],
)
def test_the_supplement_deadline_counts_working_days(asked: str, deadline: str) -> None:
    member = member_state(5, paused_since=asked)
    found = supplement_deadline(member, 7)
    assert found is not None and found.strftime("%Y%m%d%H%M%S") == deadline
    assert not supplement_lapsed(member, 7, found)
    assert supplement_lapsed(member, 7, found.replace(minute=1))
