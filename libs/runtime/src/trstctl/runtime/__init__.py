"""Process runtime: settings, logging, embedded NATS/PostgreSQL, the `trstctl` CLI."""
