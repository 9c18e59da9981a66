"""The services tokens are issued for, and the scopes each one defines."""

from __future__ import annotations

__all__ = ["AGENCY_RESOURCE_PREFIX", "DEFAULT_AGENCY_SCOPES", "POPULATION", "PORTAL", "scopes_for"]

POPULATION = "urn:lienthong:population"
PORTAL = "urn:lienthong:portal"
AGENCY_RESOURCE_PREFIX = "urn:lienthong:agency:"

_SCOPES: dict[str, frozenset[str]] = {
    POPULATION: frozenset(
        {
            "citizen.verify",
            "citizen.read.identity",
            "citizen.read.residence",
            "citizen.read.family",
            # Births and deaths (specs/population.yaml); the portal registers births.
            "justice.civil-status",
            # Residence changes and temporary absences (the police), the change feed.
            "police.residence",
            "citizen.changes",
        }
    ),
    PORTAL: frozenset({"portal.sync"}),
}
_AGENCY_SCOPES = frozenset({"dossier.submit", "dossier.read"})

# What `lienthong credentials issue` registers for an agency unless told otherwise: verify
# applicants, read their identity and residence fields (each read still needs a purpose
# and legal basis, or the citizen's consent), sync status. Family data is not granted.
DEFAULT_AGENCY_SCOPES = (
    "citizen.verify",
    "citizen.read.identity",
    "citizen.read.residence",
    "portal.sync",
)


def scopes_for(resource: str) -> frozenset[str] | None:
    """The scopes a resource defines, or None for an unknown resource."""
    if resource.startswith(AGENCY_RESOURCE_PREFIX) and len(resource) > len(AGENCY_RESOURCE_PREFIX):
        return _AGENCY_SCOPES
    return _SCOPES.get(resource)
