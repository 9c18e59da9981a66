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
        }
    ),
    PORTAL: frozenset({"portal.sync"}),
}
_AGENCY_SCOPES = frozenset({"dossier.submit", "dossier.read"})

# What `lienthong credentials issue` registers for an agency unless told otherwise: verify
# applicants, read their identity fields, sync status. Residence and family data need a
# purpose the skeleton does not model yet, so they are not granted by default.
DEFAULT_AGENCY_SCOPES = ("citizen.verify", "citizen.read.identity", "portal.sync")


def scopes_for(resource: str) -> frozenset[str] | None:
    """The scopes a resource defines, or None for an unknown resource."""
    if resource.startswith(AGENCY_RESOURCE_PREFIX) and len(resource) > len(AGENCY_RESOURCE_PREFIX):
        return _AGENCY_SCOPES
    return _SCOPES.get(resource)
