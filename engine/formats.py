"""Result -> CSV cells, JSON object or terminal text (contract section 5).

Formatters only read Results; they never screen. Cells that spreadsheet
software would run as formulas are neutralised here, in one place.
"""
import json
import re
import textwrap
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .results import Result

CONTRACT_COLUMNS = ("record_id", "level", "flags", "notes", "missing", "recommendation", "error")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """OWASP CSV-injection guidance: prefix a quote so the cell is read as text."""
    if cell and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


_NEEDS_QUOTES = re.compile('[,"\r\n]')


def csv_field(cell: str) -> str:
    """One cell as csv.writer writes it in a row of several (QUOTE_MINIMAL, comma, double quotes)."""
    if _NEEDS_QUOTES.search(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def result_cells(level: str, flag_ids: Sequence[str], note_ids: Sequence[str], missing: Sequence[str],
                 recommendation: str, error: str) -> List[str]:
    """The contract's columns after record_id, in order."""
    return [level, ";".join(sorted(flag_ids)), ";".join(sorted(note_ids)), ";".join(missing), recommendation, error]


def csv_cells(result: Result, extra_values: Sequence[str] = ()) -> List[str]:
    return (
        [neutralise(result.record_id)]
        + result_cells(result.level, result.flag_ids, result.note_ids, result.missing, result.recommendation,
                       result.error)
        + [neutralise(v) for v in extra_values]
    )


def json_object(result: Result, extra: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """``extra`` maps carried columns, already named as in the output (batch.output_names), to values."""
    return {
        "record_id": result.record_id,
        "level": result.level,
        "flags": [
            {
                "id": f.id,
                "title": f.title,
                "kind": f.kind,
                "explanation": f.explanation,
                "source": f.source,
                "source_title": f.source_title,
                "evidence": f.evidence,
                "answers": list(f.fields),
            }
            for f in result.flags
        ],
        "notes": [
            {"id": n.id, "title": n.title, "explanation": n.explanation, "answers": list(n.fields)}
            for n in result.notes
        ],
        "missing": list(result.missing),
        "recommendation": result.recommendation,
        "reminders": list(result.reminders),
        "error": result.error,
        "knowledge_version": result.knowledge_version,
        "extra": dict(extra or {}),
    }


def json_line(result: Result, extra: Optional[Mapping[str, str]] = None) -> str:
    return json.dumps(json_object(result, extra), ensure_ascii=False, sort_keys=True)


LEVEL_WORDS = {
    "none": "no risk flags raised",
    "low": "low risk",
    "moderate": "moderate risk",
    "high": "high risk",
    "urgent": "URGENT: seek prompt medical care",
    "error": "could not be screened",
}


def _wrap(text: str, indent: str = "", width: int = 78) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)


def text_report(result: Result, question_titles: Optional[Mapping[str, str]] = None, width: int = 78) -> str:
    """A readable report for a terminal of 80 columns."""
    titles = question_titles or {}
    lines = [f"Screening result for {result.record_id}: {result.level} ({LEVEL_WORDS[result.level]})"]
    if result.error:
        lines.append(_wrap("Problem: " + result.error, width=width))
        return "\n".join(lines)
    if result.flags:
        lines.append("")
        lines.append("Flags raised:")
        for flag in result.flags:
            lines.append(_wrap(f"- {flag.title} [{flag.id}]", width=width))
            lines.append(_wrap(flag.explanation, "    ", width))
            if flag.evidence:
                lines.append(_wrap("Evidence: " + flag.evidence, "    ", width))
            lines.append(_wrap(f"Source: article section '{flag.source_title}'", "    ", width))
    else:
        lines.append("")
        lines.append("No flags raised.")
    if result.notes:
        lines.append("")
        lines.append("Notes:")
        for note in result.notes:
            lines.append(_wrap(f"- {note.title} [{note.id}]", width=width))
            lines.append(_wrap(note.explanation, "    ", width))
    if result.missing:
        lines.append("")
        lines.append("Unanswered questions that could raise this result:")
        for name in result.missing:
            lines.append(_wrap(f"- {titles.get(name, name)} ({name})", width=width))
    lines.append("")
    lines.append(_wrap("Recommendation: " + result.recommendation, width=width))
    for reminder in result.reminders:
        lines.append(_wrap("Note: " + reminder, width=width))
    return "\n".join(lines)
