"""What magscreen concludes from what: the experta rules.

The rules are generic: they join answer facts with knowledge facts, so adding
a symptom to a cluster, or a new population, is a YAML edit and not new
Python. Rule names say what they conclude. Salience orders the phases:
flags and notes first, then the level, then what is missing, then advice.

Facts the engine sees for one record (and nothing else, so that results can
be memoised on exactly this set):
  Yes(field)         an answer of yes
  Blank(field)       an unanswered yes/no question that belongs to a flag
  Intake(...)        the outcome of comparing intake with the intake table
Knowledge facts, declared at every reset from the knowledge base:
  FlagDef, Member, NoteDef, NoteCause, AdviceDef
"""
from engine.compat import MATCH, NOT, TEST, DefFacts, Fact, KnowledgeEngine, Rule

# -- answer facts ----------------------------------------------------------


class Yes(Fact):
    """The person answered yes to ``field``."""


class Blank(Fact):
    """``field`` was left unanswered; it could still raise its flag."""


class Intake(Fact):
    """How daily magnesium compares with the recommendation (see engine.intake)."""


# -- knowledge facts -------------------------------------------------------


class FlagDef(Fact):
    """A flag of the knowledge base: id, kind and what triggers it."""


class Member(Fact):
    """A yes to ``field`` raises flag ``flag``."""


class NoteDef(Fact):
    """A note of the knowledge base and its trigger."""


class NoteCause(Fact):
    """A yes to ``field`` is another explanation named by note ``note``."""


class AdviceDef(Fact):
    """The advice given at ``level``."""


# -- conclusions -----------------------------------------------------------


class Raised(Fact):
    """Flag ``flag`` (of ``kind``) is raised."""


class RaisedBy(Fact):
    """An answer to ``field`` raised flag ``flag``."""


class Noted(Fact):
    """Note ``note`` applies."""


class NotedBecause(Fact):
    """Answer ``field`` is why note ``note`` applies."""


class Level(Fact):
    """The overall level, with the counts it was derived from."""


class Missing(Fact):
    """Unanswered ``field`` could raise the level."""


class Recommend(Fact):
    """Advice ``advice`` is the recommendation."""


LEVEL_ORDER = ("none", "low", "moderate", "high", "urgent")


def level_for(risk: int, signs: int, red: int) -> str:
    """Contract section 4: the level from the counts of each flag kind."""
    if red >= 1:
        return "urgent"
    if (risk >= 1 and signs >= 1) or risk >= 2:
        return "high"
    if risk == 1 or signs >= 2:
        return "moderate"
    if signs == 1:
        return "low"
    return "none"


def counts_with(kind: str, risk: int, signs: int, red: int):
    """The counts if one more flag of ``kind`` were raised."""
    return (
        risk + (kind == "risk_factor"),
        signs + (kind == "sign"),
        red + (kind == "red_flag"),
    )


def would_raise_level(kind: str, level: str, risk: int, signs: int, red: int) -> bool:
    """Whether one more flag of ``kind`` would give a higher level than ``level``."""
    hypothetical = level_for(*counts_with(kind, risk, signs, red))
    return LEVEL_ORDER.index(hypothetical) > LEVEL_ORDER.index(level)


def knowledge_facts(kb):
    """The knowledge base as facts, in a stable order."""
    for flag in kb.flags.values():
        yield FlagDef(id=flag.id, kind=flag.kind, trigger=flag.trigger)
        if flag.trigger == "any_yes":
            for member in flag.fields:
                yield Member(flag=flag.id, field=member)
    for note in kb.notes.values():
        yield NoteDef(id=note.id, trigger=note.trigger, when_yes=note.when_yes or "")
        for cause_id in note.causes:
            for member in kb.other_causes[cause_id].fields:
                yield NoteCause(note=note.id, field=member)
    for advice in kb.advice.values():
        if advice.level != "any":
            yield AdviceDef(level=advice.level, id=advice.id)


INTAKE_PATTERNS = (
    # The Intake patterns of the rules below, as field -> required value.
    {"status": "below"},
    {"sex_note": True},
    {"status": "unknown_intake"},
    {"status": "unknown_age", "age_may_change": True},
)


