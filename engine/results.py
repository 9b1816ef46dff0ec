"""Plain data returned by screening; formatters and front ends read only these."""
from dataclasses import dataclass, field
from typing import Optional, Tuple

from .firings import Firing


@dataclass(frozen=True)
class FlagResult:
    id: str
    title: str
    kind: str  # risk_factor | sign | red_flag
    explanation: str
    source: str  # article section id
    source_title: str
    evidence: Optional[str]
    fields: Tuple[str, ...]  # the answers that raised it


@dataclass(frozen=True)
class NoteResult:
    id: str
    title: str
    explanation: str
    fields: Tuple[str, ...]


@dataclass(frozen=True)
class Result:
    record_id: str
    level: str  # none | low | moderate | high | urgent | error
    flags: Tuple[FlagResult, ...] = ()
    notes: Tuple[NoteResult, ...] = ()
    missing: Tuple[str, ...] = ()
    recommendation: str = ""
    reminders: Tuple[str, ...] = ()
    knowledge_version: str = ""
    error: str = ""
    error_field: str = ""
    firings: Tuple[Firing, ...] = field(default=(), compare=False, repr=False)

    @property
    def flag_ids(self) -> Tuple[str, ...]:
        return tuple(f.id for f in self.flags)

    @property
    def note_ids(self) -> Tuple[str, ...]:
        return tuple(n.id for n in self.notes)
