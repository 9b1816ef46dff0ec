"""The interview: the knowledge base's questions, one at a time (a front end).

A pure state machine (:class:`Interview`) decides which question comes next,
what its default is, which questions to skip and why; :func:`conduct` drives
it through two injected callables (``ask`` and ``tell``), so the CLI stays
thin and tests need no terminal. The answers become the same kind of record
the batch mode reads (through :func:`engine.records.normalise`) and are
screened by the same Screener, so the same answers give the same result.

Skipping is conservative. A question is skipped when it cannot apply (its
``ask_if`` in questions.yaml), or when no answer to it could change the
level, the flags, the notes or ``missing``: a yes/no question whose every
flag is already raised by another yes, and whose every note already applies.
Only answers that can no longer change in this pass (earlier questions and
answers-file values) count, so going back re-evaluates every skip.
"""
import re
import textwrap
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .fields import FIELD_TYPES, NUMBER, NUMBER_RANGES, RECORD_ID, SEX, YES_NO
from .intake import row_for_age, standard_for
from .knowledge import KnowledgeBase, Question
from .records import FieldValueError, Record, RowError, Value, normalise, parse_answer

WIDTH = 78
BACK_WORDS = ("<", "back")
WHY_WORDS = ("?", "why", "help")
UNKNOWN_WORDS = ("unknown", "-")  # clears an earlier answer shown as the default

#: answers that choose the intake-table column (see engine.intake.recommended_for).
INTAKE_TABLE_INPUTS = ("sex", "pregnant", "lactating")

KIND_WORDS = {"risk_factor": "risk factor", "sign": "sign", "red_flag": "red flag: needs prompt care"}


class GoBack(Exception):
    """The person asked to return to the previous question."""


class ShowWhy(Exception):
    """The person asked why the question is asked."""


class InvalidAnswer(ValueError):
    """Typed text that the question does not accept; the message says what is."""


# --------------------------------------------------------------------------
# Reading one typed answer.


