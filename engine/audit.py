"""Read an audit trace back: explain a record, explain a flag that was not raised,
verify the file against its hash chain and the current rules, and count.

Everything here works from what the trace recorded (the facts the engine was
given, its firings, the result) plus the knowledge base for titles and
article sections. Records come from engine.trace.records, which gives a
format 2 record its shared conclusion and outcome, so the code below reads
both formats alike. Replay goes through the same Screener as screening, so a
difference means the rules or knowledge changed, not the audit code.
"""
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .intake import recommended_for, row_for_age
from .knowledge import KnowledgeBase
from .records import Record
from .screening import FactKey, Screener
from .trace import (PSEUDONYM_KEY_ENV, ChainReport, Pseudonymizer, check_chain, dumps, read_lines, record_lines,
                    records, run_object)

REPLAY_MEMO_SIZE = 65536
KIND_WORDS = {"risk_factor": "risk factor", "sign": "sign", "red_flag": "red flag"}
BASIS_WORDS = {
    "female": "for females",
    "male": "for males",
    "pregnant": "in pregnancy",
    "lactating": "while breastfeeding",
    "sex_unknown": "with sex unknown (the higher of the male and female amounts)",
}


class AuditError(Exception):
    """The request cannot be answered from this trace (exit status 2)."""


# -- finding records -------------------------------------------------------


def find_records(path: str, record_id: str, pseudonym_key: Optional[bytes] = None) -> List[Dict[str, Any]]:
    """Record objects whose id is ``record_id``, or its pseudonym when a key is given.

    A pseudonymised trace can be searched by the pseudonym itself, or by the
    original id when the key is available.
    """
    run = run_object(path)
    if run is None:
        raise AuditError(f"{path!r} does not start with a run line; is it a magscreen trace?")
    wanted = {record_id}
    if run.get("pseudonymized"):
        if pseudonym_key is not None:
            wanted.add(Pseudonymizer(pseudonym_key)(record_id))
    found = list(records(path, select=lambda obj: obj.get("record_id") in wanted))
    if not found:
        hint = ""
        if run.get("pseudonymized") and pseudonym_key is None:
            hint = f"; record ids in this trace are pseudonymised: set {PSEUDONYM_KEY_ENV} to look up an original id"
        raise AuditError(f"no record {record_id!r} in the trace{hint}")
    for entry in found:
        if entry.get("unresolved"):
            raise AuditError(f"record {entry.get('record_id')!r} cannot be explained: its {entry['unresolved']}; "
                             "the trace is damaged (run 'magscreen audit verify')")
    return found


# -- plain-language pieces -------------------------------------------------


def question_title(kb: KnowledgeBase, field_name: str) -> str:
    question = next((q for q in kb.questions if q.field == field_name), None)
    return f"{question.title} ({field_name})" if question else field_name


def flag_label(kb: KnowledgeBase, flag_id: str) -> str:
    flag = kb.flags.get(flag_id)
    if flag is None:
        return f"{flag_id} (not in the current knowledge base)"
    section = kb.sections.get(flag.source)
    where = f"article section: {section.title}" if section else f"article section: {flag.source}"
    return f'{flag_id} "{flag.title}", {KIND_WORDS.get(flag.kind, flag.kind)} [{where}]'


def fact_text(fact: Mapping[str, Any]) -> str:
    values = ", ".join(f"{k}={v}" for k, v in fact.items() if k != "fact")
    return f"{fact.get('fact')}({values})"


def answer_state(entry: Mapping[str, Any], field_name: str) -> str:
    """yes / no / unknown for one answer, from the answers or else the facts."""
    answers = entry.get("answers")
    if isinstance(answers, dict) and field_name in answers:
        value = answers[field_name]
        return "yes" if value is True else "no" if value is False else "unknown" if value is None else str(value)
    facts = entry.get("facts") or {}
    if field_name in facts.get("yes", ()):
        return "yes"
    if field_name in facts.get("blank", ()):
        return "unknown"
    return "no"


def _amount(value) -> str:
    return f"{value:g} mg" if isinstance(value, (int, float)) else "an unrecorded amount"


def _row_title(kb: KnowledgeBase, row_id) -> str:
    row = next((r for r in kb.intake_rows if r.id == row_id), None)
    return row.title.lower() if row else str(row_id)


