"""The product's constants, defined once: every layer reads them from here."""

from __future__ import annotations

from typing import Final

SEONGSU: Final = 211
"""Seoul Metro's station code of 성수 (Seongsu), the station the reports single out."""
PUBLICATION_LAG_DAYS: Final = 3
"""Days between a service date and the day its ridership is published (the feeds' lag)."""
MAX_HORIZON: Final = 7
"""Days ahead a forecast is issued for (as_of + 1 .. as_of + 7)."""
DEFAULT_WEATHER_STATION: Final = 108
"""KMA ASOS station of Seoul: the weather every station's forecast uses."""
CONTEXT_DAYS: Final = 70
"""Ridership days a forecast needs behind its cutoff: the 8-week profiles + lags, with slack."""