class RelevantFacts:
    """The facts of one run, minus those no rule can ever join.

    A fact that takes part in no activation cannot change what fires: leaving
    it out only renumbers the remaining facts in the same order, and the
    agenda orders activations by comparing those numbers. So each run gets
    its answer facts plus only the knowledge facts that can join them, and a
    Yes that only a note could use is kept only when that note can apply.
    Fewer facts make each run cheaper and make more records share one
    memoised run. Mirrors the rule patterns above: change both together
    (tests/test_lean_engine.py compares against a run with every fact).
    """

    def __init__(self, kb, answer_fields):
        self.knowledge = tuple(knowledge_facts(kb))
        self.intake_number = len(self.knowledge) + 1
        self.yes_facts = {f: (self.intake_number + 1 + i, Yes(field=f)) for i, f in enumerate(answer_fields)}
        first_blank = self.intake_number + 1 + len(answer_fields)
        self.blank_facts = {f: (first_blank + i, Blank(field=f)) for i, f in enumerate(answer_fields)}
        self.first_derived_number = first_blank + len(answer_fields)
        self._intakes = {}
        self._intake_matchable = {}
        self.member_fields = frozenset(f["field"] for f in self.knowledge if isinstance(f, Member))
        self.note_fields = {}  # other_causes note id -> (trigger field, cause fields)
        for note in kb.notes.values():
            if note.trigger == "other_causes":
                causes = frozenset(m for c in note.causes for m in kb.other_causes[c].fields)
                self.note_fields[note.id] = (note.when_yes, causes)

    def engine_key(self, yes, blank, intake):
        """The hashable part of the record the rules can see: (yes, blank, intake or None).

        ``intake`` is (status, recommended, basis, sex_note, age_may_change),
        the Intake fact's fields; it is None when no Intake pattern matches it.
        """
        members = self.member_fields
        usable = None
        for trigger, causes in self.note_fields.values():
            if trigger in yes and not causes.isdisjoint(yes):
                usable = (usable or set(members)) | causes | {trigger}
        matchable = self._intake_matchable.get(intake)
        if matchable is None:
            status, recommended, basis, sex_note, age_may_change = intake
            fields = {"status": status, "sex_note": sex_note, "age_may_change": age_may_change}
            matchable = any(all(fields[k] == v for k, v in p.items()) for p in INTAKE_PATTERNS)
            if len(self._intake_matchable) < 4096:
                self._intake_matchable[intake] = matchable
        return (
            tuple([f for f in yes if f in (usable or members)]),
            tuple(blank),
            intake if matchable else None,
        )

    def numbered_facts(self, engine_key):
        """(number, fact) for one run: relevant knowledge, then Intake, Yes and Blank.

        Each fact is numbered as a plain run numbers it (InitialFact 0, every
        knowledge fact, then Intake and the answer facts in field order), so
        the agenda compares the same numbers. The fact objects are built once
        and reused by every run (engine.lean replays their matching).
        """
        yes, blank, intake = engine_key
        yes_set, blank_set = set(yes), set(blank)
        status = intake[0] if intake else None
        sex_note = bool(intake and intake[3])
        flags = set()
        notes = set()
        for fact in self.knowledge:
            if isinstance(fact, Member) and (fact["field"] in yes_set or fact["field"] in blank_set):
                flags.add(fact["flag"])
        for note_id, (trigger, causes) in self.note_fields.items():
            if trigger in yes_set and causes & yes_set:
                notes.add(note_id)
        for number, fact in enumerate(self.knowledge, start=1):
            kind = type(fact)
            if kind is Member:
                keep = fact["field"] in yes_set or fact["field"] in blank_set
            elif kind is FlagDef:
                if fact["trigger"] == "any_yes":
                    keep = fact["id"] in flags
                elif fact["trigger"] == "intake_below_recommended":
                    keep = status in ("below", "unknown_intake", "unknown_age")
                else:
                    keep = True
            elif kind is NoteDef:
                if fact["trigger"] == "other_causes":
                    keep = fact["id"] in notes
                elif fact["trigger"] == "intake_sex_unknown":
                    keep = sex_note
                else:
                    keep = True
            elif kind is NoteCause:
                keep = fact["note"] in notes and fact["field"] in yes_set
            else:
                keep = True
            if keep:
                yield number, fact
        if intake is not None:
            fact = self._intakes.get(intake)
            if fact is None:
                status, recommended, basis, sex_note, age_may_change = intake
                fact = Intake(
                    status=status,
                    recommended=recommended,
                    basis=basis,
                    sex_note=sex_note,
                    age_may_change=age_may_change,
                )
                if len(self._intakes) < 4096:
                    self._intakes[intake] = fact
            yield self.intake_number, fact
        for name in yes:
            yield self.yes_facts[name]
        for name in blank:
            yield self.blank_facts[name]


