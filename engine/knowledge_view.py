"""The knowledge base as readable text, for `magscreen knowledge show`."""
import textwrap

from .knowledge import KnowledgeBase

KIND_WORDS = {"risk_factor": "risk factor", "sign": "sign", "red_flag": "red flag"}


def _raised_by(kb: KnowledgeBase, flag) -> str:
    if flag.trigger == "intake_below_recommended":
        return "daily magnesium below the recommended amount (needs age)"
    return "yes to any of: " + ", ".join(flag.fields)


def flags_table(kb: KnowledgeBase, width: int = 78) -> str:
    lines = [f"magscreen knowledge base {kb.version[:16]}", ""]
    for flag in kb.flags.values():
        lines.append(f"{flag.id}  ({KIND_WORDS[flag.kind]}): {flag.title}")
        details = [
            ("raised by", _raised_by(kb, flag)),
            ("evidence", f"{flag.evidence.strength}: {flag.evidence.note}" if flag.evidence else "not qualified by the article"),
            ("source", f"article section '{kb.section_title(flag.source)}'"),
        ]
        for label, text in details:
            lines.append(textwrap.fill(f"{label}: {text}", width=width, initial_indent="    ", subsequent_indent="      "))
        lines.append("")
    lines.append("Notes (never change flags or level):")
    for note in kb.notes.values():
        lines.append(textwrap.fill(f"{note.id}: {note.paraphrase}", width=width, initial_indent="    ", subsequent_indent="      "))
    lines.append("")
    lines.append("Recommended daily magnesium, mg (male / female / pregnant / lactating):")
    for row in kb.intake_rows:
        extra = " / ".join(str(v) if v is not None else "-" for v in (row.pregnant, row.lactating))
        lines.append(f"    {row.title:<20} {row.male:>4} / {row.female:>4} / {extra}  ({row.basis})")
    lines.append("")
    lines.append("Where the article is silent (nothing invented):")
    for group in (kb.mechanisms, kb.other_causes, kb.foods, kb.sections):
        for item in group.values():
            if item.status == "source-silent":
                lines.append(textwrap.fill(f"{item.title}: {item.paraphrase}", width=width, initial_indent="    ", subsequent_indent="      "))
    lines.append("")
    for reminder in kb.reminders():
        lines.append(textwrap.fill(reminder.text, width=width))
    return "\n".join(lines)
