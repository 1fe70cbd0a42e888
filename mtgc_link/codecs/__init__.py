"""Source codecs. ``get_codec(name, **settings)`` builds one from the registry.

A codec is one file and one decorator: a module in this package (name not starting with ``_``) with
``@CODECS.register("name")`` on a ``SourceCodec`` subclass. ``CODECS`` finds the modules itself on its first
look-up (so ``import mtgc_link.codecs`` stays light); an installed package adds codecs with an entry point
in the group ``mtgc_link.codecs``. See docs/architecture.md, "Registries".
"""

from __future__ import annotations

from mtgc_link.codecs.base import CODECS, Decoded, Encoded, RateControlError, SourceCodec, check_image


def get_codec(name: str, **settings) -> SourceCodec:
    """The codec registered as ``name`` built with ``settings``; an unknown name raises KeyError (listing
    the known ones)."""
    return CODECS.get(name)(**settings)


def available_codecs() -> list[str]:
    """Names of every registered codec, sorted (the one list: CLI help and sweep configs read it)."""
    return CODECS.names()


__all__ = [
    "CODECS",
    "Decoded",
    "Encoded",
    "RateControlError",
    "SourceCodec",
    "available_codecs",
    "check_image",
    "get_codec",
]