def format_value(value: Value) -> str:
    """An answer as the person would type it (also the default shown on going back)."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return "" if value is None else str(value)


def answer_hint(question: Question) -> str:
    """The short form of what a question accepts, shown after its text."""
    kind = FIELD_TYPES[question.field]
    if kind == YES_NO:
        return "yes/no"
    if kind == SEX:
        return "female/male"
    low, high = NUMBER_RANGES[question.field]
    unit = f"{question.unit}, " if question.unit else ""
    return f"{unit}{low:g} to {high:g}"


def accepted_message(question: Question) -> str:
    """What a question accepts, in full: shown when an answer is not accepted."""
    kind = FIELD_TYPES[question.field]
    if kind == YES_NO:
        what = "Please answer yes or no (y/n)"
    elif kind == SEX:
        what = "Please answer female or male (f/m)"
    else:
        low, high = NUMBER_RANGES[question.field]
        unit = f" {question.unit}" if question.unit else ""
        what = f"Please give a number of{unit} from {low:g} to {high:g}" if unit else f"Please give a number from {low:g} to {high:g}"
        others = [u.words[0] for u in question.units if Fraction(u.factor) != 1]
        if others:
            what += " (other units accepted: " + ", ".join(others) + ")"
    return what + "; press Enter to leave it unknown, ? for why, < to go back."


_NUMBER_WITH_UNIT = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\W\d_]+)\s*$")


def _number_with_unit(question: Question, text: str) -> Optional[float]:
    match = _NUMBER_WITH_UNIT.match(text)
    if not match:
        return None
    number, word = match.groups()
    for unit in question.units:
        if word.lower() in (w.lower() for w in unit.words):
            return float(Fraction(number) * Fraction(unit.factor))
    return None


def parse_reply(question: Question, text: str) -> Value:
    """Typed text -> an answer value; raises GoBack, ShowWhy or InvalidAnswer.

    Blank means unknown. Values go through the contract's own parsers, so an
    interview answer means exactly what the same text means in a CSV cell.
    """
    word = text.strip().lower()
    if word in BACK_WORDS:
        raise GoBack()
    if word in WHY_WORDS:
        raise ShowWhy()
    if word == "" or word in UNKNOWN_WORDS:
        return None
    try:
        return parse_answer(question.field, text)
    except FieldValueError:
        pass
    if FIELD_TYPES[question.field] == NUMBER:
        converted = _number_with_unit(question, text)
        if converted is not None:
            try:
                return parse_answer(question.field, converted)
            except FieldValueError:
                pass
    raise InvalidAnswer(accepted_message(question))


# --------------------------------------------------------------------------
# The state machine.


@dataclass(frozen=True)
class Skip:
    question: Question
    reason: str  # why its answer could not change the result


@dataclass(frozen=True)
class Step:
    """One question to ask now."""

    index: int  # position in kb.questions
    question: Question
    number: int  # how many questions asked so far, this one included
    total: int  # this number plus the questions still to ask as things stand
    default: Optional[str]  # earlier answer, as text; None when never answered
    passed_over: Tuple[Skip, ...]  # questions skipped on the way here


@dataclass(frozen=True)
class RedFlag:
    """A red-flag answer: its flag and the urgent advice, shown at once."""

    title: str
    paraphrase: str
    advice: str


@dataclass(frozen=True)
class Summary:
    """Questions that were not asked, by reason."""

    not_applicable: Tuple[Question, ...]
    cannot_change: Tuple[Skip, ...]
    left_unknown: Tuple[Question, ...]  # applied but not asked (answers file, no terminal)


class Interview:
    """Which question to ask next, and the answers so far. No I/O."""

    def __init__(self, kb: KnowledgeBase, prefilled: Optional[Mapping[str, Value]] = None, ask_all: bool = False):
        self.kb = kb
        self.questions: Tuple[Question, ...] = kb.questions
        self.answers: Dict[str, Value] = dict(prefilled or {})
        self.prefilled = frozenset(self.answers)
        self.ask_all = ask_all
        self.history: List[int] = []  # indices of the questions answered in this pass, in order
        self.cursor = 0
        self._position = {q.field: i for i, q in enumerate(self.questions)}
        self._fixed_inputs = self._inputs_never_skipped()
        read_by_rules = self._read_by_rules()
        self._table_only = frozenset(  # yes/no answers used only to choose the intake-table column
            f for f in INTAKE_TABLE_INPUTS if FIELD_TYPES[f] == YES_NO and f not in read_by_rules)

    def _inputs_never_skipped(self) -> frozenset:
        """Answers that feed the intake comparison, or decide whether other questions apply."""
        return frozenset(set(INTAKE_TABLE_INPUTS) | self._used_beyond_the_intake_table())

    def _used_beyond_the_intake_table(self) -> set:
        """Fields a flag needs or joins by value, or that decide whether another question applies."""
        fixed = set()
        for flag in self.kb.flags.values():
            fixed.update(flag.requires)
            if flag.trigger != "any_yes":
                fixed.update(flag.fields)
        for question in self.questions:
            if question.ask_if is not None and question.ask_if.field:
                fixed.add(question.ask_if.field)
        return fixed

    def _read_by_rules(self) -> set:
        """Every field a flag or note reads, or that decides whether another question applies."""
        fields = self._used_beyond_the_intake_table()
        for flag in self.kb.flags.values():
            fields.update(flag.fields)
        for note in self.kb.notes.values():
            fields.update([note.when_yes] if note.when_yes else [])
            fields.update(m for c in note.causes for m in self.kb.other_causes[c].fields)
        return fields

    # -- what applies ------------------------------------------------------

    def applies(self, question: Question) -> bool:
        condition = question.ask_if
        if condition is None:
            return True
        if condition.field is not None:
            return self.answers.get(condition.field) == condition.equals
        age = self.answers.get("age_years")
        if age is None:
            return True
        return getattr(row_for_age(self.kb, age), condition.table_has) is not None

    def _settled_yes(self, field: str, before: int) -> bool:
        """A yes that cannot change in this pass: an answers-file value or an earlier question's."""
        if self.answers.get(field) is not True:
            return False
        return field in self.prefilled or self._position.get(field, len(self.questions)) < before

    def cannot_change(self, question: Question) -> Optional[str]:
        """Why no answer to ``question`` could change the result, or None when one could."""
        field = question.field
        if field in self._table_only:
            return self._table_column_settled(field)
        if FIELD_TYPES[field] != YES_NO or field in self._fixed_inputs:
            return None
        before = self._position[field]
        reasons = []
        for flag in self.kb.flags.values():
            if field in flag.fields:
                if not any(self._settled_yes(m, before) for m in flag.fields if m != field):
                    return None
                reasons.append(f"'{flag.title}' is already raised by another answer")
        for note in self.kb.notes.values():
            if note.trigger != "other_causes":
                continue
            causes = [m for c in note.causes for m in self.kb.other_causes[c].fields]
            if field == note.when_yes:
                return None
            if field in causes:
                if not (
                    self._settled_yes(note.when_yes, before)
                    and any(self._settled_yes(m, before) for m in causes if m != field)
                ):
                    return None
                reasons.append(f"the note '{note.title}' already applies")
        return " and ".join(reasons) or None

    def _table_column_settled(self, field: str) -> Optional[str]:
        """Why ``field`` (pregnancy or breastfeeding) cannot change the recommended amount, or None.

        Its only use is choosing the intake-table column, so it cannot
        change the result when every answer to it gives the same standard
        with the other settled answers (a pregnancy already chooses the
        column before breastfeeding is looked at).
        """
        before = self._position[field]
        inputs = ("age_years",) + INTAKE_TABLE_INPUTS
        answered = set(self.history)
        for name in inputs:  # every other input must be settled: from the answers file, or answered before it
            position = self._position.get(name, before)
            if name != field and name not in self.prefilled and not (position < before and position in answered):
                return None
        settled = {name: self.answers.get(name) for name in inputs}
        if len({standard_for(self.kb, dict(settled, **{field: value})) for value in (True, False, None)}) > 1:
            return None
        return "the other answers already choose the recommended daily amount"

    def _to_ask(self, question: Question) -> bool:
        if question.field in self.prefilled or not self.applies(question):
            return False
        return self.ask_all or self.cannot_change(question) is None

    # -- moving through the questions --------------------------------------

    def next_step(self) -> Optional[Step]:
        """The question to ask now, or None when the interview is complete."""
        passed: List[Skip] = []
        for index in range(self.cursor, len(self.questions)):
            question = self.questions[index]
            if self._to_ask(question):
                remaining = sum(1 for q in self.questions[index + 1:] if self._to_ask(q))
                default = format_value(self.answers[question.field]) if question.field in self.answers else None
                number = len(self.history) + 1
                return Step(index, question, number, number + remaining, default or None, tuple(passed))
            if question.field not in self.prefilled and self.applies(question):
                passed.append(Skip(question, self.cannot_change(question) or ""))
        self.cursor = len(self.questions)
        return None

    def answer(self, step: Step, value: Value) -> List[RedFlag]:
        """Record an answer and move on; returns red flags the answer raised."""
        field = step.question.field
        self.answers[field] = value
        self.history.append(step.index)
        self.cursor = step.index + 1
        raised = []
        if value is True and field in self.kb.field_flag:
            flag = self.kb.flags[self.kb.field_flag[field]]
            if flag.kind == "red_flag":
                raised.append(RedFlag(flag.title, flag.paraphrase, self.kb.advice_for("urgent").text))
        return raised

    def back(self) -> bool:
        """Return to the previous question asked; False when this is the first."""
        if not self.history:
            return False
        self.cursor = self.history.pop()
        return True

    # -- the outcome -------------------------------------------------------

    def answers_in_order(self) -> Dict[str, Value]:
        """Every answer given (None = answered unknown), in contract field order."""
        return {f: self.answers[f] for f in FIELD_TYPES if f in self.answers}

    def record(self, record_id: str) -> Record:
        """The answers as the batch mode would read them; unasked questions are unknown."""
        raw = {RECORD_ID: record_id, **self.answers_in_order()}
        record = normalise(raw)
        if isinstance(record, RowError):  # answers are validated as they are given
            raise ValueError(record.message())
        return record

    def summary(self) -> Summary:
        """The questions not asked, and why (call when the interview is over)."""
        not_applicable, cannot_change, left_unknown = [], [], []
        for question in self.questions:
            if question.field in self.answers:
                continue
            if not self.applies(question):
                not_applicable.append(question)
                continue
            reason = None if self.ask_all else self.cannot_change(question)
            if reason:
                cannot_change.append(Skip(question, reason))
            else:
                left_unknown.append(question)
        return Summary(tuple(not_applicable), tuple(cannot_change), tuple(left_unknown))


