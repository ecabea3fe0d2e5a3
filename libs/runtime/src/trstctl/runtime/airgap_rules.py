"""Air-gap configuration rules (fail closed). Filled in by the egress-guard work."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trstctl.runtime.settings import Settings


def airgap_problems(settings: Settings) -> list[str]:
    """Every air-gap rule the settings break, each naming its variable."""
    return []
