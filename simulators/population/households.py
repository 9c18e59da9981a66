"""Household plans and the draws a chunk of the population is made of, for all its
people at once: random numbers, PINs, CMNDs, dates and homes.

`plan_households` is the first pass of a chunk: who lives together, and the birth years
that decide it. `family.py` then lays the people out, decides who is whose relative, and
uses the rest of this module to fill the columns. Everything here works on numpy arrays,
one operation for a whole chunk: a Python call per citizen was the limit of generation
(issue #3). Sex is 0 for male and 1 for female, the parity of the PIN's century digit; a
province is its index in `PREFIXES`; a day is a number counted from 1 January 1900 (see
`Calendar`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, fields
from datetime import date
from functools import cache

import numpy as np
import numpy.typing as npt

from simulators.population import names
from simulators.population.pin import province_name
from simulators.population.reference import PROCESS_ORDER, WARDS

__all__ = [
    "BIG_CITIES",
    "FEMALE",
    "FIRST_BIRTH_YEAR",
    "MALE",
    "NATIVE_TEXT",
    "PARENT_GAP_YEARS",
    "PLAN_DRAWS",
    "PREFIXES",
    "PREFIX_TEXT",
    "PROVINCES",
    "Calendar",
    "Homes",
    "PinSpace",
    "Plan",
    "Uniforms",
    "cmnd_numbers",
    "draw_homes",
    "fit",
    "household_plans",
    "old_pins",
    "pins",
    "plan_households",
    "scaled",
]

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Texts = npt.NDArray[np.object_]

MALE, FEMALE = 0, 1
PREFIXES = PROCESS_ORDER  # the 63 legacy province codes, sorted
PREFIX_TEXT = np.array(PREFIXES, dtype=object)
PREFIX_NUMBER = np.array([int(p) for p in PREFIXES], dtype=np.int64)
NATIVE_TEXT = np.array([province_name(p) for p in PREFIXES], dtype=object)

# Hà Nội and TP Hồ Chí Minh register far more births than any other province.
PROVINCES = names.Weighted(
    range(len(PREFIXES)), [6.0 if p in ("001", "079") else 1.0 for p in PREFIXES]
)
# Where most people registered for a temporary stay live.
BIG_CITIES = names.Weighted([PREFIXES.index(p) for p in ("001", "079", "048", "092")], (4, 5, 1, 1))


class Uniforms:
    """The random numbers of one chunk: uniform floats in [0, 1), always drawn in the same
    order, so the seed and the chunk's index decide every value.

    The stream is PCG64 seeded from a hash of "seed/chunk"; the floats are made here from
    its raw 64-bit output, because numpy keeps bit generators stable across versions but
    not the methods of `Generator`.
    """

    def __init__(self, seed: int, index: int) -> None:
        digest = hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=16).digest()
        entropy = int.from_bytes(digest, "little")
        self._bits = np.random.PCG64(np.random.SeedSequence(entropy))

    def __call__(self, *shape: int) -> Floats:
        raw = self._bits.random_raw(int(np.prod(shape)))
        # The top 53 bits, scaled: every double in [0, 1) a multiple of 2⁻⁵³.
        return np.asarray((raw >> np.uint64(11)) * (1.0 / 2**53), dtype=np.float64).reshape(shape)


def scaled(u: Floats, n: Ints | int) -> Ints:
    """Integers in 0 … n−1 (element-wise), one for each uniform."""
    return (u * n).astype(np.int64)


# -- identifiers ---------------------------------------------------------------------------


class PinSpace:
    """Collision-free serials: see the module docstring of generator.py."""

    MAX_CHUNKS = 2048
    ISSUED_PER_CHUNK = 400  # per PIN prefix; indices below 400 × 2048 are issued
    OLD_PER_CHUNK = 80  # then superseded PINs; the rest is never issued
    A, _B, _M = 792_413, 318_557, 1_000_000  # A coprime to M: x ↦ Ax+B is a bijection

    @classmethod
    def serial(cls, prefix: str, n: int, chunk: int, offset: int = 0) -> str:
        return cls._scramble(prefix, offset + n * cls.MAX_CHUNKS + chunk)

    @classmethod
    def _scramble(cls, prefix: str, x: int) -> str:
        # The prefix shifts the bijection, so first serials differ between prefixes.
        return f"{(x * cls.A + cls.shift(prefix)) % cls._M:06d}"

    @classmethod
    def shift(cls, prefix: str) -> int:
        return cls._B + int(prefix) * 7919

    @classmethod
    def numbers(cls, prefix: Ints, n: Ints, chunk: int, offset: int = 0) -> Ints:
        """`serial` for arrays: whole PINs as integers, prefix × 10⁶ + serial."""
        x = offset + n * cls.MAX_CHUNKS + chunk
        return prefix * cls._M + (x * cls.A + cls._B + prefix * 7919) % cls._M

    @classmethod
    def unissued(cls, rng: random.Random) -> str:
        first = (cls.ISSUED_PER_CHUNK + cls.OLD_PER_CHUNK) * cls.MAX_CHUNKS
        x = rng.randrange(first, cls._M)
        digit = rng.choice("0123")
        prefix = f"{rng.choice(PREFIXES)}{digit}{rng.randrange(100):02d}"
        return prefix + cls._scramble(prefix, x)


def pin_prefix(province: Ints, sex: Ints, year: Ints) -> Ints:
    """`PPP C YY` as a number: province, century-and-sex digit, last two digits of the year."""
    century_sex = (year - 1900) // 100 * 2 + sex
    return PREFIX_NUMBER[province] * 1000 + century_sex * 100 + year % 100


def rank_within(keys: Ints) -> Ints:
    """For each element, how many equal keys come before it (0 for the first of each)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    first_of_each = np.repeat(first, np.diff(np.r_[first, len(keys)]))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(keys)) - first_of_each
    return rank