def intake_reason(kb: KnowledgeBase, entry: Mapping[str, Any]) -> str:
    intake = (entry.get("facts") or {}).get("intake", {})
    answers = entry.get("answers") or {}
    return (
        f"usual daily magnesium {_amount(answers.get('magnesium_intake_mg'))} is below the "
        f"{intake.get('recommended_mg')} mg recommended at age {_row_title(kb, intake.get('table_row'))} "
        f"{BASIS_WORDS.get(intake.get('basis'), '')}".rstrip()
    )


def entry_level(entry: Mapping[str, Any]):
    """The recorded level, or "unresolved" for a record whose shared lines the trace does not define."""
    if entry.get("unresolved"):
        return "unresolved"
    return (entry.get("result") or {}).get("level")


def record_heading(entry: Mapping[str, Any]) -> str:
    row = entry.get("row")
    where = f" (row {row})" if row is not None else ""
    return f"Record {entry.get('record_id')}{where}"


# -- show ------------------------------------------------------------------


def show_record(entry: Mapping[str, Any], kb: KnowledgeBase) -> str:
    """The chain of reasoning for one record: answer -> rule -> flag -> level."""
    result = entry.get("result") or {}
    lines = [f"{record_heading(entry)}: level {result.get('level')}"]
    if result.get("level") == "error":
        lines.append(f"  Not screened: {result.get('error')}")
        lines.append("  No rule ran for this row, so no flag could be raised.")
        return "\n".join(lines)
    firings = entry.get("firings") or []
    reasoning, notes, missing, advice = [], [], [], []
    could_raise: Dict[str, str] = {}  # kind of flag -> the rule that concluded one more would raise the level
    for firing in firings:
        rule = firing.get("rule")
        for fact in firing.get("declared", ()):
            kind = fact.get("fact")
            if kind == "RaisedBy":
                flag = fact.get("flag")
                if fact.get("field") == "magnesium_intake_mg" and kb.flags.get(flag) is not None and \
                        kb.flags[flag].trigger == "intake_below_recommended":
                    because = intake_reason(kb, entry)
                else:
                    because = f"yes to {question_title(kb, fact.get('field'))}"
                reasoning.append(f"  {because} -> rule {rule} -> flag {flag_label(kb, flag)}")
            elif kind == "Level":
                reasoning.append(
                    f"  {fact.get('risk')} risk factor(s), {fact.get('signs')} sign(s), {fact.get('red')} red flag(s)"
                    f" -> rule {rule} -> level {fact.get('value')}"
                )
            elif kind == "NotedBecause":
                note = kb.notes.get(fact.get("note"))
                title = f' "{note.title}"' if note else ""
                notes.append(f"  {question_title(kb, fact.get('field'))} -> rule {rule} -> note {fact.get('note')}{title}")
            elif kind == "Missing":
                missing.append(f"  {question_title(kb, fact.get('field'))} is unanswered and could raise the level"
                               f" -> rule {rule}")
            elif kind == "CouldRaise":
                could_raise[fact.get("kind")] = rule
            elif kind == "Recommend":
                advice.append(f"  level {result.get('level')} -> rule {rule} -> advice {fact.get('advice')}")
    lines.append("Reasoning (answer -> rule -> flag -> level):")
    lines.extend(reasoning or ["  (no rule fired)"])
    if notes:
        lines.append("Notes:")
        lines.extend(notes)
    missing.extend(_missing_by_kind(entry, result, could_raise, kb))
    if missing:
        lines.append("Missing answers:")
        lines.extend(missing)
    if advice:
        lines.append("Advice:")
        lines.extend(advice)
    lines.append("Rule firings in order:")
    for firing in firings:
        matched = "; ".join(fact_text(f) for f in firing.get("matched", ())) or "(no facts)"
        declared = "; ".join(fact_text(f) for f in firing.get("declared", ())) or "(nothing)"
        lines.append(f"  {firing.get('seq')}. {firing.get('rule')}: matched {matched}; declared {declared}")
    return "\n".join(lines)


KIND_WORDS = {"risk_factor": "risk factor", "sign": "sign", "red_flag": "red flag"}


