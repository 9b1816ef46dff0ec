"""Record -> facts -> experta runs -> Result: the one way anything is screened.

Every front end (batch, interview, audit replay, Python API) calls
:class:`Screener` (the batch's cell memo, engine.cell_screening, calls it
for each new combination of answers), so the same answers always give the
same result. The rules run in three stages (rules.screening); each stage's
engine is built once per Screener and reused with ``reset()``, and each
run's output depends only on the facts it is given, so runs are memoised on
exactly those facts and conclusions on the record's engine key.
Explanations that quote the person's own values are rendered afterwards,
outside the engine.
"""
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from rules.screening import (
    KINDS,
    CouldRaise,
    FlagCount,
    FlagRules,
    Intake,
    Level,
    LevelRules,
    Missing,
    NoteRules,
    Noted,
    NotedBecause,
    RaisedBy,
    Recommend,
    StageFacts,
    Yes,
)

from .fields import FIELD_ORDER, YES_NO_FIELDS
from .firings import Firing, FiringRecorder
from .intake import BELOW, UNKNOWN_AGE, UNKNOWN_INTAKE, IntakeAssessment, assess
from .knowledge import KnowledgeBase, load_default
from .records import Record, RowError, normalise
from .results import FlagResult, NoteResult, Result

DEFAULT_CACHE_SIZE = 32768  # conclusions by engine key (the CellScreener keeps its outcomes apart)
RESULT_CACHE_SIZE = 32768
INTAKE_INPUTS = ("magnesium_intake_mg", "age_years", "sex", "pregnant", "lactating")


class FlagStage(FiringRecorder, FlagRules):
    """Stage 1 rules, with every firing recorded for explanations and traces."""


class NoteStage(FiringRecorder, NoteRules):
    """Stage 2 rules, recorded."""


class LevelStage(FiringRecorder, LevelRules):
    """Stage 3 rules, recorded."""


@dataclass(frozen=True)
class StageRun:
    """What one stage run concluded, read out of the engine as plain data."""

    firings: Tuple[Firing, ...]
    raised: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()  # (flag, fields) or (note, fields)
    level: str = "none"
    could_raise: frozenset = frozenset()
    missing: Tuple[str, ...] = ()
    advice: str = ""


