"""Capture rule firings from the engine's own agenda, without watchers.

experta's ``watch()`` formats a log line for every firing and costs most of
the throughput, so this mixin overrides ``run()`` (the same loop as experta's,
minus the logging) and ``declare()`` to note, for each firing, the rule, the
facts it matched and the facts it declared. Rules themselves never print.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from .compat import Fact


def fact_to_dict(fact: Fact) -> Dict[str, Any]:
    data = {"fact": type(fact).__name__}
    data.update((str(k), v) for k, v in fact.as_dict().items())
    return data


# Equal facts (same class, fields and number) give equal dicts, so the dict
# and its sort key are built once per fact and shared by every Firing that
# mentions it: cheaper runs, and memoised conclusions share their memory.
# Firings are read-only data; nothing may modify these dicts.
_FACT_DICTS: Dict[Fact, Tuple[Dict[str, Any], List[str]]] = {}
_FACT_DICTS_SIZE = 65536


def _fact_entry(fact: Fact) -> Tuple[Dict[str, Any], List[str]]:
    entry = _FACT_DICTS.get(fact)
    if entry is None:
        data = fact_to_dict(fact)
        entry = (data, sorted(map(str, data.items())))
        if len(_FACT_DICTS) >= _FACT_DICTS_SIZE:
            _FACT_DICTS.clear()
        _FACT_DICTS[fact] = entry
    return entry


@dataclass(frozen=True)
class Firing:
    seq: int
    rule: str
    matched: Tuple[Dict[str, Any], ...]
    declared: Tuple[Dict[str, Any], ...]

    def as_dict(self) -> Dict[str, Any]:
        return {
            "seq": self.seq,
            "rule": self.rule,
            "matched": list(self.matched),
            "declared": list(self.declared),
        }


class FiringRecorder:
    """Mixin for a KnowledgeEngine: records every firing of ``run()``."""

    def reset(self, **kwargs):
        self.before_run()
        super().reset(**kwargs)

    def before_run(self) -> None:
        self._raw_firings: List[list] = []
        self._declaring_into = None
        parent = getattr(super(), "before_run", None)
        if parent is not None:
            parent()

    def declare(self, *facts):
        if self._declaring_into is not None:
            self._declaring_into.extend(facts)
        return super().declare(*facts)

    def run(self, steps=float("inf")):
        self.running = True
        try:
            while steps > 0 and self.running:
                added, removed = self.get_activations()
                self.strategy.update_agenda(self.agenda, added, removed)
                activation = self.agenda.get_next()
                if activation is None:
                    break
                steps -= 1
                declared: list = []
                self._raw_firings.append([activation.rule.__name__, activation.facts, declared])
                self._declaring_into = declared
                try:
                    activation.rule(
                        self,
                        **{k: v for k, v in activation.context.items() if not k.startswith("__")},
                    )
                finally:
                    self._declaring_into = None
        finally:
            self.running = False

    def firings(self) -> Tuple[Firing, ...]:
        """The firings of the last run as plain data, in firing order."""
        result = []
        for seq, (rule, matched, declared) in enumerate(self._raw_firings, start=1):
            entries = sorted(
                (_fact_entry(f) for f in matched if type(f).__name__ != "InitialFact"),
                key=lambda entry: entry[1],
            )
            result.append(
                Firing(seq, rule, tuple(data for data, _ in entries), tuple(_fact_entry(f)[0] for f in declared))
            )
        return tuple(result)
