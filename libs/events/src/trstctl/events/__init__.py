"""The event spine: envelope, registry, codec, subjects, JetStream store and command bus.

Import what you need from the submodules; this package imports nothing with I/O at
import time so that pure domain modules may depend on ``envelope``/``registry``.
"""
