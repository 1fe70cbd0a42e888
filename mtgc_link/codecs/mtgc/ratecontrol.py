"""MTGC rate control: a fixed ladder of settings, tried from the richest to the leanest.

With ``max_bits`` the encoder walks ``LADDER`` top-down and sends the first rung whose *actual* stream
(header + CRCs included) fits; no rung fits -> ``RateControlError`` carrying the smallest size seen.
Deterministic: same image, caption and ``max_bits`` -> same rung. The order degrades the HCI first
(QP up, then resolution down), thins the SPWs next, drops the HCI and the SPWs, and keeps the caption to
the end (it costs ~17 bytes and carries the global semantics). Reasons in docs/mtgc.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rung:
    """One setting. ``hci_scale=None``: no HCI segment; ``k=0``: no SPW segment."""

    hci_scale: int | None
    hci_q: int
    k: int
    caption: bool = True

    def clip(self, max_spws: int) -> Rung:
        """The rung for a profile with ``max_spws`` pseudo-words (K is capped, never raised)."""
        return Rung(self.hci_scale, self.hci_q, min(self.k, max_spws), self.caption)


# (HCI scale, HCI BPG -q (higher = coarser), K). Richest first; on the 768x512 Kodak images the HCI costs
# about 1700 (rung 0) down to 100 bytes (rung 11) on average (measured in docs/mtgc.md).
LADDER: tuple[Rung, ...] = (
    Rung(4, 36, 16),
    Rung(4, 39, 16),
    Rung(4, 42, 16),
    Rung(8, 36, 16),
    Rung(8, 42, 16),
    Rung(16, 36, 16),
    Rung(16, 36, 8),
    Rung(8, 46, 8),
    Rung(16, 42, 8),
    Rung(16, 46, 4),
    Rung(32, 42, 4),
    Rung(32, 46, 2),
    Rung(32, 51, 1),
    Rung(None, 51, 1),  # no HCI
    Rung(None, 51, 0),  # caption only: the last thing the codec can send
)


def ladder_for(max_spws: int) -> tuple[Rung, ...]:
    """``LADDER`` with K capped at the profile's ``max_spws``; consecutive duplicates removed."""
    out: list[Rung] = []
    for rung in LADDER:
        r = rung.clip(max_spws)
        if not out or out[-1] != r:
            out.append(r)
    return tuple(out)
