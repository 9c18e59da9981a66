"""The portal simulator: status sync checked against the dossier lifecycle, every sync logged."""

from __future__ import annotations

from simulators.portal.app import SYNC_SCOPE, create_app
from simulators.portal.lifecycle import Lifecycle, load_lifecycle, load_procedure_codes
from simulators.portal.store import PortalStore

__all__ = [
    "SYNC_SCOPE",
    "Lifecycle",
    "PortalStore",
    "create_app",
    "load_lifecycle",
    "load_procedure_codes",
]
