"""Households of consistent, realistic citizens — one chunk of the population at a time.

Consistency kept here (and tested): parents exist and are ≥18 years older, spouses point
at each other, a household's members share its permanent address and have one head, a
minor has a living legal representative, the dead and the unregistered newborns belong to
no household. Hard cases are drawn at small rates and tagged in `hard_case`, so the
sandbox can hand them out: deceased; newborn (birth registered, residence not yet);
guardian (a minor whose parents died, represented by the grandparent who heads the
household); renamed (`former_name` kept); superseded (PIN reissued after a birth-year
correction, old PIN in `previous_pin`); nfd (a name stored decomposed, as some legacy
sources wrote it); lookalike (two heads with the same birth date whose names differ only
in tone marks).

A chunk is made in passes, each a few numpy operations over all its households or all its
people at once — drawing person by person in Python capped generation at about 60,000
citizens a second on a 2-core machine (issue #3):

1. `households.plan_households`: one entry per household — grandparents raising
   orphaned grandchildren, or a head, perhaps with a spouse and children — and the birth
   years that decide how many children fit; the household that overflows the chunk is cut
   to fit.
2. `lay_out`: one entry per person: household, role, sex, birth date, the positions of
   father, mother and spouse in the chunk, deaths, newborns, legal representatives.
3. `columns`: names, PINs, origins, addresses and the rest, as lists in CITIZEN_COLUMNS
   order. Columns are built from tables of ready-made strings by numpy indexing, and
   "none" is index −1, which each table maps to the builder's `null` (see `_with_none`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from simulators.population import names
from simulators.population.clock import years_before
from simulators.population.households import (
    BIG_CITIES,
    FEMALE,
    FIRST_BIRTH_YEAR,
    MALE,
    NATIVE_TEXT,
    PARENT_GAP_YEARS,
    PREFIX_TEXT,
    PROVINCES,
    Calendar,
    Homes,
    PinSpace,
    Plan,
    Uniforms,
    cmnd_numbers,
    draw_homes,
    old_pins,
    pins,
    plan_households,
    scaled,
)
from simulators.population.reference import (
    ETHNIC_GROUPS,
    ETHNIC_WEIGHTS,
    MARITAL_STATUSES,
    RELIGION_WEIGHTS,
    RELIGIONS,
)
from simulators.population.schema import CITIZEN_COLUMNS, CitizenRow

__all__ = ["ChunkBuilder"]

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Texts = npt.NDArray[np.object_]

ADULT_AGE = 18
NEWBORN_DAYS = 60  # a newborn's residence must be registered within 60 days (Decree 154/2024)

# Roles, and the order members are laid out in: a couple's household is head, spouse,
# children; an orphans' household is grandfather (head), grandmother, their dead son and
# his dead wife, then the grandchildren.
HEAD, SPOUSE, CHILD, SON, SONS_WIFE, GRANDCHILD = range(6)
_COUPLE_SLOTS = np.array([HEAD, SPOUSE, CHILD])
_ORPHAN_SLOTS = np.array([HEAD, SPOUSE, SON, SONS_WIFE, GRANDCHILD])
# relationship_to_head by [role, sex]; the son and his wife are dead, members of nothing.
_RELATIONSHIP = np.array(
    [["chủ hộ"] * 2, ["chồng", "vợ"], ["con"] * 2, [""] * 2, [""] * 2, ["cháu"] * 2],
    dtype=object,
)
NO_CASE, DECEASED, NEWBORN, GUARDIAN, RENAMED, SUPERSEDED, NFD, LOOKALIKE = range(8)
_CASES = ("deceased", "newborn", "guardian", "renamed", "superseded", "nfd", "lookalike")
SINGLE, MARRIED, WIDOWED, DIVORCED = (
    MARITAL_STATUSES.index(status) for status in ("single", "married", "widowed", "divorced")
)
_MARITAL = np.array(MARITAL_STATUSES, dtype=object)
_SEX = np.array(["male", "female"], dtype=object)
_ETHNICITY = names.Weighted(range(len(ETHNIC_GROUPS)), ETHNIC_WEIGHTS)
_ETHNIC_CODES = np.array(tuple(ETHNIC_GROUPS), dtype=object)
_RELIGION = names.Weighted(range(len(RELIGIONS)), RELIGION_WEIGHTS)
_RELIGIONS = np.array(RELIGIONS, dtype=object)
_VNEID = names.Weighted((0, 1, 2), (20, 25, 55))
# Each rare hard case takes a band of one uniform draw per living person without a case.
_RENAMED_BELOW, _SUPERSEDED_BELOW, _NFD_BELOW = 0.003, 0.005, 0.015


@dataclass(slots=True, eq=False)
class People:
    """Pass 2: one entry per person, household after household."""

    household: Ints
    role: Ints
    head: Ints  # position of the household's head in the chunk
    sex: Ints
    year: Ints
    born: Ints  # a Calendar day
    father: Ints  # positions in the chunk, −1 for none
    mother: Ints
    spouse: Ints
    died: Ints  # a Calendar day, −1 for the living
    case: Ints
    resident: Bools  # a member of the household: not dead, not a newborn yet to register
    representative: Ints
    marital: Ints
    # Look-alike heads and the heads they look like, as positions (a few per chunk).
    twins: Ints
    originals: Ints

    @classmethod
    def unrelated(cls, household: Ints, role: Ints, head: Ints) -> People:
        """People laid out in their households, the rest still to be drawn: nobody's
        relatives, alive, resident."""
        n = len(household)

        def zeros() -> Ints:
            return np.zeros(n, dtype=np.int64)

        def nobody() -> Ints:
            return np.full(n, -1, dtype=np.int64)

        return cls(
            household=household,
            role=role,
            head=head,
            sex=zeros(),
            year=zeros(),
            born=zeros(),
            father=nobody(),
            mother=nobody(),
            spouse=nobody(),
            died=nobody(),
            case=zeros(),
            resident=np.ones(n, dtype=np.bool_),
            representative=nobody(),
            marital=zeros(),
            twins=zeros()[:0],
            originals=zeros()[:0],
        )


def _with_none(values: Texts | list[str] | tuple[str, ...], null: object) -> Texts:
    """An object array of `values` and a trailing `null`, so that index −1 gives `null`."""
    table = np.empty(len(values) + 1, dtype=object)
    table[:-1] = values
    table[-1] = null
    return table


class ChunkBuilder:
    """Draws the households of one chunk; `columns(size)` (or `rows(size)`) is the chunk.

    `null` is what stands for SQL NULL in the columns: None, or "" for the SQLite loader
    (CPython's sqlite3 binds a str several times faster than None, which it first offers
    to the adapters; no column ever holds an empty string).
    """

    def __init__(self, seed: int, index: int, as_of: date, *, null: object = None) -> None:
        if not 0 <= index < PinSpace.MAX_CHUNKS:
            raise ValueError(f"chunk {index} is outside 0–{PinSpace.MAX_CHUNKS - 1}")
        self.index = index
        self.year = as_of.year
        self.null = null
        self.uniform = Uniforms(seed, index)
        self.calendar = cal = Calendar.of(as_of)
        self.iso = _with_none(cal.iso, null)  # dates as text, −1 for none
        self.cases = np.array([null, *_CASES], dtype=object)  # by code: NO_CASE is null
        self.minor_after = cal.day(years_before(as_of, ADULT_AGE))  # born later: a minor
        self.newborn_after = cal.today - NEWBORN_DAYS
        self.vneid_until = cal.day(years_before(as_of, 14))  # VNeID accounts from age 14
        self.cmnd_before = cal.day(date(2004, 1, 1))

    def rows(self, size: int) -> list[CitizenRow]:
        return list(zip(*self.columns(size), strict=True))

    def columns(self, size: int) -> list[list[object]]:
        """The chunk's `size` citizens as one list per column, in CITIZEN_COLUMNS order."""
        if size == 0:
            return [[] for _ in CITIZEN_COLUMNS]
        plan = plan_households(self.uniform, size, self.year)
        homes = draw_homes(self.uniform, len(plan.orphans))
        people = self.lay_out(plan)
        columns = self.identity(people, homes)
        columns |= self.residence(people, homes)
        return [columns[name] for name in CITIZEN_COLUMNS]

    # -- pass 2: people --------------------------------------------------------------------

    def lay_out(self, plan: Plan) -> People:
        members = plan.members()
        start = np.cumsum(members) - members
        household = np.repeat(np.arange(len(members)), members)
        slot = np.arange(len(household)) - start[household]
        orphans = plan.orphans[household]
        role = np.where(
            orphans, _ORPHAN_SLOTS[np.minimum(slot, 4)], _COUPLE_SLOTS[np.minimum(slot, 2)]
        )
        twins = np.flatnonzero(plan.twin)
        people = People.unrelated(household, role, start[household])
        people.twins, people.originals = start[twins], start[twins - 1]
        self._sexes_and_years(plan, people)
        self._born(people)
        self._relatives(plan, people)
        self._deaths(plan, people)
        self._children(people)
        self._marital_status(people)
        return people

    def _sexes_and_years(self, plan: Plan, people: People) -> None:
        role, hh = people.role, people.household
        u = self.uniform(2, len(role))
        head_sex = np.where(plan.orphans, MALE, plan.head_sex)[hh]
        kid_sex = (u[0] >= 0.51).astype(np.int64)  # 51 % of children are boys
        people.sex = np.select(
            [role == HEAD, role == SPOUSE, role == SON, role == SONS_WIFE],
            [head_sex, 1 - head_sex, MALE, FEMALE],
            kid_sex,
        )
        orphans = plan.orphans[hh]
        people.year = np.select(
            [role == HEAD, role == SPOUSE, role == SON, role == SONS_WIFE],
            [
                np.where(orphans, plan.grandpa_year[hh], plan.head_year[hh]),
                np.where(orphans, plan.grandma_year[hh], plan.spouse_year[hh]),
                plan.son_year[hh],
                plan.wife_year[hh],
            ],
            0,
        )
        self._children_years(plan, people, u[1])

    def _children_years(self, plan: Plan, people: People, u: npt.NDArray[np.float64]) -> None:
        kid = people.role == CHILD
        hh = people.household[kid]
        parents = (plan.head_year[hh], plan.spouse_year[hh])
        first = np.maximum(*parents) + PARENT_GAP_YEARS
        last = np.minimum(np.minimum(*parents) + 42, self.year)
        years = first + scaled(u[kid], last - first + 1)
        # Eldest first: one sort of (household, year) sorts within each household, since
        # households are laid out in order.
        people.year[kid] = np.sort(hh * 10_000 + years) % 10_000
        grandkid = people.role == GRANDCHILD
        hh = people.household[grandkid]
        parents = (plan.son_year[hh], plan.wife_year[hh])
        # Minors, whose parents died while they were young.
        first = np.maximum(np.maximum(*parents) + PARENT_GAP_YEARS, self.year - 17)
        people.year[grandkid] = first + scaled(u[grandkid], self.year - first)

    def _born(self, people: People) -> None:
        people.born = self.calendar.in_year(people.year, self.uniform(len(people.year)))
        people.born[people.twins] = people.born[people.originals]
        people.case[people.twins] = people.case[people.originals] = LOOKALIKE

    def _relatives(self, plan: Plan, people: People) -> None:
        role, head = people.role, people.head
        kid = role == CHILD
        # A child's father is the head, or the spouse when the head is a woman.
        head_is_female = people.sex[head[kid]]
        people.father[kid] = head[kid] + head_is_female
        people.mother[kid] = head[kid] + 1 - head_is_female
        for member, father, mother in ((SON, 0, 1), (GRANDCHILD, 2, 3)):
            mask = role == member
            people.father[mask], people.mother[mask] = head[mask] + father, head[mask] + mother
        for member, partner in ((HEAD, 1), (SPOUSE, 0), (SON, 3), (SONS_WIFE, 2)):
            mask = role == member
            people.spouse[mask] = head[mask] + partner
        alone = (role == HEAD) & plan.single[people.household] & ~plan.orphans[people.household]
        people.spouse[alone] = -1

    def _deaths(self, plan: Plan, people: People) -> None:
        role, hh, today = people.role, people.household, self.calendar.today
        last_birth = np.full(len(plan.orphans), -1)
        kids = (role == CHILD) | (role == GRANDCHILD)
        np.maximum.at(last_birth, hh[kids], people.born[kids])
        u = self.uniform(2, len(role))
        # A couple's spouse dies, more often when old; the orphans' parents are dead.
        age = self.year - people.year
        chance = np.select([age > 75, age > 60], [0.25, 0.08], 0.003)
        widow = (role == SPOUSE) & ~plan.orphans[hh] & (u[0] < chance)
        dead = widow | (role == SON) | (role == SONS_WIFE)
        # After the last (grand)child's birth, and after their own 18th year.
        adult = self.calendar.end_of_year(np.where(dead, people.year, FIRST_BIRTH_YEAR) + 18)
        died = self.calendar.between(np.maximum(last_birth[hh], adult), today - 1, u[1])
        people.died = np.where(dead, died, -1)
        people.case[dead] = DECEASED
        people.resident &= ~dead  # the residence is deleted with the death

    def _children(self, people: People) -> None:
        role, u = people.role, self.uniform(len(people.role))
        # Birth registered, residence not yet: half the newborns (60 days are allowed).
        newborn = (role == CHILD) & (people.born > self.newborn_after) & (u < 0.5)
        people.resident &= ~newborn
        people.case[newborn] = NEWBORN
        people.case[role == GRANDCHILD] = GUARDIAN  # even a newborn lives with them
        # A minor's legal representative: a living parent (the father first), or the
        # grandfather who heads the household.
        minor = people.born > self.minor_after
        kid = minor & (role == CHILD)
        father_alive = people.died[people.father[kid]] < 0
        people.representative[kid] = np.where(father_alive, people.father[kid], people.mother[kid])
        grandkid = minor & (role == GRANDCHILD)
        people.representative[grandkid] = people.head[grandkid]

    def _marital_status(self, people: People) -> None:
        spouse = people.spouse
        married = spouse >= 0
        people.marital = np.where(married, MARRIED, SINGLE)
        alive = people.died < 0
        people.marital[married & alive & (people.died[spouse] >= 0)] = WIDOWED
        old = people.year < self.year - 35
        alone = (people.role == HEAD) & ~married & old
        u = self.uniform(len(spouse))
        people.marital[alone & (u < 0.3)] = DIVORCED

    # -- pass 3: columns -------------------------------------------------------------------

    def identity(self, people: People, homes: Homes) -> dict[str, list[object]]:
        """Who each person is: PIN, names, birth, origins, documents, hard case."""
        n = len(people.role)
        u = self.uniform(5, n)
        province = np.where(
            np.isin(people.role, (CHILD, SON, GRANDCHILD)) | (u[0] < 0.7),
            homes.province[people.household],  # most adults were born where they live
            np.asarray(PROVINCES.values)[PROVINCES.pick(u[1])],
        )
        pin_list = pins(province, people.sex, people.year, self.index)
        pin_table = _with_none(pin_list, self.null)
        name, former, previous = self._names_and_rare_cases(people, province, u[2])
        alive = people.died < 0
        vneid = np.where(alive & (people.born <= self.vneid_until), _VNEID.pick(u[3]), 0)
        return {
            "pin": pin_list,
            "full_name": name,
            "former_name": former,
            "date_of_birth": self.iso[people.born].tolist(),
            "sex": _SEX[people.sex].tolist(),
            "birth_registration_province": PREFIX_TEXT[province].tolist(),
            "native_place": NATIVE_TEXT[_inherited(people, province)].tolist(),
            "ethnicity": _ETHNIC_CODES[self._heritage(people, _ETHNICITY)].tolist(),
            "religion": _RELIGIONS[self._heritage(people, _RELIGION)].tolist(),
            "nationality": ["VN"] * n,
            "marital_status": _MARITAL[people.marital].tolist(),
            "father_pin": pin_table[people.father].tolist(),
            "mother_pin": pin_table[people.mother].tolist(),
            "spouse_pin": pin_table[people.spouse].tolist(),
            "legal_representative_pin": pin_table[people.representative].tolist(),
            "cmnd": self._cmnds(people, u[4]),
            "previous_pin": previous,
            "date_of_death": self.iso[people.died].tolist(),
            "vneid_level": vneid.tolist(),
            "hard_case": self.cases[people.case].tolist(),
        }

    def _heritage(self, people: People, draw: names.Weighted[int]) -> Ints:
        """Ethnicity or religion: drawn for heads; a spouse shares the partner's nine
        times in ten; children (and the orphans' dead son) take their father's."""
        u = self.uniform(2, len(people.role))
        value = draw.pick(u[0])
        son = people.role == SON
        value[son] = value[people.father[son]]  # before his wife and children look at it
        shares = np.isin(people.role, (SPOUSE, SONS_WIFE)) & (u[1] < 0.9)
        value[shares] = value[people.spouse[shares]]
        kid = np.isin(people.role, (CHILD, GRANDCHILD))
        value[kid] = value[people.father[kid]]
        return value

    def _names_and_rare_cases(
        self, people: People, province: Ints, u: npt.NDArray[np.float64]
    ) -> tuple[list[object], list[object], list[object]]:
        """Full names, former names and previous PINs; tags renamed, superseded and nfd
        people (bands of `u` among the living who have no hard case yet)."""
        role, sex, n = people.role, people.sex, len(people.role)
        v = self.uniform(4, n)
        family = names.FAMILY.pick(v[0])
        son = role == SON
        family[son] = family[people.father[son]]
        kid = np.isin(role, (CHILD, GRANDCHILD))
        family[kid] = family[people.father[kid]]
        middle = names.middle_index(sex, v[1])
        index = names.name_index(sex, family, middle, names.given_index(sex, v[2]))
        twins, originals = people.twins, people.originals
        index[twins] = index[originals]
        full = names.FULL_NAMES[index]
        full[twins] = [names.lookalike(name) for name in full[originals]]
        open_ = (people.died < 0) & (people.case == NO_CASE)
        # Renamed: an adult whose given name changed.
        renamed_index = names.name_index(sex, family, middle, names.given_index(sex, v[3]))
        renamed = open_ & (u < _RENAMED_BELOW) & (people.born <= self.minor_after)
        renamed &= renamed_index != index
        former = np.full(n, self.null, dtype=object)
        former[renamed] = full[renamed]
        full[renamed] = names.FULL_NAMES[renamed_index[renamed]]
        people.case[renamed] = RENAMED
        # Superseded: the PIN was reissued when the birth year was corrected by one.
        candidate = open_ & (u >= _RENAMED_BELOW) & (u < _SUPERSEDED_BELOW)
        where = np.flatnonzero(candidate)
        kept, old = old_pins(province[where], sex[where], people.year[where] - 1, self.index)
        previous = np.full(n, self.null, dtype=object)
        previous[where[kept]] = old
        people.case[where[kept]] = SUPERSEDED
        # Stored decomposed (NFD), for names that have diacritics to decompose.
        nfd = open_ & (u >= _SUPERSEDED_BELOW) & (u < _NFD_BELOW) & names.HAS_NFD_FORM[index]
        full[nfd] = names.NFD_NAMES[index[nfd]]
        people.case[nfd] = NFD
        return full.tolist(), former.tolist(), previous.tolist()

    def _cmnds(self, people: People, u: npt.NDArray[np.float64]) -> list[object]:
        """Old 9-digit ID cards, for four in five people born before 2004."""
        has = (people.born < self.cmnd_before) & (u < 0.8)
        cmnd = np.full(len(has), self.null, dtype=object)
        cmnd[has] = np.array(cmnd_numbers(self.index, int(has.sum())), dtype=object)
        return cmnd.tolist()

    def residence(self, people: People, homes: Homes) -> dict[str, list[object]]:
        """Where each person lives: the household's address for its members; some adult
        members study or work away, registered for a temporary stay in a big city."""
        resident = people.resident
        member = np.where(resident, people.household, -1)
        permanent = _with_none(homes.address, self.null)[member]
        ward = _with_none(homes.ward, self.null)[member]
        u = self.uniform(len(member))
        adult = people.born <= self.minor_after
        away = np.flatnonzero(resident & (people.role != HEAD) & adult & (u < 0.08))
        stay = draw_homes(self.uniform, len(away), BIG_CITIES)
        temporary = np.full(len(member), self.null, dtype=object)
        temporary_ward = temporary.copy()
        temporary[away], temporary_ward[away] = stay.address, stay.ward
        current, current_ward = permanent.copy(), ward.copy()
        current[away], current_ward[away] = stay.address, stay.ward
        numbers = np.array(list(map("%06d".__mod__, range(1, len(homes.ward) + 1))), dtype=object)
        ids = "HO" + PREFIX_TEXT[homes.province] + f"{self.index:04d}" + numbers
        relationship = _RELATIONSHIP[people.role, people.sex]
        relationship[~resident] = self.null
        return {
            "permanent_address": permanent.tolist(),
            "permanent_ward": ward.tolist(),
            "temporary_address": temporary.tolist(),
            "temporary_ward": temporary_ward.tolist(),
            "current_address": current.tolist(),
            "current_ward": current_ward.tolist(),
            "household_id": _with_none(ids, self.null)[member].tolist(),
            "relationship_to_head": relationship.tolist(),
        }


def _inherited(people: People, province: Ints) -> Ints:
    """Native place (quê quán): the father's for his children, else one's own province."""
    native = province.copy()
    son = people.role == SON
    native[son] = native[people.father[son]]
    kid = np.isin(people.role, (CHILD, GRANDCHILD))
    native[kid] = native[people.father[kid]]
    return native
