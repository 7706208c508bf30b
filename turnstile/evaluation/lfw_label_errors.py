"""Single-image LFW identities that are in fact people enrolled in the open-set protocol
under another name (LFW label errors), each checked by eye.

In ``turnstile eval identify`` on LFW these images are "strangers", yet a correct recogniser
matches them to the enrolled person. At FPIR 1e-3 (2 of 2,722 strangers allowed) they alone
set the threshold, so ``eval identify`` also reports its figures with them set aside, as a
second, labelled figure; the protocol's own figure stays the headline.

Twins are not here (Isabela and Carolina Moraes are two people; a door must tell them apart
or count the false accept), nor are look-alikes the eye cannot settle.
"""

from __future__ import annotations

SAME_PERSON: dict[str, tuple[str, str]] = {
    "Hasan_Wirayuda": (
        "Hassan_Wirajuda",
        "Indonesia's foreign minister; the same man under two spellings of his name"),
    "Mireya_Elisa_Moscoso_Rodriguez": (
        "Mireya_Moscoso",
        "the president of Panama under her full name"),
    "Elena_de_Chavez": (
        "Hugo_Chavez",
        "the face at the centre of the image (the one LFW labels) is Hugo Chavez"),
    "Shavon_Earp": (
        "Diana_Taurasi",
        "the face at the centre of the image is Diana Taurasi"),
}
"""Stranger identity -> (the enrolled identity it shows, why)."""