class ScreeningRules(KnowledgeEngine):
    """Rules over answers joined with knowledge. Build once, ``reset()`` per record."""

    def __init__(self, kb):
        self.kb = kb
        self._knowledge_facts = tuple(knowledge_facts(kb))
        super().__init__()

    @DefFacts()
    def knowledge(self):
        yield from self._knowledge_facts

    # -- flags -------------------------------------------------------------

    @Rule(
        Yes(field=MATCH.field),
        Member(flag=MATCH.flag, field=MATCH.field),
        FlagDef(id=MATCH.flag, kind=MATCH.kind),
    )
    def raise_flag_for_yes_answer(self, flag, kind, field):
        self.declare(Raised(flag=flag, kind=kind))
        self.declare(RaisedBy(flag=flag, field=field))

    @Rule(
        Intake(status="below"),
        FlagDef(id=MATCH.flag, kind=MATCH.kind, trigger="intake_below_recommended"),
    )
    def raise_flag_for_intake_below_recommended(self, flag, kind):
        self.declare(Raised(flag=flag, kind=kind))
        self.declare(RaisedBy(flag=flag, field="magnesium_intake_mg"))

    # -- notes -------------------------------------------------------------

    @Rule(
        NoteDef(id=MATCH.note, trigger="other_causes", when_yes=MATCH.trigger_field),
        Yes(field=MATCH.trigger_field),
        NoteCause(note=MATCH.note, field=MATCH.cause),
        Yes(field=MATCH.cause),
    )
    def note_other_explanation_of_answer(self, note, cause):
        self.declare(Noted(note=note))
        self.declare(NotedBecause(note=note, field=cause))

    @Rule(
        Intake(sex_note=True),
        NoteDef(id=MATCH.note, trigger="intake_sex_unknown"),
    )
    def note_intake_compared_with_higher_recommendation(self, note):
        self.declare(Noted(note=note))
        self.declare(NotedBecause(note=note, field="sex"))

    # -- level -------------------------------------------------------------

    @Rule(salience=-10)
    def conclude_level_from_flag_counts(self):
        kinds = [f["kind"] for f in self.facts.values() if isinstance(f, Raised)]
        risk, signs, red = kinds.count("risk_factor"), kinds.count("sign"), kinds.count("red_flag")
        self.declare(Level(value=level_for(risk, signs, red), risk=risk, signs=signs, red=red))

    # -- missing -----------------------------------------------------------

    @Rule(
        Level(value=MATCH.level, risk=MATCH.risk, signs=MATCH.signs, red=MATCH.red),
        Blank(field=MATCH.field),
        Member(flag=MATCH.flag, field=MATCH.field),
        FlagDef(id=MATCH.flag, kind=MATCH.kind),
        NOT(Raised(flag=MATCH.flag)),
        TEST(would_raise_level),
        salience=-20,
    )
    def list_unanswered_question_that_could_raise_level(self, field):
        self.declare(Missing(field=field))

    @Rule(
        Level(value=MATCH.level, risk=MATCH.risk, signs=MATCH.signs, red=MATCH.red),
        Intake(status="unknown_intake"),
        FlagDef(id=MATCH.flag, kind=MATCH.kind, trigger="intake_below_recommended"),
        TEST(would_raise_level),
        salience=-20,
    )
    def list_unknown_intake_that_could_raise_level(self):
        self.declare(Missing(field="magnesium_intake_mg"))

    @Rule(
        Level(value=MATCH.level, risk=MATCH.risk, signs=MATCH.signs, red=MATCH.red),
        Intake(status="unknown_age", age_may_change=True),
        FlagDef(id=MATCH.flag, kind=MATCH.kind, trigger="intake_below_recommended"),
        TEST(would_raise_level),
        salience=-20,
    )
    def list_unknown_age_that_could_raise_level(self):
        self.declare(Missing(field="age_years"))

    # -- advice ------------------------------------------------------------

    @Rule(
        Level(value=MATCH.level),
        AdviceDef(level=MATCH.level, id=MATCH.advice),
        salience=-30,
    )
    def recommend_advice_for_level(self, advice):
        self.declare(Recommend(advice=advice))