def pins(province: Ints, sex: Ints, year: Ints, chunk: int) -> list[str]:
    """One PIN per person: the n-th person of this chunk under a prefix gets serial n."""
    prefix = pin_prefix(province, sex, year)
    n = rank_within(prefix)
    if len(n) and n.max() >= PinSpace.ISSUED_PER_CHUNK:
        limit = PinSpace.ISSUED_PER_CHUNK
        raise RuntimeError(f"more than {limit} PINs under one prefix in one chunk")
    return _pin_text(PinSpace.numbers(prefix, n, chunk))


def old_pins(
    province: Ints, sex: Ints, year: Ints, chunk: int
) -> tuple[npt.NDArray[np.bool_], list[str]]:
    """PINs from the reserved range for people whose PIN was reissued after a correction of
    their birth year to `year`: which people get one (up to OLD_PER_CHUNK per prefix, the
    rest skip the hard case rather than collide) and their old PINs."""
    prefix = pin_prefix(province, sex, year)
    n = rank_within(prefix)
    kept = n < PinSpace.OLD_PER_CHUNK
    offset = PinSpace.ISSUED_PER_CHUNK * PinSpace.MAX_CHUNKS
    return kept, _pin_text(PinSpace.numbers(prefix[kept], n[kept], chunk, offset))


def _pin_text(numbers: Ints) -> list[str]:
    return list(map("%012d".__mod__, numbers.tolist()))


def cmnd_numbers(chunk: int, count: int) -> list[str]:
    """`count` old ID-card numbers, unique across chunks: chunk × 65,536 + n through a
    bijection on 0–999,999,999 (a chunk has at most 65,536 people)."""
    x = chunk * 65_536 + np.arange(count, dtype=np.int64)
    return list(map("%09d".__mod__, ((x * 387_420_489 + 123_456_789) % 1_000_000_000).tolist()))


# -- dates ---------------------------------------------------------------------------------