@dataclass(frozen=True)
class FactKey:
    """Everything the rules can see about one record; the memoisation key."""

    yes: Tuple[str, ...]
    blank: Tuple[str, ...]
    intake: Tuple

    def as_dict(self) -> Dict[str, Any]:
        status, recommended, basis, row_id, sex_note, age_may_change = self.intake
        return {
            "yes": list(self.yes),
            "blank": list(self.blank),
            "intake": {
                "status": status,
                "recommended_mg": recommended,
                "basis": basis,
                "table_row": row_id,
                "sex_note": sex_note,
                "age_may_change": age_may_change,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FactKey":
        intake = data["intake"]
        return cls(
            tuple(data["yes"]),
            tuple(data["blank"]),
            (
                intake["status"],
                intake["recommended_mg"],
                intake["basis"],
                intake["table_row"],
                intake["sex_note"],
                intake["age_may_change"],
            ),
        )


@dataclass(frozen=True)
class Conclusion:
    """What the rules concluded for one FactKey, as plain data."""

    flags: Tuple[Tuple[str, Tuple[str, ...]], ...]
    notes: Tuple[Tuple[str, Tuple[str, ...]], ...]
    level: str
    missing: Tuple[str, ...]
    advice: str
    runs: Tuple["StageRun", ...] = field(default=(), compare=False, repr=False)

    @property
    def firings(self) -> Tuple[Firing, ...]:
        """Every firing of the stage runs, in order, numbered from 1.

        Built each time it is asked for, not kept: memoised conclusions are
        many, and most are never asked (CSV output needs no firings).
        """
        return renumbered(self.runs)

    @property
    def firing_count(self) -> int:
        """len(self.firings), without building them."""
        return sum(len(run.firings) for run in self.runs)


def _field_sorted(names) -> Tuple[str, ...]:
    return tuple(sorted(set(names), key=FIELD_ORDER.__getitem__))


def stage_run_of(engine) -> StageRun:
    """Read what one stage concluded, and its firings, out of an engine that has run."""
    raised: Dict[str, list] = {}
    level, advice, missing, could_raise = "none", "", [], set()
    for fact in engine.facts.values():
        if isinstance(fact, (RaisedBy, NotedBecause)):
            raised.setdefault(fact["flag"] if isinstance(fact, RaisedBy) else fact["note"], []).append(fact["field"])
        elif isinstance(fact, Noted):
            raised.setdefault(fact["note"], [])
        elif isinstance(fact, Level):
            level = fact["value"]
        elif isinstance(fact, CouldRaise):
            could_raise.add(fact["kind"])
        elif isinstance(fact, Missing):
            missing.append(fact["field"])
        elif isinstance(fact, Recommend):
            advice = fact["advice"]
    return StageRun(
        firings=engine.firings(),
        raised=tuple((item, _field_sorted(fields)) for item, fields in sorted(raised.items())),
        level=level,
        could_raise=frozenset(could_raise),
        missing=tuple(missing),
        advice=advice,
    )


def run_stage(engine, facts) -> StageRun:
    """One stage run: reset, declare exactly ``facts``, run."""
    engine.reset()
    engine.declare(*facts)
    engine.run()
    return stage_run_of(engine)


def renumbered(runs) -> Tuple[Firing, ...]:
    """The firings of consecutive stage runs as one sequence, numbered from 1."""
    firings = []
    for run in runs:
        for firing in run.firings:
            firings.append(Firing(len(firings) + 1, firing.rule, firing.matched, firing.declared))
    return tuple(firings)


def reference_conclusion(kb: KnowledgeBase, key: FactKey) -> Conclusion:
    """The same stages done the plain way: new engines, every knowledge and answer fact, no memo.

    The reference the screener is tested against (tests/test_stages.py) and
    the benchmark's naive baseline. Stage runs here see facts no rule of
    theirs can join, so firings come in another order; the conclusion and
    the set of firings are the same.
    """
    facts = StageFacts(kb)
    status, _recommended, _basis, _row_id, sex_note, age_may_change = key.intake
    answers = [Yes(field=name) for name in key.yes]
    intake = [Intake(status=status, sex_note=sex_note, age_may_change=age_may_change)]
    knowledge = facts.all_knowledge()
    flag_run = run_stage(FlagStage(), knowledge + answers + intake)
    note_run = run_stage(NoteStage(), knowledge + answers + intake)
    counts = {kind: 0 for kind in KINDS}
    for flag_id, _fields in flag_run.raised:
        counts[facts.flag_kind[flag_id]] += 1
    level_run = run_stage(LevelStage(), knowledge + answers + intake + [
        FlagCount(kind=kind, count=count) for kind, count in counts.items()])
    raised = {flag_id for flag_id, _fields in flag_run.raised}
    return Conclusion(
        flags=flag_run.raised,
        notes=note_run.raised,
        level=level_run.level,
        missing=_field_sorted(list(level_run.missing) + facts.missing_blanks(key.blank, raised, level_run.could_raise)),
        advice=level_run.advice,
        runs=(flag_run, note_run, level_run),
    )


class Screener:
    """Screens records with three reusable stage engines and bounded memos.

    A record's conclusion is composed from stage runs (rules.screening):
    one per flag with a yes answer, one per applicable note, one for the
    level. Each run is memoised on exactly the facts it is given; composed
    conclusions are memoised on the record's engine key.
    """

    STAGE_CACHE_SIZE = 8192

    def __init__(self, kb: Optional[KnowledgeBase] = None, cache_size: int = DEFAULT_CACHE_SIZE):
        self.kb = kb or load_default()
        self.stage_facts = StageFacts(self.kb)
        self.engines = {"flags": FlagStage(), "notes": NoteStage(), "level": LevelStage()}
        self.engine_runs = 0
        self._stage_runs: Dict[Tuple, StageRun] = {}
        self._flag_parts: Dict[Tuple, Tuple] = {}
        self._note_parts: Dict[Tuple, Tuple] = {}
        self._stage_cache_size = self.STAGE_CACHE_SIZE if cache_size else 0
        member_fields = set(self.stage_facts.flags_of_field)
        note_triggers = set(self.stage_facts.note_triggers.values())
        note_fields = note_triggers | {field for causes in self.stage_facts.note_causes.values() for field in causes}
        self.visible_yes = tuple(f for f in YES_NO_FIELDS if f in member_fields | note_fields)
        self.blank_candidates = tuple(f for f in YES_NO_FIELDS if f in member_fields)
        self._member_fields = frozenset(member_fields)
        self._note_fields = frozenset(note_fields)
        # A yes that only a note's cause can use matters only when that note's trigger is yes too.
        self._note_triggers = frozenset(note_triggers)
        self._note_only_yes = frozenset(note_fields - member_fields - self._note_triggers)
        if cache_size:
            self.conclude_engine_key = lru_cache(maxsize=cache_size)(self._compose)  # type: ignore[method-assign]
        else:
            self.conclude_engine_key = self._compose  # type: ignore[method-assign]
        self._intake_key = lru_cache(maxsize=RESULT_CACHE_SIZE)(self._assess_intake)
        self._templates: Dict[FactKey, Tuple[Conclusion, Result, Optional[int], Any]] = {}
        self._intake_flag_results: Dict[Tuple, FlagResult] = {}
        self._intake_explanations: Dict[Tuple, Tuple[str, str]] = {}  # assessment -> words before/after the amount
        self._parts: Dict[Tuple, Any] = {}
        self._reminders = tuple(a.text for a in self.kb.reminders())
        self._intake_flag_ids = set(self.stage_facts.intake_flags)
        self._titles: Dict[str, str] = {}

    # -- record -> facts -----------------------------------------------------

    def fact_key(self, record: Record) -> FactKey:
        get = record.answers.get
        return FactKey(
            yes=tuple([f for f in self.visible_yes if get(f) is True]),
            blank=tuple([f for f in self.blank_candidates if get(f) is None]),
            intake=self._intake_key(*(get(f) for f in INTAKE_INPUTS)),
        )

    def _assess_intake(self, *values) -> Tuple:
        """assess() depends only on these five answers; memoised per Screener."""
        return assess(self.kb, dict(zip(INTAKE_INPUTS, values))).key()

    def engine_key(self, key: FactKey) -> Tuple:
        """What the composed conclusion depends on: yes and blank answers, the intake outcome's status.

        The recommended amount, basis and table row only reach the
        explanation (rendered outside the engine), never a rule.
        """
        status, _recommended, _basis, _row_id, sex_note, age_may_change = key.intake
        return self.engine_key_of(key.yes, key.blank, (status, sex_note, age_may_change))

    def engine_key_of(self, yes: Tuple[str, ...], blank: Tuple[str, ...], intake: Tuple) -> Tuple:
        """(yes, blank, (status, sex_note, age_may_change)) without yes answers no rule can join."""
        if self._note_only_yes and not self._note_triggers.intersection(yes):
            yes = tuple([name for name in yes if name not in self._note_only_yes])
        return (yes, blank, intake)

    # -- facts -> conclusion (the experta runs) ------------------------------

    def conclude(self, key: FactKey) -> Conclusion:
        """What the rules conclude for ``key`` (memoised on its engine key)."""
        return self.conclude_engine_key(self.engine_key(key))

    def _stage(self, engine_name: str, run_key: Tuple, facts) -> StageRun:
        run = self._stage_runs.get(run_key)
        if run is None:
            run = run_stage(self.engines[engine_name], facts(run_key))
            self.engine_runs += 1
            if self._stage_cache_size:
                if len(self._stage_runs) >= self._stage_cache_size:
                    self._stage_runs.clear()
                self._stage_runs[run_key] = run
        return run

    def _compose(self, engine_key: Tuple) -> Conclusion:
        yes, blank, intake = engine_key
        flags, notes, level_run, runs = self._flags_and_level(yes, intake)
        raised = {flag_id for flag_id, _fields in flags}
        missing = list(level_run.missing) + self.stage_facts.missing_blanks(blank, raised, level_run.could_raise)
        return Conclusion(flags, notes, level_run.level, _field_sorted(missing), level_run.advice, runs)

    def _flags_and_level(self, yes: Tuple[str, ...], intake: Tuple) -> Tuple:
        """Stages 1-3 for the yes answers and intake outcome; blank answers only add ``missing``.

        Flags, notes and level are memoised apart: each depends on fewer
        answers than the whole (flags on yes answers to flag questions, notes
        on their trigger and causes, the level on counts of flags).
        """
        status, sex_note, age_may_change = intake
        member_yes = tuple([name for name in yes if name in self._member_fields])
        below = status == BELOW  # the only status a flag rule joins
        flags, flag_runs, counts = self._memo(self._flag_parts, (member_yes, below, sex_note), self._flags_part)
        note_yes = tuple([name for name in yes if name in self._note_fields])
        notes, note_runs = self._memo(self._note_parts, (note_yes, sex_note), self._notes_part)
        unknown = status if status == UNKNOWN_INTAKE or (status == UNKNOWN_AGE and age_may_change) else None
        level_key = ("level",) + counts + (unknown, bool(unknown and age_may_change))
        level_run = self._stage("level", level_key, self._level_facts)
        return flags, notes, level_run, flag_runs + note_runs + (level_run,)

    def _memo(self, memo: Dict, key: Tuple, build):
        part = memo.get(key)
        if part is None:
            part = build(*key)
            if self._stage_cache_size:
                if len(memo) >= RESULT_CACHE_SIZE:
                    memo.clear()
                memo[key] = part
        return part

    def _flags_part(self, member_yes: Tuple[str, ...], below: bool, sex_note: bool) -> Tuple:
        facts = self.stage_facts
        status = BELOW if below else None
        runs = tuple(self._stage("flags", k, facts.flag_facts) for k in facts.flag_runs(member_yes, status, sex_note))
        flags = tuple(sorted(item for run in runs for item in run.raised))
        counts = {kind: 0 for kind in KINDS}
        for flag_id, _fields in flags:
            counts[facts.flag_kind[flag_id]] += 1
        return flags, runs, (counts["risk_factor"], counts["sign"], counts["red_flag"])

    def _notes_part(self, yes: Tuple[str, ...], sex_note: bool) -> Tuple:
        facts = self.stage_facts
        runs = tuple(self._stage("notes", k, facts.note_facts) for k in facts.note_runs(yes, sex_note))
        return tuple(sorted(item for run in runs for item in run.raised)), runs

    def _level_facts(self, level_key: Tuple):
        return self.stage_facts.level_facts(level_key[1:])

    def rule_names(self) -> List[str]:
        """Every rule of every stage, sorted."""
        return sorted(rule.__name__ for engine in self.engines.values() for rule in engine.get_rules())

    def cache_info(self):
        info = getattr(self.conclude_engine_key, "cache_info", None)
        return info() if info else None

    # -- conclusion -> Result ------------------------------------------------

    def screen(self, raw: Union[Mapping[str, Any], Record], row_number: int = 1) -> Result:
        """Screen raw answers (or a Record); a bad value gives an ``error`` Result."""
        record = raw if isinstance(raw, Record) else normalise(raw, row_number)
        if isinstance(record, RowError):
            return self.error_result(record)
        return self.screen_record(record)

    def screen_record(self, record: Record) -> Result:
        key = self.fact_key(record)
        conclusion = self.conclude(key)
        return self.result_for(record, key, conclusion)

    def error_result(self, error: RowError, redact: bool = False) -> Result:
        return Result(
            record_id=error.record_id,
            level="error",
            knowledge_version=self.kb.version,
            error=error.message(redact),
            error_field=error.field,
        )

    def result_for(self, record: Record, key: FactKey, conclusion: Conclusion) -> Result:
        """The Result for ``record``, as build_result() makes it, from memoised parts.

        Apart from the record id, a Result depends on the record only through
        the intake flag's explanation, which quotes the amount: that flag is
        memoised per intake outcome and amount, the other flags and notes per
        (id, answers), and whole Results per FactKey while the amount is the same.
        """
        cached = self._templates.get(key)
        amount = record.get("magnesium_intake_mg")
        if cached is not None and cached[0] is conclusion and (cached[2] is None or cached[3] == amount):
            return with_record_id(cached[1], record.record_id)
        if len(self._templates) >= RESULT_CACHE_SIZE:
            self._templates.clear()
        flags = []
        intake_at = None
        for flag_id, fields in conclusion.flags:
            if flag_id in self._intake_flag_ids:
                intake_at = len(flags)
                flags.append(self._intake_flag(record, key, flag_id, fields))
            else:
                flags.append(self._part(self._flag_result, flag_id, fields))
        result = Result(
            record_id=record.record_id,
            level=conclusion.level,
            flags=tuple(flags),
            notes=tuple(self._part(self._note_result, note_id, fields) for note_id, fields in conclusion.notes),
            missing=conclusion.missing,
            recommendation=self.kb.advice[conclusion.advice].text,
            reminders=self._reminders,
            knowledge_version=self.kb.version,
            firings=conclusion.firings,
        )
        self._templates[key] = (conclusion, result, intake_at, amount)
        return result

    def _part(self, build, item_id: str, fields: Tuple[str, ...]):
        memo_key = (build, item_id, fields)
        part = self._parts.get(memo_key)
        if part is None:
            if len(self._parts) >= RESULT_CACHE_SIZE:
                self._parts.clear()
            part = self._parts[memo_key] = build(item_id, fields)
        return part

    def _intake_flag(self, record: Record, key: FactKey, flag_id: str, fields: Tuple[str, ...]) -> FlagResult:
        return self.intake_flag_result(key.intake, record.get("magnesium_intake_mg"), flag_id, fields)

    def intake_flag_result(self, intake: Tuple, amount: float, flag_id: str, fields: Tuple[str, ...]) -> FlagResult:
        """The intake flag for an assessment (IntakeAssessment.key()) and amount, memoised on both.

        The explanation's words around the amount are worked out once per
        assessment (explain_intake_parts).
        """
        memo_key = (intake, amount, flag_id, fields)
        flag = self._intake_flag_results.get(memo_key)
        if flag is None:
            parts = self._intake_explanations.get(intake)
            if parts is None:
                parts = self._intake_explanations[intake] = explain_intake_parts(self.kb, IntakeAssessment(*intake))
            before, after = parts
            flag = self._flag_result(flag_id, fields, f"{before}{amount:g}{after}")
            if len(self._intake_flag_results) >= RESULT_CACHE_SIZE:
                self._intake_flag_results.clear()
                self._intake_explanations.clear()
            self._intake_flag_results[memo_key] = flag
        return flag

    def _flag_result(self, flag_id: str, fields: Tuple[str, ...], because: Optional[str] = None) -> FlagResult:
        kb = self.kb
        flag = kb.flags[flag_id]
        if because is None:
            because = "Answered yes to: " + self._join_titles(fields) + "."
        return FlagResult(
            id=flag.id,
            title=flag.title,
            kind=flag.kind,
            explanation=f"{because} {flag.paraphrase}",
            source=flag.source,
            source_title=kb.section_title(flag.source),
            evidence=flag.evidence.note if flag.evidence else None,
            fields=fields,
        )

    def _note_result(self, note_id: str, fields: Tuple[str, ...]) -> NoteResult:
        note = self.kb.notes[note_id]
        because = ""
        if note.trigger == "other_causes":
            because = f"{self._title(note.when_yes)} was answered yes together with: " + self._join_titles(fields) + ". "
        return NoteResult(note.id, note.title, because + note.paraphrase, fields)

    def _title(self, field_name: str) -> str:
        title = self._titles.get(field_name)
        if title is None:
            title = self._titles[field_name] = self.kb.question_for(field_name).title
        return title

    def _join_titles(self, fields) -> str:
        """The answers' question titles, each looked up once."""
        return ", ".join(self._title(f).lower() for f in fields)

    def build_result(self, record: Record, key: FactKey, conclusion: Conclusion) -> Result:
        """The Result built from scratch, with no memo (the reference for result_for)."""
        kb = self.kb
        flags = []
        for flag_id, fields in conclusion.flags:
            because = None
            if kb.flags[flag_id].trigger == "intake_below_recommended":
                because = explain_intake(kb, record, IntakeAssessment(*key.intake))
            flags.append(self._flag_result(flag_id, fields, because))
        return Result(
            record_id=record.record_id,
            level=conclusion.level,
            flags=tuple(flags),
            notes=tuple(self._note_result(note_id, fields) for note_id, fields in conclusion.notes),
            missing=conclusion.missing,
            recommendation=kb.advice[conclusion.advice].text,
            reminders=tuple(a.text for a in kb.reminders()),
            knowledge_version=kb.version,
            firings=conclusion.firings,
        )


def with_record_id(template: Result, record_id: str) -> Result:
    """``template`` for another record (itself if the id is the same)."""
    if template.record_id == record_id:
        return template
    return result_with(template, record_id=record_id)


def result_with(template: Result, **changes) -> Result:
    """A copy of ``template`` with ``changes``; dataclasses.replace() re-runs __init__ and costs 3x more."""
    result = object.__new__(Result)
    result.__dict__.update(template.__dict__)
    result.__dict__.update(changes)
    return result


BASIS_WORDS = {
    "female": "for females",
    "male": "for males",
    "pregnant": "in pregnancy",
    "lactating": "while breastfeeding",
    "sex_unknown": "when sex is not answered (the higher of the male and female amounts, to favour sensitivity)",
}


def explain_intake(kb: KnowledgeBase, record: Record, intake: IntakeAssessment) -> str:
    before, after = explain_intake_parts(kb, intake)
    return f"{before}{record.get('magnesium_intake_mg'):g}{after}"


def explain_intake_parts(kb: KnowledgeBase, intake: IntakeAssessment) -> Tuple[str, str]:
    """The intake explanation before and after the amount it quotes."""
    row = next(r for r in kb.intake_rows if r.id == intake.row_id)
    return (
        "Usual daily magnesium of ",
        f" mg is below the {intake.recommended} mg recommended at age {row.title.lower()} {BASIS_WORDS[intake.basis]}.",
    )


_default: Optional[Screener] = None


def default_screener() -> Screener:
    """One Screener (one engine) per process, built on first use."""
    global _default
    if _default is None:
        _default = Screener()
    return _default


def screen(raw: Union[Mapping[str, Any], Record], row_number: int = 1) -> Result:
    """Screen one record with the shipped knowledge base."""
    return default_screener().screen(raw, row_number)


__all__ = ["Screener", "FactKey", "Conclusion", "screen", "default_screener", "BELOW"]