def _missing_by_kind(entry: Mapping[str, Any], result: Mapping[str, Any], could_raise: Mapping[str, str],
                     kb: KnowledgeBase) -> List[str]:
    """Unanswered questions listed because one more flag of their kind would raise the level.

    The level stage concludes the kinds (CouldRaise); the question belongs
    to a flag of that kind that was not raised (knowledge, not a rule).
    """
    lines = []
    raised = set(result.get("flags") or ())
    for name in result.get("missing") or ():
        flag_id = kb.field_flag.get(name)
        flag = kb.flags.get(flag_id) if flag_id else None
        if flag is None or flag.trigger != "any_yes" or flag.kind not in could_raise or flag_id in raised:
            continue
        lines.append(f"  {question_title(kb, name)} is unanswered; a yes would raise flag {flag_label(kb, flag_id)},"
                     f" and one more {KIND_WORDS.get(flag.kind, flag.kind)} could raise the level"
                     f" -> rule {could_raise[flag.kind]}")
    return lines


def show_run(path: str, kb: KnowledgeBase) -> str:
    """A summary of the run: what produced the trace and what it holds."""
    run = run_object(path)
    if run is None:
        raise AuditError(f"{path!r} does not start with a run line; is it a magscreen trace?")
    levels: Counter = Counter()
    for entry in records(path):
        levels[entry_level(entry)] += 1
    end = None
    for line in read_lines(path):
        if line.obj is not None and line.obj.get("type") == "end":
            end = line.obj
    command = run.get("command") or {}
    lines = [
        f"Trace of a run of magscreen {run.get('magscreen_version')} (experta {run.get('experta_version')}, "
        f"Python {run.get('python_version')})",
        f"Started: {run.get('started_utc')}",
        f"Command: {command.get('name')}" + "".join(
            f" {k}={v}" for k, v in sorted(command.items()) if k != "name" and v not in (None, False)),
        "Input sha256: " + (run.get("input_sha256") or (f"{end['input_sha256']} (standard input, as read)"
                                                         if end and end.get("input_sha256") else "(none)")),
        f"Knowledge version: {run.get('knowledge_version')}"
        + ("" if run.get("knowledge_version") == kb.version else f" (current: {kb.version})"),
        f"Trace format: {run.get('format')}",
        f"Record ids: {'pseudonymised' if run.get('pseudonymized') else 'as given'}; "
        f"signed: {'yes' if run.get('signed') else 'no'}",
        f"Records: {sum(levels.values())} ("
        + (", ".join(f"{level} {count}" for level, count in sorted(levels.items(), key=lambda x: str(x[0]))) or "none")
        + ")",
        "End line: " + ("present" if end is not None else "MISSING (the trace is incomplete)"),
        "This summary does not check integrity; run 'magscreen audit verify' for that.",
    ]
    return "\n".join(lines)


# -- why-not ---------------------------------------------------------------


def why_not(entry: Mapping[str, Any], flag_id: str, kb: KnowledgeBase) -> str:
    """Which conditions of the rules that raise ``flag_id`` were false or unknown, and what would have raised it."""
    flag = kb.flags.get(flag_id)
    if flag is None:
        raise AuditError(f"unknown flag {flag_id!r}; flags are: {', '.join(sorted(kb.flags))}")
    result = entry.get("result") or {}
    head = f"{record_heading(entry)}, flag {flag_label(kb, flag_id)}:"
    if result.get("level") == "error":
        return "\n".join([
            head,
            f"  The row could not be screened ({result.get('error')}), so no rule ran and no flag could be raised.",
            "  Correct that answer and screen the row again.",
        ])
    raised = (result.get("flags") or {}).get(flag_id)
    if raised is not None:
        return f"{head}\n  The flag WAS raised for this record, by: {', '.join(raised)}. Run 'audit show' for the reasoning."
    if flag.trigger == "intake_below_recommended":
        return "\n".join([head] + _why_not_intake(entry, flag, kb))
    lines = [
        head,
        f"  Rule raise_flag_for_yes_answer raises it when any of these is answered yes: {', '.join(flag.fields)}.",
    ]
    for name in flag.fields:
        state = answer_state(entry, name)
        if state == "no":
            lines.append(f"  - {question_title(kb, name)}: answered no (condition false)")
        elif state == "unknown":
            lines.append(f"  - {question_title(kb, name)}: not answered (unknown; a blank never raises a flag)")
        else:
            lines.append(f"  - {question_title(kb, name)}: {state}")
    choices = " or ".join(flag.fields)
    lines.append(f"  A yes to {choices} would have raised it.")
    return "\n".join(lines)


