"""What magscreen concludes from what: the experta rules, in three stages.

The rules are generic: they join answer facts with knowledge facts, so adding
a symptom to a cluster, or a new population, is a YAML edit and not new
Python. Rule names say what they conclude.

A record is screened by three small rule sets rather than one large run
(engine.screening composes them, in this order):

1. :class:`FlagRules`, once per flag that has a yes answer (or a
   below-recommended intake): which answers raise that flag.
2. :class:`NoteRules`, once per note whose trigger applies: why the note
   applies.
3. :class:`LevelRules`, once per record: the level from how many flags of
   each kind were raised, which kinds of flag could still raise it, whether
   an unknown intake or age could, and the advice for the level.

Each stage sees only the facts it can join, and its output depends only on
them, so every stage run is memoised on exactly its facts. Realistic data
has thousands of distinct combinations of yes answers, but only a few dozen
distinct stage inputs: a batch of any size needs about a hundred engine runs.

Facts a stage may be given:
  Yes(field)                         an answer of yes
  Intake(status, sex_note, age_may_change)
                                     how daily magnesium compares with the
                                     recommendation (engine.intake)
  FlagCount(kind, count)             how many flags of ``kind`` stage 1 raised
Knowledge facts: FlagDef, Member, NoteDef, NoteCause, KindDef, AdviceDef.
"""
from engine.compat import MATCH, TEST, Fact, KnowledgeEngine, Rule

# -- answer facts ----------------------------------------------------------


class Yes(Fact):
    """The person answered yes to ``field``."""


class Intake(Fact):
    """How daily magnesium compares with the recommendation (see engine.intake)."""


class FlagCount(Fact):
    """Stage 1 raised ``count`` flags of ``kind``."""


# -- knowledge facts -------------------------------------------------------


class FlagDef(Fact):
    """A flag of the knowledge base: id, kind and what triggers it."""


class Member(Fact):
    """A yes to ``field`` raises flag ``flag``."""


class NoteDef(Fact):
    """A note of the knowledge base and its trigger."""


class NoteCause(Fact):
    """A yes to ``field`` is another explanation named by note ``note``."""


class KindDef(Fact):
    """A kind of flag (risk_factor, sign, red_flag)."""


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


class CouldRaise(Fact):
    """One more flag of ``kind`` would give a higher level: its unanswered questions are missing."""


class Missing(Fact):
    """Unanswered ``field`` could raise the level."""


class Recommend(Fact):
    """Advice ``advice`` is the recommendation."""


KINDS = ("risk_factor", "sign", "red_flag")
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


class FlagRules(KnowledgeEngine):
    """Stage 1: the answers that raise one flag. Build once, ``reset()`` per run."""

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


class NoteRules(KnowledgeEngine):
    """Stage 2: why one note applies. Build once, ``reset()`` per run."""

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


class LevelRules(KnowledgeEngine):
    """Stage 3: level, what could raise it, and advice. Build once, ``reset()`` per run.

    Salience orders the phases: the level first, then what could raise it,
    then the advice.
    """

    @Rule(
        FlagCount(kind="risk_factor", count=MATCH.risk),
        FlagCount(kind="sign", count=MATCH.signs),
        FlagCount(kind="red_flag", count=MATCH.red),
        salience=-10,
    )
    def conclude_level_from_flag_counts(self, risk, signs, red):
        self.declare(Level(value=level_for(risk, signs, red), risk=risk, signs=signs, red=red))

    @Rule(
        Level(value=MATCH.level, risk=MATCH.risk, signs=MATCH.signs, red=MATCH.red),
        KindDef(kind=MATCH.kind),
        TEST(would_raise_level),
        salience=-20,
    )
    def list_flag_kind_that_could_raise_level(self, kind):
        self.declare(CouldRaise(kind=kind))

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

    @Rule(
        Level(value=MATCH.level),
        AdviceDef(level=MATCH.level, id=MATCH.advice),
        salience=-30,
    )
    def recommend_advice_for_level(self, advice):
        self.declare(Recommend(advice=advice))


STAGES = (FlagRules, NoteRules, LevelRules)