class Calendar:
    """Days as numbers, day 0 being 1 January 1900, up to `today`; `iso[d]` is day d as
    text (made once: `isoformat` per citizen was a tenth of the generation time)."""

    def __init__(self, as_of: date) -> None:
        self._epoch = date(1900, 1, 1).toordinal()
        self.today = self.day(as_of)
        days = range(self._epoch, self._epoch + self.today + 1)
        self.iso = tuple(date.fromordinal(d).isoformat() for d in days)
        # First day of each year from 1900 to the year after today's.
        self._start = np.array(
            [self.day(date(y, 1, 1)) for y in range(1900, as_of.year + 2)], dtype=np.int64
        )
        # The current year only up to today: no one is born in the future.
        self._length = np.minimum(np.diff(self._start), self.today + 1 - self._start[:-1])

    @staticmethod
    @cache
    def of(as_of: date) -> Calendar:
        return Calendar(as_of)

    def day(self, when: date) -> int:
        return when.toordinal() - self._epoch

    def in_year(self, year: Ints, u: Floats) -> Ints:
        """A day of each year, uniformly."""
        return self._start[year - 1900] + scaled(u, self._length[year - 1900])

    def between(self, first: Ints, last: int, u: Floats) -> Ints:
        """A day from `first` (or `last` if that is earlier) to `last`, uniformly."""
        start = np.minimum(first, last)
        return start + scaled(u, last - start + 1)

    def end_of_year(self, year: Ints) -> Ints:
        return self._start[year + 1 - 1900] - 1


# -- homes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Homes:
    """Registered addresses, one per household (or per temporary stay)."""

    province: Ints  # index in PREFIXES of the legacy province the address is in
    ward: Texts  # ward code
    address: Texts


def draw_homes(uniform: Uniforms, count: int, provinces: names.Weighted[int] = PROVINCES) -> Homes:
    u = uniform(5, count)
    province = np.asarray(provinces.values)[provinces.pick(u[0])]
    # About 38 % of Vietnamese live in urban wards; the big cities far more.
    share = np.where(WARDS.is_city[province], 0.7, 0.3)
    urban_count, rural_count = WARDS.urban_count[province], WARDS.rural_count[province]
    urban = (urban_count > 0) & ((u[1] < share) | (rural_count == 0))
    ward = np.where(
        urban,
        WARDS.urban_start[province] + scaled(u[2], urban_count),
        WARDS.rural_start[province] + scaled(u[2], np.maximum(rural_count, 1)),
    )
    first_part = np.where(
        urban,
        names.URBAN_HOUSES[names.house_index(u[3], u[4])],
        names.RURAL_HAMLETS[names.hamlet_index(u[3])],
    )
    # Object arrays add element-wise with str's +, in one numpy call.
    return Homes(province, WARDS.codes[ward], first_part + WARDS.places[ward])


# -- household plans (pass 1 of a chunk, see family.py) ------------------------------------

FIRST_BIRTH_YEAR = 1930
# Births are at least 20 calendar years after each parent's, so every parent is ≥18
# years older whatever the days of birth.
PARENT_GAP_YEARS = 20
LOOKALIKE_EVERY = 400  # households
ORPHAN_RATE = 0.004  # of households
SINGLE_RATE = 0.12
PLAN_DRAWS = 11  # uniforms per household plan
_CHILDREN_WANTED = names.Weighted((0, 1, 2, 3, 4), (15, 25, 35, 18, 7))


@dataclass(slots=True, eq=False)
class Plan:
    """Pass 1: one entry per household."""

    orphans: Bools  # grandparents raising the children of their dead son
    twin: Bools  # the head looks like the previous household's head (lookalike)
    single: Bools  # a head living alone
    head_sex: Ints
    head_year: Ints
    spouse_year: Ints
    kids: Ints  # children a couple has (what their birth years allow)
    grandpa_year: Ints
    grandma_year: Ints
    son_year: Ints
    wife_year: Ints  # the son's wife
    grandkids: Ints

    def members(self) -> Ints:
        couple = np.where(self.single, 1, 2 + self.kids)
        return np.where(self.orphans, 4 + self.grandkids, couple)

    def first(self, count: int) -> Plan:
        return Plan(*(getattr(self, f.name)[:count] for f in fields(self)))


