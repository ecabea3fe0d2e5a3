"""The audit-projector: builds PostgreSQL projections and the audit chain from the stream."""
