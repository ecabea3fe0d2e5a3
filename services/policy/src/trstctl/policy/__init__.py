"""The policy service: who may do what (filled in by its own issue)."""
