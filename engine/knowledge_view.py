"""The knowledge base as readable text, for `magscreen knowledge show`."""
import textwrap

from .knowledge import KnowledgeBase

KIND_WORDS = {"risk_factor": "risk factor", "sign": "sign", "red_flag": "red flag"}


def _raised_by(kb: KnowledgeBase, flag) -> str:
    if flag.trigger == "intake_below_recommended":
        return "daily magnesium below the recommended amount (needs age)"
    return "yes to any of: " + ", ".join(flag.fields)


COLUMNS = (("flag", 31), ("raised by", 20), ("evidence", 12), ("section", 11))


def _table_row(cells, widths) -> list:
    """One table row whose cells wrap inside their own column."""
    wrapped = [textwrap.wrap(cell, width, break_long_words=False) or [""] for cell, width in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    return [
        " ".join((w[i] if i < len(w) else "").ljust(width) for w, width in zip(wrapped, widths)).rstrip()
        for i in range(height)
    ]


def flags_table(kb: KnowledgeBase, width: int = 78) -> str:
    widths = [w for _, w in COLUMNS]
    lines = [f"magscreen knowledge base {kb.version[:16]}", ""]
    lines += _table_row([name for name, _ in COLUMNS], widths)
    lines.append(" ".join("-" * w for w in widths))
    for flag in kb.flags.values():
        cells = [
            f"{flag.id} {KIND_WORDS[flag.kind]}: {flag.title}",
            _raised_by(kb, flag),
            flag.evidence.strength if flag.evidence else "not rated",
            kb.section_title(flag.source),
        ]
        lines += _table_row(cells, widths)
        lines.append("")
    lines.append("Evidence notes:")
    for flag in kb.flags.values():
        if flag.evidence and flag.evidence.strength != "established":
            lines.append(textwrap.fill(f"{flag.id}: {flag.evidence.note}", width=width, initial_indent="    ", subsequent_indent="      "))
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
