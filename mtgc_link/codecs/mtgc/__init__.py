"""MTGC: Multimodal-Guided Task-Aware Generative Image Compression (arXiv 2512.06344).

Codec side: ``caption`` (captioner + caption coder), ``hci`` (highly compressed image), ``bitstream``
(header + per-modality segments with CRCs), ``ratecontrol`` (the ladder), ``codec`` (the registered ``mtgc``
codec). Model side: ``profiles`` (load_profile), ``tascm``, ``entropy``, ``mgdd``. See docs/mtgc.md.

Importing this package is light (no torch; the codec loads its models on first use) and registers the
``mtgc`` codec: the codec registry imports the sub-packages of ``mtgc_link.codecs``, and this one imports
``codec``, the module with the decorator.
"""

from mtgc_link.codecs.mtgc.bitstream import Bitstream, Header, HeaderError, pack_bitstream, parse_bitstream
from mtgc_link.codecs.mtgc.caption import CaptionDecodeError, decode_caption, encode_caption
from mtgc_link.codecs.mtgc.codec import MTGCCodec

__all__ = [
    "Bitstream",
    "CaptionDecodeError",
    "Header",
    "HeaderError",
    "MTGCCodec",
    "decode_caption",
    "encode_caption",
    "pack_bitstream",
    "parse_bitstream",
]