# --------------------------------------------------------------------------
# Words shown to the person.


def wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=WIDTH, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)


def why_text(kb: KnowledgeBase, question: Question) -> str:
    """What ``?`` shows: what the answer can raise, the article's point, its section."""
    field = question.field
    lines = [wrap("Why this is asked: " + question.help)]
    member_of = kb.flags.get(kb.field_flag.get(field, ""))
    if member_of is not None and member_of.trigger == "any_yes":
        lines.append(wrap(f"A yes here raises the flag: {member_of.title} [{member_of.id}] ({KIND_WORDS[member_of.kind]})."))
    for flag in kb.flags.values():
        if flag.trigger != "any_yes" and (flag is member_of or field in flag.requires or field in INTAKE_TABLE_INPUTS):
            lines.append(wrap(f"This answer helps decide the flag: {flag.title} [{flag.id}] ({KIND_WORDS[flag.kind]})."))
    for note in kb.notes.values():
        causes = [m for c in note.causes for m in kb.other_causes[c].fields]
        if field in causes or field == note.when_yes or (note.trigger == "intake_sex_unknown" and field == "sex"):
            lines.append(wrap(f"It can add the note: {note.title} [{note.id}]."))
    section = kb.sections.get(question.source)
    if section is not None:
        lines.append(wrap("What the article says (paraphrased): " + section.paraphrase))
        lines.append(wrap(f"Source: article section '{section.title}' [{section.id}]."))
    lines.append(wrap(accepted_message(question)))
    return "\n".join(lines)


