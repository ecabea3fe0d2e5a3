"""The CA and profile aggregates' decisions."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from trstctl.issuer import events as ev
from trstctl.issuer.ca import TenantCa
from trstctl.issuer.commands import DefineProfile, InitializeCa
from trstctl.issuer.domain import (
    CaState,
    ProfileState,
    decide_ca,
    decide_profile,
    effective_profile,
    evolve_ca,
    evolve_profile,
)
from trstctl.issuer.errors import CaAlreadyInitialized, ProfileViolation, TenantMismatch
from trstctl.issuer.profiles import CertificateProfile, default_profile


def test_ca_initialized_event_holds_public_certificates_only(acme_ca: TenantCa) -> None:
    """ca.initialized carries both certificates and fingerprints, and no key bytes."""
    from trstctl.issuer.ca import private_key_der

    (event,) = decide_ca(CaState(), InitializeCa(), tenant="acme", built=acme_ca).events
    assert isinstance(event, ev.CaInitialized)
    root = x509.load_der_x509_certificate(base64.b64decode(event.root_certificate_der))
    assert root == acme_ca.root_cert
    assert event.not_after == acme_ca.not_after
    dumped = event.model_dump_json()
    for key in (acme_ca.root_key, acme_ca.issuing_key):
        assert base64.b64encode(private_key_der(key)).decode() not in dumped
    assert "PRIVATE" not in dumped


def test_ca_initialized_once(acme_ca: TenantCa) -> None:
    """A second initialization is ca_already_initialized; a replay of the first is a no-op."""
    cmd = InitializeCa(idempotency_key="init")
    state = evolve_ca(CaState(), decide_ca(CaState(), cmd, tenant="acme", built=acme_ca).events[0])
    assert decide_ca(state, cmd, tenant="acme", built=acme_ca).replayed
    with pytest.raises(CaAlreadyInitialized):
        decide_ca(state, InitializeCa(), tenant="acme", built=acme_ca)


def test_ca_built_for_other_tenant_is_refused(globex_ca: TenantCa) -> None:
    """A CA built for globex cannot become acme's CA."""
    with pytest.raises(TenantMismatch):
        decide_ca(CaState(), InitializeCa(), tenant="acme", built=globex_ca)


def test_define_profile_and_default() -> None:
    """Defining a profile records it; identical redefinition is a no-op; the built-in default
    applies to 'default' until defined, and no other name has one."""
    assert effective_profile(ProfileState("default")) == default_profile()
    assert effective_profile(ProfileState("strict")) is None
    profile = CertificateProfile(name="strict", allowed_domains=("example.com",))
    state = ProfileState("strict")
    (event,) = decide_profile(state, DefineProfile(profile=profile)).events
    state = evolve_profile(state, event)
    assert effective_profile(state) == profile
    assert decide_profile(state, DefineProfile(profile=profile)).replayed


def test_profile_name_must_match_aggregate() -> None:
    """A profile sent to another profile's aggregate is refused."""
    with pytest.raises(ProfileViolation):
        decide_profile(ProfileState("a"), DefineProfile(profile=CertificateProfile(name="b")))
