"""The issuer service: the tenant's private CA, owners, machine identities and their
certificates. ``domain`` holds the pure rules; ``ca`` the pure crypto; ``keystore`` the
sealed CA keys; ``handlers``/``app`` (I/O wiring) sit on top of them."""