def _why_not_intake(entry: Mapping[str, Any], flag, kb: KnowledgeBase) -> List[str]:
    facts = entry.get("facts") or {}
    intake = facts.get("intake") or {}
    answers = entry.get("answers") or {}
    status = intake.get("status")
    needs = ", ".join(list(flag.fields) + list(flag.requires))
    lines = [
        "  Rule raise_flag_for_intake_below_recommended raises it when usual daily magnesium is below the amount "
        "recommended for the age, sex, pregnancy and breastfeeding answers (the intake table); "
        f"it needs: {needs}."
    ]
    amount = answers.get("magnesium_intake_mg")
    age = answers.get("age_years")
    if status == "unknown_intake":
        lines.append(f"  - {question_title(kb, 'magnesium_intake_mg')}: not answered (unknown; a blank never raises a flag)")
        if isinstance(age, (int, float)):
            recommended, basis = recommended_for(row_for_age(kb, age), answers)
            lines.append(f"  An intake below {recommended} mg (recommended at age {age:g} {BASIS_WORDS[basis]}) "
                         "would have raised it.")
        else:
            lines.append(f"  - {question_title(kb, 'age_years')}: not answered (unknown)")
            lines.append("  An intake answer below the recommended amount, together with an age, would have raised it.")
    elif status == "unknown_age":
        lines.append(f"  - {question_title(kb, 'magnesium_intake_mg')}: {_amount(amount)}")
        lines.append(f"  - {question_title(kb, 'age_years')}: not answered (unknown): without an age the intake "
                     "table cannot give a recommended amount, so the comparison was not made")
        if isinstance(amount, (int, float)):
            rows = [(row, recommended_for(row, answers)[0]) for row in kb.intake_rows]
            raising = [f"{row.title.lower()} ({recommended} mg)" for row, recommended in rows if amount < recommended]
            if raising:
                lines.append(f"  An age of {'; or '.join(raising)} would have raised it.")
            else:
                lines.append("  No age would have raised it: the intake is at or above every recommended amount "
                             "for these answers.")
        elif intake.get("age_may_change"):
            lines.append(f"  An age whose recommended amount is above the intake (up to {intake.get('recommended_mg')} mg)"
                         " would have raised it.")
    elif status == "adequate":
        lines.append(
            f"  - {question_title(kb, 'magnesium_intake_mg')}: {_amount(amount)}, at or above the "
            f"{intake.get('recommended_mg')} mg recommended at age {_row_title(kb, intake.get('table_row'))} "
            f"{BASIS_WORDS.get(intake.get('basis'), '')} (condition false)"
        )
        lines.append(f"  An intake below {intake.get('recommended_mg')} mg would have raised it.")
    else:
        lines.append(f"  The recorded intake status is {status!r}; the rule's condition (status 'below') was false.")
    return lines


# -- verify ----------------------------------------------------------------


@dataclass
class Difference:
    heading: str
    details: List[str]


@dataclass
class VerifyReport:
    chain: ChainReport
    replayed: int = 0
    error_rows: int = 0
    differences: List[Difference] = field(default_factory=list)
    differing: int = 0
    trace_knowledge: Optional[str] = None
    current_knowledge: str = ""

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.differing


def concluded(screener: Screener, key: FactKey) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    conclusion = screener.conclude(key)
    result = {
        "level": conclusion.level,
        "flags": {fid: list(fields) for fid, fields in conclusion.flags},
        "notes": {nid: list(fields) for nid, fields in conclusion.notes},
        "missing": list(conclusion.missing),
    }
    return result, [f.as_dict() for f in conclusion.firings]


def _set_change(label: str, was: Iterable, now: Iterable) -> Optional[str]:
    was, now = list(was), list(now)
    if was == now:
        return None
    added = [x for x in now if x not in was]
    removed = [x for x in was if x not in now]
    parts = []
    if added:
        parts.append("added " + ", ".join(map(str, added)))
    if removed:
        parts.append("removed " + ", ".join(map(str, removed)))
    if not parts:
        parts.append(f"{was} -> {now}")
    return f"{label}: " + "; ".join(parts)


def compare_record(entry: Mapping[str, Any], screener: Screener) -> List[str]:
    """What differs between a recorded record and its replay through the current engine."""
    answers = entry.get("answers")
    if isinstance(answers, dict):
        key = screener.fact_key(Record(str(entry.get("record_id")), answers))
    else:
        key = FactKey.from_dict(entry.get("facts"))
    return replay_differences(entry, screener, key)


