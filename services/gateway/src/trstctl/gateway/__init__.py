"""The gateway: the HTTP API in front of the command bus and the projections."""