class StageFacts:
    """The knowledge as facts, cut to what each stage run can join.

    A stage run gets only facts that can take part in one of its rules, so
    its output is a function of exactly the facts it is given: that is the
    memo key (engine.screening).
    """

    def __init__(self, kb):
        self.flag_defs = {f.id: FlagDef(id=f.id, kind=f.kind, trigger=f.trigger) for f in kb.flags.values()}
        self.flag_kind = {f.id: f.kind for f in kb.flags.values()}
        self.members = {
            f.id: {m: Member(flag=f.id, field=m) for m in f.fields}
            for f in kb.flags.values() if f.trigger == "any_yes"
        }
        self.flags_of_field = {}
        for flag_id, members in self.members.items():
            for field in members:
                self.flags_of_field.setdefault(field, []).append(flag_id)
        self.intake_flags = tuple(f.id for f in kb.flags.values() if f.trigger == "intake_below_recommended")
        self.note_defs = {n.id: NoteDef(id=n.id, trigger=n.trigger, when_yes=n.when_yes or "") for n in kb.notes.values()}
        self.note_causes = {
            n.id: {m: NoteCause(note=n.id, field=m) for c in n.causes for m in kb.other_causes[c].fields}
            for n in kb.notes.values() if n.trigger == "other_causes"
        }
        self.note_triggers = {n.id: n.when_yes for n in kb.notes.values() if n.trigger == "other_causes"}
        self.sex_notes = tuple(n.id for n in kb.notes.values() if n.trigger == "intake_sex_unknown")
        kinds = [k for k in KINDS if k in set(self.flag_kind.values())]
        self.kind_defs = tuple(KindDef(kind=k) for k in kinds)
        self.advice_defs = tuple(AdviceDef(level=a.level, id=a.id) for a in kb.advice.values() if a.level != "any")

    def all_knowledge(self):
        """Every knowledge fact, for plain runs that do not filter (the reference)."""
        facts = []
        for flag_id, flag_def in self.flag_defs.items():
            facts.append(flag_def)
            facts.extend(self.members.get(flag_id, {}).values())
        for note_id, note_def in self.note_defs.items():
            facts.append(note_def)
            facts.extend(self.note_causes.get(note_id, {}).values())
        return facts + list(self.kind_defs) + list(self.advice_defs)

    def missing_blanks(self, blank, raised, could_raise):
        """Unanswered questions that could raise the level: a member of a flag not raised whose kind could.

        The level stage concludes which kinds of flag could raise the level
        (CouldRaise); which unanswered question belongs to which flag is
        knowledge, so the projection needs no engine run.
        """
        return [name for name in blank
                if any(flag_id not in raised and self.flag_kind[flag_id] in could_raise
                       for flag_id in self.flags_of_field.get(name, ()))]

    # -- stage 1 -----------------------------------------------------------

    def flag_runs(self, yes, intake_status, sex_note=False):
        """(run key, facts) for each flag stage 1 must run for: a yes member, or intake below."""
        yes_members = {}
        for field in yes:
            for flag_id in self.flags_of_field.get(field, ()):
                yes_members.setdefault(flag_id, []).append(field)
        for flag_id in self.members:
            fields = yes_members.get(flag_id)
            if fields:
                yield ("flag", flag_id, tuple(fields))
        if intake_status == "below":
            for flag_id in self.intake_flags:
                yield ("intake_flag", flag_id, sex_note)

    def flag_facts(self, run_key):
        if run_key[0] == "flag":
            _, flag_id, fields = run_key
            members = self.members[flag_id]
            return [self.flag_defs[flag_id], *(members[f] for f in fields), *(Yes(field=f) for f in fields)]
        _, flag_id, sex_note = run_key
        return [self.flag_defs[flag_id], Intake(status="below", sex_note=sex_note, age_may_change=False)]

    # -- stage 2 -----------------------------------------------------------

    def note_runs(self, yes, sex_note):
        """(run key) for each note whose trigger and at least one cause apply."""
        yes_set = set(yes)
        for note_id, trigger in self.note_triggers.items():
            if trigger in yes_set:
                causes = tuple(f for f in self.note_causes[note_id] if f in yes_set)
                if causes:
                    yield ("note", note_id, trigger, causes)
        if sex_note:
            for note_id in self.sex_notes:
                yield ("sex_note", note_id)

    def note_facts(self, run_key):
        if run_key[0] == "note":
            _, note_id, trigger, causes = run_key
            cause_facts = self.note_causes[note_id]
            return [self.note_defs[note_id], Yes(field=trigger),
                    *(cause_facts[f] for f in causes), *(Yes(field=f) for f in causes)]
        _, note_id = run_key
        return [Intake(status="below", sex_note=True, age_may_change=False), self.note_defs[note_id]]

    # -- stage 3 -----------------------------------------------------------

    def level_facts(self, run_key):
        """``run_key`` is (risk, signs, red, intake status if unknown else None, age_may_change)."""
        risk, signs, red, unknown_status, age_may_change = run_key
        facts = [FlagCount(kind="risk_factor", count=risk), FlagCount(kind="sign", count=signs),
                 FlagCount(kind="red_flag", count=red), *self.kind_defs]
        if unknown_status is not None:
            facts.append(Intake(status=unknown_status, sex_note=False, age_may_change=age_may_change))
            facts.extend(self.flag_defs[f] for f in self.intake_flags)
        facts.extend(self.advice_defs)
        return facts
