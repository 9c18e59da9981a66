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
"""

from __future__ import annotations

from datetime import date

from simulators.population import names
from simulators.population.households import (
    C_ADDR,
    C_WARD,
    CASE,
    CMND,
    DEATH,
    DOB,
    ETH,
    FATHER,
    FIRST_BIRTH_YEAR,
    FORMER,
    HOUSEHOLD,
    MARITAL,
    MOTHER,
    NAME,
    NATIVE,
    NEWBORN_DAYS,
    PARENT_GAP_YEARS,
    PREVIOUS,
    PROV,
    REL,
    REP,
    ROLE,
    SEX,
    SPOUSE,
    T_ADDR,
    T_WARD,
    VNEID,
    Draws,
    Home,
    children_wanted,
    ethnicity,
    nfd,
    province_picker,
    religion,
    temporary_address,
    vneid_level,
)
from simulators.population.schema import CitizenRow

__all__ = ["ChunkBuilder"]

Row = list[object]
LOOKALIKE_EVERY = 400  # households
ORPHAN_RATE = 0.004  # of households
SINGLE_RATE = 0.12


def _year(row: Row) -> int:
    return int(str(row[DOB])[:4])


def _link_spouses(a: Row, b: Row) -> None:
    a[SPOUSE], b[SPOUSE] = b[0], a[0]
    a[MARITAL] = b[MARITAL] = "married"


class ChunkBuilder(Draws):
    """Draws the households of one chunk; `rows(size)` is the chunk."""

    def __init__(self, seed: int, index: int, as_of: date) -> None:
        super().__init__(seed, index, as_of)
        self.newborn_from = date.fromordinal(self.as_of_ordinal - NEWBORN_DAYS).isoformat()
        self.minor_from = self.adult_cutoff.isoformat()
        self.vneid_until = date(as_of.year - 14, as_of.month, min(as_of.day, 28)).isoformat()
        self.cmnds = 0
        self.pending: Row | None = None

    def rows(self, size: int) -> list[CitizenRow]:
        made: list[Row] = []
        finish, household, append = self.finish, self.household, made.append
        while len(made) < size:
            for row in household(size - len(made)):
                finish(row)
                append(row)
        # Tuples only now: the next household's look-alike head still marks this one's.
        return [tuple(row) for row in made]  # type: ignore[arg-type]

    def household(self, room: int) -> list[Row]:
        """One household of at most `room` rows (members, and their dead or newborn kin)."""
        home = Home(self)
        twin, self.pending = self.pending, None
        if twin is None and room >= 5 and self.rng.random() < ORPHAN_RATE:
            return self.orphans(home, room)
        head = self.head(home, twin)
        if room == 1 or self.rng.random() < SINGLE_RATE:
            old = _year(head) < self.as_of.year - 35
            head[MARITAL] = "divorced" if old and self.rng.random() < 0.3 else "single"
            return [head]
        spouse = self.spouse(home, head)
        father, mother = (head, spouse) if head[SEX] == "male" else (spouse, head)
        kids = self.children(home, father, mother, room - 2)
        self.maybe_widow(spouse, head, kids)
        self.represent(kids, father, mother)
        return [head, spouse, *kids]

    def head(self, home: Home, twin: Row | None) -> Row:
        rng = self.rng
        sex = str(twin[SEX]) if twin else ("male" if rng.random() < 0.75 else "female")
        year = _year(twin) if twin else self._head_year(rng)
        head = self.person(home, sex, year, names.family_name(rng), self.own_province(home))
        head[ROLE], head[ETH], head[REL] = "chủ hộ", ethnicity(rng), religion(rng)
        if twin is not None:
            head[NAME], head[DOB] = names.lookalike(str(twin[NAME])), twin[DOB]
            head[CASE] = twin[CASE] = "lookalike"
        elif self.households % LOOKALIKE_EVERY == 0:
            self.pending = head  # the next household's head will look like this one
        return head

    def own_province(self, home: Home) -> str:
        # Most adults live where their birth was registered; some moved.
        return home.province if self.rng.random() < 0.7 else _other_province(self)

    def spouse(self, home: Home, head: Row) -> Row:
        rng = self.rng
        sex = "female" if head[SEX] == "male" else "male"
        gap = int(rng.random() * 7)
        year = _year(head) + (gap if sex == "female" else -gap)
        year = max(FIRST_BIRTH_YEAR, min(year, self.as_of.year - 19))  # an adult on any day
        spouse = self.person(home, sex, year, names.family_name(rng), self.own_province(home))
        spouse[ROLE] = "vợ" if sex == "female" else "chồng"
        spouse[ETH] = head[ETH] if rng.random() < 0.9 else ethnicity(rng)
        spouse[REL] = head[REL] if rng.random() < 0.9 else religion(rng)
        _link_spouses(head, spouse)
        return spouse

    def children(self, home: Home, father: Row, mother: Row, room: int) -> list[Row]:
        rng = self.rng
        first = max(_year(father), _year(mother)) + PARENT_GAP_YEARS
        last = min(min(_year(father), _year(mother)) + 42, self.as_of.year)
        if first > last or room <= 0:
            return []
        years = sorted(
            first + int(rng.random() * (last - first + 1)) for _ in range(children_wanted(rng))
        )
        return [self.child(home, father, mother, y) for y in years[:room]]

    def child(self, home: Home, father: Row, mother: Row, year: int) -> Row:
        sex = "male" if self.rng.random() < 0.51 else "female"
        family = str(father[NAME]).split(" ")[0]
        child = self.person(home, sex, year, family, home.province)
        child[ROLE], child[FATHER], child[MOTHER] = "con", father[0], mother[0]
        child[ETH], child[REL], child[NATIVE] = father[ETH], father[REL], father[NATIVE]
        if str(child[DOB]) > self.newborn_from and self.rng.random() < 0.5:
            Home.leave(child)  # birth registered, residence not yet (60 days allowed)
            child[CASE] = "newborn"
        return child

    def maybe_widow(self, spouse: Row, head: Row, kids: list[Row]) -> None:
        age = self.as_of.year - _year(spouse)
        chance = 0.25 if age > 75 else 0.08 if age > 60 else 0.003
        if self.rng.random() < chance:
            last_birth = max([str(k[DOB]) for k in kids], default=str(spouse[DOB]))
            self.die(spouse, max(last_birth, f"{_year(spouse) + 18}-12-31"))
            head[MARITAL] = "widowed"

    def die(self, row: Row, after: str) -> None:
        row[DEATH] = self.date_between(after, self.as_of_ordinal - 1)
        Home.leave(row)  # the residence is deleted with the death
        row[CASE] = "deceased"

    def represent(self, kids: list[Row], father: Row, mother: Row) -> None:
        """A minor's legal representative is a living parent (the father first)."""
        representative = father[0] if father[DEATH] is None else mother[0]
        for kid in kids:
            if str(kid[DOB]) > self.minor_from:
                kid[REP] = representative

    def finish(self, row: Row) -> None:
        """Per-person extras once the household is settled: VNeID, CMND, hard cases."""
        rng = self.rng
        alive = row[DEATH] is None
        born = str(row[DOB])
        if alive and born <= self.vneid_until:
            row[VNEID] = vneid_level(rng)
        if born < "2004-01-01" and rng.random() < 0.8:
            self.cmnds += 1
            row[CMND] = self.cmnd_number()
        if alive and row[CASE] is None:
            self.rare_case(row)
        member = alive and row[HOUSEHOLD] and row[ROLE] != "chủ hộ"
        # Some adult members study or work away, registered for a temporary stay there.
        if member and born <= self.minor_from and rng.random() < 0.08:
            row[T_WARD], row[T_ADDR] = temporary_address(self)
            row[C_WARD], row[C_ADDR] = row[T_WARD], row[T_ADDR]

    def rare_case(self, row: Row) -> None:
        r = self.rng.random()
        if r < 0.003 and str(row[DOB]) <= self.minor_from:
            old = str(row[NAME])
            new = " ".join([*old.split(" ")[:-1], names.given_name(self.rng, row[SEX])])  # type: ignore[arg-type]
            if new != old:
                row[FORMER], row[NAME], row[CASE] = old, new, "renamed"
        elif r < 0.005 and _year(row) > 1900:
            previous = self.old_pin(str(row[PROV]), str(row[SEX]), _year(row) - 1)
            if previous is not None:
                row[PREVIOUS], row[CASE] = previous, "superseded"
        elif r < 0.015 and nfd(str(row[NAME])) != row[NAME]:
            row[NAME], row[CASE] = nfd(str(row[NAME])), "nfd"

    def cmnd_number(self) -> str:
        # Unique across chunks: chunk × 65,536 + n through a bijection on 0–999,999,999.
        x = self.index * 65_536 + self.cmnds
        return f"{(x * 387_420_489 + 123_456_789) % 1_000_000_000:09d}"

    def orphans(self, home: Home, room: int) -> list[Row]:
        """Grandparents heading a household with grandchildren whose parents died."""
        rng = self.rng
        family = names.family_name(rng)
        year = 1945 + int(rng.random() * 21)
        head = self.person(home, "male", year, family, home.province)
        head[ROLE], head[ETH], head[REL] = "chủ hộ", ethnicity(rng), religion(rng)
        grandma = self.person(
            home, "female", year + int(rng.random() * 5), names.family_name(rng), home.province
        )
        grandma[ROLE], grandma[ETH], grandma[REL] = "vợ", head[ETH], head[REL]
        _link_spouses(head, grandma)
        son_year = _year(grandma) + PARENT_GAP_YEARS + int(rng.random() * 9)
        son = self.person(home, "male", son_year, family, home.province)
        son[FATHER], son[MOTHER] = head[0], grandma[0]
        son[ETH], son[REL], son[NATIVE] = head[ETH], head[REL], head[NATIVE]
        wife = self.person(
            home,
            "female",
            _year(son) + int(rng.random() * 4) - 1,
            names.family_name(rng),
            home.province,
        )
        _link_spouses(son, wife)
        return [head, grandma, son, wife, *self.grandchildren(home, head, son, wife, room - 4)]

    def grandchildren(self, home: Home, head: Row, son: Row, wife: Row, room: int) -> list[Row]:
        first = max(_year(son), _year(wife)) + PARENT_GAP_YEARS
        first = max(first, self.as_of.year - 17)
        kids = [
            self.child(home, son, wife, first + int(self.rng.random() * (self.as_of.year - first)))
            for _ in range(min(room, 1 + int(self.rng.random() * 2)))
        ]
        last_birth = max(str(k[DOB]) for k in kids)
        for parent in (son, wife):
            self.die(parent, last_birth)
        for kid in kids:
            kid[ROLE], kid[REP], kid[CASE] = "cháu", head[0], "guardian"
            home.admit(kid)  # even a newborn here lives with the grandparents
        return kids


def _other_province(builder: Draws) -> str:
    return province_picker(builder.rng)
