"""Chart and status colours, chosen for contrast of at least 3:1 on the page background.

WCAG 2.1 success criterion 1.4.11 (non-text contrast) asks 3:1 for graphical objects; a test
computes each ratio with the WCAG relative-luminance formula.
"""

from __future__ import annotations

BACKGROUND = "#ffffff"

PALETTE: dict[str, str] = {
    "alliance": "#1d4ed8",  # blue
    "outcome": "#b45309",  # amber-brown
    "rupture": "#b91c1c",  # red
    "repair": "#15803d",  # green
    "cutoff": "#4b5563",  # grey
    "expected": "#6d28d9",  # violet, the expected-response band's edges
    "risk": "#9f1239",
}

# Pale fills behind the lines (stage bands, the expected band) carry no meaning on their own:
# the band edges and labels do, so the fills are exempt from the 3:1 rule.
STAGE_FILLS: dict[str, str] = {
    "commitment": "#eef2ff",
    "process": "#fef3c7",
    "change": "#dcfce7",
    "termination": "#f3f4f6",
}


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""
    value = hex_colour.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str = BACKGROUND) -> float:
    """WCAG 2.1 contrast ratio (L1 + 0.05) / (L2 + 0.05), lighter over darker."""
    a, b = relative_luminance(foreground), relative_luminance(background)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)
