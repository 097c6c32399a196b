"""What the universe filters left out of a run: refreshes that selected nothing, and why.

A refresh whose filters exclude every symbol keeps the selection before it in force, as live does;
before the first selection a book holds cash. So a run whose filters exclude everything (a quote
asset the data does not trade, a listing age longer than the data, symbols named with --symbols
that a filter drops) trades nothing and returns 0 % without an error. Each such run, and each run
with some empty refreshes, gets one line in metrics.json's ``warnings``, the report and the CLI's
output, naming the filters that excluded the symbols and one reason of each (docs/liquidity.md
lists the filters and the settings they read).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from backend.liquidity.selection import Selection

SHOWN = 6  # symbols named per filter; the rest are counted


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _exclusions(exclusions: dict[str, dict[str, str]]) -> str:
    by_filter: dict[str, list[str]] = defaultdict(list)
    for symbol in sorted(exclusions):
        by_filter[exclusions[symbol].get("filter", "?")].append(symbol)
    parts = []
    for name, symbols in sorted(by_filter.items(), key=lambda item: (-len(item[1]), item[0])):
        named = ", ".join(symbols[:SHOWN]) + (f" and {len(symbols) - SHOWN} more" if len(symbols) > SHOWN else "")
        example = symbols[0]
        parts.append(f"{name} excluded {named} ({example}: {exclusions[example].get('reason', '')})")
    return "; ".join(parts)


@dataclass
class UniverseLog:
    """The strategy's refreshes of one run, as the engine makes them."""

    refreshes: int = 0
    empty: int = 0
    first_empty: datetime | None = None
    last_empty: Selection | None = None
    selected_once: bool = False
    selected: set[str] = field(default_factory=set)  # every symbol some refresh selected
    excluded: dict[str, dict[str, str]] = field(default_factory=dict)  # each symbol's latest exclusion

    def observe(self, moment: datetime, selection: Selection) -> None:
        self.refreshes += 1
        self.selected.update(selection.symbols)
        self.excluded.update(selection.exclusions)
        if selection.picks:
            self.selected_once = True
            return
        self.empty += 1
        self.last_empty = selection
        if self.first_empty is None:
            self.first_empty = moment

    def warnings(self, named: Sequence[str] = ()) -> list[str]:
        """The lines of the run; ``named`` = the symbols asked for (--symbols): those never selected
        are named too, with the filter that excluded them last (a name misread, a filter too tight)."""
        out = self._empty()
        never = [s for s in named if s not in self.selected]
        if never and self.selected_once:
            filtered = {s: self.excluded[s] for s in never if s in self.excluded}
            ranked = [s for s in never if s not in self.excluded]
            parts = [_exclusions(filtered)] if filtered else []
            if ranked:
                parts.append(f"{', '.join(ranked)} passed the filters but the blend never picked them")
            out.append(f"{len(never)} of the {len(named)} symbols asked for were never selected: {'; '.join(parts)}")
        return out

    def _empty(self) -> list[str]:
        if not self.empty or self.last_empty is None or self.first_empty is None:
            return []
        why = _exclusions(self.last_empty.exclusions) or "no symbol had the data the filters need"
        if not self.selected_once:
            return [
                f"the universe filters selected nothing at every one of the {self.refreshes:,} refreshes, so"
                f" nothing was traded: {why}"
            ]
        return [
            f"the universe filters selected nothing at {self.empty:,} of {self.refreshes:,} refreshes (the"
            f" first at {_at(self.first_empty)}; the selection before, if any, stayed in force); at the last: {why}"
        ]