def _grouped(skips: Sequence[Skip]) -> Dict[str, List[str]]:
    grouped: Dict[str, List[str]] = {}
    for skip in skips:
        grouped.setdefault(skip.reason, []).append(skip.question.title)
    return grouped


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def skip_lines(skips: Sequence[Skip]) -> List[str]:
    """Shown as questions are passed over: 'Not asking Tremors, Muscle cramps: ...'."""
    return [
        wrap(f"(Not asking {', '.join(titles)}: {reason}, so the answer could not change the result.)")
        for reason, titles in _grouped(skips).items()
    ]


def summary_text(summary: Summary) -> str:
    """How many questions were not asked, and why; '' when every question was asked."""
    lines = []
    if summary.cannot_change:
        lines.append(wrap(f"Skipped {_plural(len(summary.cannot_change), 'question')} whose answer could not "
                          "change the result (left unknown in the record):"))
        for reason, titles in _grouped(summary.cannot_change).items():
            lines.append(textwrap.fill(f"- {', '.join(titles)}: {reason}.", width=WIDTH, initial_indent="  ",
                                       subsequent_indent="    ", break_on_hyphens=False))
    if summary.not_applicable:
        lines.append(wrap(f"Not asked: {_plural(len(summary.not_applicable), 'question')} that do not apply to "
                          "these answers: " + ", ".join(q.title for q in summary.not_applicable) + "."))
    if summary.left_unknown:
        lines.append(wrap(f"Left unknown: {_plural(len(summary.left_unknown), 'question')} not in the answers "
                          "file: " + ", ".join(q.title for q in summary.left_unknown) + "."))
    return "\n".join(lines)


def red_flag_text(red: RedFlag) -> str:
    return "\n".join([
        wrap(f"!! {red.title}: {red.paraphrase}"),
        wrap(f"!! {red.advice}"),
        wrap("The interview continues so that the result is complete."),
    ])


INTRO = (
    "magscreen asks a few questions about magnesium risk. Press Enter to leave an "
    "answer unknown, type ? to see why a question is asked, or < to go back. "
    "Ctrl-C stops. This screening is not a diagnosis."
)


# --------------------------------------------------------------------------
# The loop, with I/O injected.

#: ask(step, prompt_text, parse) -> value; parse raises GoBack / ShowWhy / InvalidAnswer.
Ask = Callable[[Step, str, Callable[[str], Value]], Value]
#: tell(text, style) -> None; style is "" or one of "heading", "skip", "red_flag", "notice".
Tell = Callable[[str, str], None]


def question_lines(step: Step) -> Tuple[List[str], str]:
    """The lines shown before the prompt, and the prompt itself.

    A question that fits on one line with its hint is the prompt; a longer
    one is shown first, and the prompt is a short 'Answer (hint)' that still
    makes sense when it is repeated after an answer that was not accepted.
    """
    heading = f"[{step.number}/{step.total}] {step.question.title}"
    whole = f"{step.question.text} ({answer_hint(step.question)})"
    if len(whole) + len(" [default]: ") <= WIDTH:
        return [heading], whole
    body = textwrap.wrap(step.question.text, width=WIDTH, break_on_hyphens=False)
    return [heading] + body, f"Answer ({answer_hint(step.question)})"


def conduct(interview: Interview, ask: Ask, tell: Tell, on_answer: Callable[[Interview], None] = lambda i: None) -> None:
    """Ask until every question that matters is answered; ``on_answer`` runs after each one."""
    introduced = False
    while True:
        step = interview.next_step()
        if step is None:
            return
        if not introduced:
            tell(wrap(INTRO), "notice")
            introduced = True
        for line in skip_lines(step.passed_over):
            tell(line, "skip")
        shown, prompt_text = question_lines(step)
        tell("", "")
        tell(shown[0], "heading")
        for line in shown[1:]:
            tell(line, "")
        while True:
            try:
                value = ask(step, prompt_text, lambda text, q=step.question: parse_reply(q, text))
            except ShowWhy:
                tell(why_text(interview.kb, step.question), "")
                continue
            except GoBack:
                if not interview.back():
                    tell("This is the first question; there is nothing to go back to.", "notice")
                    continue
                break
            for red in interview.answer(step, value):
                tell(red_flag_text(red), "red_flag")
            on_answer(interview)
            break
