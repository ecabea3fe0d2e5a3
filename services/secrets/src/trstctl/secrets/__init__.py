"""The secrets service: encrypted, versioned secret store (filled in by its own issue)."""