@cache
def _head_years(year: int) -> tuple[Ints, names.Weighted[int]]:
    """Birth years of household heads (adults on any day of `year`), as a population pyramid."""
    years = np.arange(FIRST_BIRTH_YEAR, year - 18)
    age = year - years
    weight = np.where(
        age < 25, 0.4, np.where(age <= 55, 1.0, np.maximum(0.05, 1 - (age - 55) / 35))
    )
    return years, names.Weighted(range(len(years)), weight.tolist())


def plan_households(uniform: Uniforms, size: int, year: int) -> Plan:
    """Plans for the households that fill `size` places in `year`; the surplus is dropped.
    Households average 3.4 members, so `size / 2` plans are plenty; should they not be,
    `size` more certainly are (every household has a member)."""
    u = uniform(PLAN_DRAWS, size // 2 + 16)
    plan = household_plans(u, year)
    if plan.members().sum() < size:
        plan = household_plans(np.hstack([u, uniform(PLAN_DRAWS, size)]), year)
    return plan.first(fit(plan, size))


def household_plans(u: Floats, year: int) -> Plan:
    """One household plan per column of `u` (PLAN_DRAWS uniforms each)."""
    size = u.shape[1]
    years, head_age = _head_years(year)
    orphans = u[0] < ORPHAN_RATE
    head_sex = (u[1] >= 0.75).astype(np.int64)  # three heads in four are men
    head_year = years[head_age.pick(u[2])]
    # Every LOOKALIKE_EVERY-th household (numbered from 1), when headed by a couple's
    # head, is followed by a household whose head looks like its head.
    number = np.arange(1, size + 1)
    twin = np.r_[False, (number[:-1] % LOOKALIKE_EVERY == 0) & ~orphans[:-1]]
    orphans &= ~twin
    head_sex = np.where(twin, np.roll(head_sex, 1), head_sex)
    head_year = np.where(twin, np.roll(head_year, 1), head_year)
    # Wives are up to six years younger, husbands older; adults on any day this year.
    gap = scaled(u[3], 7)
    spouse_year = head_year + np.where(head_sex == MALE, gap, -gap)
    spouse_year = np.clip(spouse_year, FIRST_BIRTH_YEAR, year - 19)
    first = np.maximum(head_year, spouse_year) + PARENT_GAP_YEARS
    last = np.minimum(np.minimum(head_year, spouse_year) + 42, year)
    kids = np.where(first <= last, _CHILDREN_WANTED.pick(u[4]), 0)
    grandpa = 1945 + scaled(u[5], 21)
    grandma = grandpa + scaled(u[6], 5)
    son = grandma + PARENT_GAP_YEARS + scaled(u[7], 9)
    return Plan(
        orphans=orphans,
        twin=twin,
        single=u[8] < SINGLE_RATE,
        head_sex=head_sex,
        head_year=head_year,
        spouse_year=spouse_year,
        kids=kids,
        grandpa_year=grandpa,
        grandma_year=grandma,
        son_year=son,
        wife_year=son + scaled(u[9], 4) - 1,
        grandkids=1 + scaled(u[10], 2),
    )


def fit(plan: Plan, size: int) -> int:
    """Cut the plans to exactly `size` people; the number of households that makes. The
    household that overflows loses children (or its spouse too); grandparents who cannot
    fit with a grandchild make an ordinary household instead, and the next ones follow."""
    while True:
        members = plan.members()
        ends = np.cumsum(members)
        last = int(np.searchsorted(ends, size))
        room = size - int(ends[last] - members[last])
        if room == members[last]:
            return last + 1
        if plan.orphans[last] and room >= 5:
            plan.grandkids[last] = room - 4
        elif plan.orphans[last]:
            plan.orphans[last] = False  # four adults and at least a grandchild do not fit
        elif room == 1:
            plan.single[last] = True
        else:
            plan.kids[last] = room - 2
