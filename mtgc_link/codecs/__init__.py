"""Source codecs. ``get_codec(name, **settings)`` builds one from the registry."""

from __future__ import annotations

import importlib

from mtgc_link.codecs.base import CODECS, Decoded, Encoded, RateControlError, SourceCodec, check_image

# Modules that register codecs; imported lazily so that `import mtgc_link` stays light.
_PLUGIN_MODULES = [
    "mtgc_link.codecs.jpeg",
    "mtgc_link.codecs.bpg",
    "mtgc_link.codecs.pillow_codecs",
    "mtgc_link.codecs.mtgc.codec",
]


def _load_plugins() -> None:
    for mod in _PLUGIN_MODULES:
        importlib.import_module(mod)


def get_codec(name: str, **settings) -> SourceCodec:
    _load_plugins()
    return CODECS.get(name)(**settings)


def available_codecs() -> list[str]:
    _load_plugins()
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
