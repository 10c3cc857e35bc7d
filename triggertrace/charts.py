"""Chart pieces every report figure shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import altair as alt


def message_chart(text: str) -> alt.Chart:
    """A figure that says why it has nothing to draw: Vega cannot size a faceted chart without
    data, so an empty table gets this line instead of a broken figure."""
    import altair as alt

    chart = alt.Chart(pl.DataFrame({"text": [text]})).mark_text(size=14).encode(text="text:N")
    return chart.properties(width=480, height=60)
