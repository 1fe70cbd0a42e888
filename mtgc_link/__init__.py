"""mtgc-link: images over a simulated 5G NR radio link with generative and classical codecs.

Layers (imports point one way): ``experiments`` -> ``mtgc_link`` -> ``channels``.
``channels`` knows bits and symbols, ``mtgc_link.codecs`` knows images and bytes,
``mtgc_link.link`` joins them.
"""

__version__ = "0.1.0"