def facts_differences(was: Any, now: Mapping[str, Any]) -> List[str]:
    """What differs between recorded and replayed facts, whatever kinds of fact a FactKey holds."""
    was = was if isinstance(was, dict) else {}
    details = []
    for name in list(now) + [n for n in was if n not in now]:
        before, after = was.get(name), now.get(name)
        if before == after:
            continue
        if isinstance(before, list) and isinstance(after, list):
            change = _set_change(f"facts {name}", before, after)
            if change:
                details.append(change)
        else:
            details.append(f"facts {name}: trace {before}, now {after}")
    return details


def replay_differences(entry: Mapping[str, Any], screener: Screener, key: FactKey) -> List[str]:
    """What differs between a recorded entry and the current engine's conclusion for ``key``."""
    # Compared as canonical JSON, the form the trace holds them in (tuples become lists).
    details = []
    if isinstance(entry.get("answers"), dict):
        now_facts = dumps(key.as_dict())
        if dumps(entry.get("facts")) != now_facts:
            details = facts_differences(entry.get("facts"), json.loads(now_facts))
    now_result, now_firings = concluded(screener, key)
    was = entry.get("result") or {}
    if was.get("level") != now_result["level"]:
        details.append(f"level: trace {was.get('level')}, now {now_result['level']}")
    for name in ("flags", "notes"):
        was_map, now_map = was.get(name) or {}, now_result[name]
        change = _set_change(name, sorted(was_map), sorted(now_map))
        if change:
            details.append(change)
        for item in sorted(set(was_map) & set(now_map)):
            if list(was_map[item]) != list(now_map[item]):
                details.append(f"{name} {item} answers: trace {', '.join(was_map[item])}, now {', '.join(now_map[item])}")
    if list(was.get("missing") or []) != now_result["missing"]:
        details.append(f"missing: trace {', '.join(was.get('missing') or []) or '(none)'}, "
                       f"now {', '.join(now_result['missing']) or '(none)'}")
    was_firings = entry.get("firings") or []
    now_text = dumps(now_firings)
    if dumps(was_firings) != now_text:
        details.append(_firing_difference(was_firings, json.loads(now_text)))
    return details


def _firing_difference(was: List[Mapping[str, Any]], now: List[Mapping[str, Any]]) -> str:
    for index in range(max(len(was), len(now))):
        a = was[index] if index < len(was) else None
        b = now[index] if index < len(now) else None
        if a != b:
            def brief(f):
                if f is None:
                    return "no firing"
                declared = "; ".join(fact_text(d) for d in f.get("declared", ()))
                return f"{f.get('rule')} declaring {declared or 'nothing'}"
            return (f"firings ({len(was)} in trace, {len(now)} now) first differ at #{index + 1}: "
                    f"trace {brief(a)}; now {brief(b)}")
    return "firings differ"


def verify(path: str, screener: Screener, signing_key: Optional[bytes] = None, max_differences: int = 20) -> VerifyReport:
    """Check the hash chain; if it holds, replay every record through ``screener`` and compare."""
    report = VerifyReport(chain=check_chain(path, signing_key), current_knowledge=screener.kb.version)
    run = report.chain.run or {}
    report.trace_knowledge = run.get("knowledge_version")
    if not report.chain.ok:
        return report
    replayed: Dict[Tuple[str, Any], List[str]] = {}  # (conclusion id, current FactKey) -> differences
    for obj, expand in record_lines(path):
        if "conclusion" not in obj and (obj.get("result") or {}).get("level") == "error":  # self-contained
            report.error_rows += 1
            continue
        report.replayed += 1
        try:
            details = _replay(obj, expand, screener, replayed)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            details = [f"cannot be replayed: the record object is malformed ({type(exc).__name__}: {exc})"]
        if details:
            report.differing += 1
            if len(report.differences) < max_differences:
                report.differences.append(Difference(record_heading(obj), details))
    return report


def _replay(obj: Mapping[str, Any], expand, screener: Screener, memo: Dict[Tuple[str, Any], List[str]]) -> List[str]:
    """compare_record, once per (shared conclusion, current FactKey): format 2 records share their conclusion.

    ``obj`` is the record line as written and ``expand()`` its self-contained
    entry, read only when the memo does not already hold the answer.
    """
    conclusion, answers = obj.get("conclusion"), obj.get("answers")
    if not isinstance(conclusion, str) or not isinstance(answers, dict):
        return compare_record(expand(), screener)
    key = screener.fact_key(Record(str(obj.get("record_id")), answers))
    details = memo.get((conclusion, key))
    if details is None:
        if len(memo) >= REPLAY_MEMO_SIZE:
            memo.clear()
        details = memo[(conclusion, key)] = replay_differences(expand(), screener, key)
    return details


def verify_text(report: VerifyReport) -> str:
    chain = report.chain
    lines = []
    if chain.ok:
        signed = ("signature checked" if chain.signature_checked
                  else "signed, signature not checked" if chain.signed else "not signed")
        lines.append(f"Hash chain: OK ({chain.lines} lines, {chain.records} records, {signed})")
    else:
        lines.append("Hash chain: BROKEN")
        lines.extend(f"  {p}" for p in chain.problems)
    lines.extend(f"  note: {n}" for n in chain.notes)
    if not chain.ok:
        lines.append("Replay: skipped, because a trace with a broken chain cannot be trusted")
        lines.append("FAILED: the hash chain is broken: the trace was edited, truncated or extended "
                     "after magscreen wrote it.")
        return "\n".join(lines)
    knowledge = f"knowledge {report.current_knowledge[:16]}"
    if report.trace_knowledge != report.current_knowledge:
        knowledge += f" (the trace was written with {str(report.trace_knowledge)[:16]})"
    lines.append(f"Replay: {report.replayed} records replayed with {knowledge}; "
                 f"{report.error_rows} error row(s) not replayed")
    for difference in report.differences:
        lines.append(f"  {difference.heading} differs:")
        lines.extend(f"    {d}" for d in difference.details)
    if report.differing > len(report.differences):
        lines.append(f"  ... and {report.differing - len(report.differences)} more record(s) differ")
    if report.differing:
        lines.append(f"FAILED: the chain is intact, but {report.differing} record(s) replay differently with the "
                     "current rules and knowledge.")
    else:
        lines.append("OK: the chain is intact and every record replays to the same firings and result.")
    return "\n".join(lines)


# -- stats -----------------------------------------------------------------


def stats_text(path: str, kb: KnowledgeBase, rule_names: Iterable[str]) -> str:
    """How often each rule fired, rules that never fired, flag prevalence, error rows."""
    if run_object(path) is None:
        raise AuditError(f"{path!r} does not start with a run line; is it a magscreen trace?")
    fired: Counter = Counter()
    records_with_rule: Counter = Counter()
    flags: Counter = Counter()
    levels: Counter = Counter()
    errors: List[str] = []
    screened = error_count = 0
    unresolved = 0
    for entry in records(path):
        result = entry.get("result") or {}
        levels[entry_level(entry)] += 1
        if entry.get("unresolved"):
            unresolved += 1
            continue
        if result.get("level") == "error":
            error_count += 1
            if len(errors) < 10:
                errors.append(f"  {record_heading(entry)}: {result.get('error')}")
            continue
        screened += 1
        names = [f.get("rule") for f in entry.get("firings") or []]
        fired.update(names)
        records_with_rule.update(set(names))
        flags.update((result.get("flags") or {}).keys())
    total = screened + error_count + unresolved
    lines = [f"Records: {total} ({screened} screened, {error_count} error rows)"]
    if unresolved:
        lines.append(f"Records whose shared lines are missing: {unresolved} (the trace is damaged; run "
                     "'magscreen audit verify')")
    lines.append("Levels: " + (", ".join(f"{k} {v}" for k, v in sorted(levels.items(), key=lambda x: str(x[0])))
                               or "none"))
    lines.append("Rule firings (times fired, records):")
    for name, count in sorted(fired.items(), key=lambda x: (-x[1], x[0])):
        lines.append(f"  {name}: {count} ({records_with_rule[name]} records)")
    never = sorted(set(rule_names) - set(fired))
    lines.append("Rules that never fired: " + (", ".join(never) if never else "(none)"))
    lines.append(f"Flag prevalence (of {screened} screened records):")
    for flag_id in sorted(set(kb.flags) | set(flags), key=lambda f: (-flags[f], f)):
        share = f"{100 * flags[flag_id] / screened:.1f}%" if screened else "-"
        lines.append(f"  {flag_id}: {flags[flag_id]} ({share})")
    lines.append(f"Error rows: {error_count}")
    lines.extend(errors)
    if error_count > len(errors):
        lines.append(f"  ... and {error_count - len(errors)} more")
    return "\n".join(lines)


def rule_names(screener: Screener) -> List[str]:
    return screener.rule_names()
