"""Load and validate the knowledge base (knowledge/*.yaml).

Knowledge is edited by people, so the loader is strict and patient: it
collects *every* problem across all files, each as ``file:line: what is
wrong and how to fix it``, before refusing to start. It reads YAML with a
safe loader that also refuses aliases and anchors (alias bombs), duplicate
keys (a silently redefined item), YAML 1.1 surprises (bare ``yes``/``no``,
sexagesimal or octal numbers) and oversized files.
"""
import hashlib
import os
import stat
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .fields import (
    ANSWER_FIELDS,
    CONTRACT_FLAGS,
    FIELD_TYPES,
    LEVELS,
    YES_NO,
    YES_NO_FIELDS,
)

MAX_FILE_BYTES = 256 * 1024
MAX_NESTING = 20  # items are shallow; deep nesting is a mistake or a recursion bomb
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class KnowledgeError(Exception):
    """The knowledge base failed its checks; ``problems`` lists every one."""

    def __init__(self, problems: List["Problem"]):
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the knowledge base:\n{lines}")


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


# --------------------------------------------------------------------------
# Schemas, one per file. Strict: no coercion, no unknown keys.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Status = Literal["stable", "experimental", "source-silent"]


class Item(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    status: Status
    source: str


class Section(Item):
    """A section of the source article; the article itself is its source."""

    source: Literal["article"] = "article"
    paraphrase: str


class Evidence(_Strict):
    strength: Literal["established", "limited", "inconsistent"]
    note: str


class FlagDef(Item):
    kind: Literal["risk_factor", "sign", "red_flag"]
    fields: List[str] = Field(min_length=1)
    trigger: Literal["any_yes", "intake_below_recommended"] = "any_yes"
    requires: List[str] = []
    paraphrase: str
    evidence: Optional[Evidence] = None
    mechanisms: List[str] = []


class Mechanism(Item):
    paraphrase: str


class OtherCause(Item):
    fields: List[str]
    paraphrase: str


class NoteDef(Item):
    trigger: Literal["other_causes", "intake_sex_unknown"]
    when_yes: Optional[str] = None
    causes: List[str] = []
    paraphrase: str


class Food(Item):
    paraphrase: str


class Advice(Item):
    level: Literal["none", "low", "moderate", "high", "urgent", "any"]
    text: str


class AskIf(_Strict):
    """When a question applies: another answer equals a value, or the intake
    table has a pregnancy/lactation amount for the age (asked when age is unknown)."""

    field: Optional[str] = None
    equals: Union[bool, str, None] = None
    table_has: Optional[Literal["pregnant", "lactating"]] = None

    @model_validator(mode="after")
    def _one_clear_condition(self):
        from .fields import SEX, SEX_WORDS

        if (self.field is None) == (self.table_has is None):
            raise ValueError("give either 'field' with 'equals', or 'table_has', not both or neither")
        if self.field is not None:
            kind = FIELD_TYPES.get(self.field)
            if kind == YES_NO and not isinstance(self.equals, bool):
                raise ValueError(f"'equals' for yes/no field '{self.field}' must be true or false")
            if kind == SEX and self.equals not in set(SEX_WORDS.values()):
                raise ValueError(f"'equals' for '{self.field}' must be one of: {', '.join(sorted(set(SEX_WORDS.values())))}")
            if kind not in (YES_NO, SEX, None):
                raise ValueError(f"ask_if can compare only yes/no or sex answers, not '{self.field}'")
        elif self.equals is not None:
            raise ValueError("'equals' goes with 'field', not with 'table_has'")
        return self


class Unit(_Strict):
    """Another unit a number answer may be typed in, e.g. months for age."""

    words: List[str] = Field(min_length=1)
    #: typed number x factor = the value in the field's own unit; a decimal or a fraction such as "1/12".
    factor: str = "1"

    @model_validator(mode="after")
    def _factor_is_a_positive_number(self):
        from fractions import Fraction

        try:
            positive = Fraction(self.factor) > 0
        except (ValueError, ZeroDivisionError):
            positive = False
        if not positive:
            raise ValueError(f"factor {self.factor!r} must be a positive decimal or fraction, such as \"1/12\"")
        return self


class Question(Item):
    field: str
    text: str
    help: str
    ask_if: Optional[AskIf] = None
    unit: Optional[str] = None  # the unit of a number answer, shown in the prompt
    units: List[Unit] = []  # unit words accepted after a number (the field's own unit has factor "1")

    @model_validator(mode="after")
    def _units_only_for_numbers(self):
        from .fields import NUMBER

        if (self.unit or self.units) and FIELD_TYPES.get(self.field) != NUMBER:
            raise ValueError(f"'unit'/'units' apply only to number fields, not '{self.field}'")
        return self


class IntakeRow(Item):
    min_age: Union[int, float]
    below_age: Optional[Union[int, float]] = None
    basis: Literal["RDA", "AI"]
    male: int = Field(gt=0)
    female: int = Field(gt=0)
    pregnant: Optional[int] = Field(default=None, gt=0)
    lactating: Optional[int] = Field(default=None, gt=0)


#: file name -> item schema. Every knowledge file is ``items: [...]``.
FILE_SCHEMAS: Dict[str, type] = {
    "sections.yaml": Section,
    "populations.yaml": FlagDef,
    "intake.yaml": FlagDef,
    "signs.yaml": FlagDef,
    "red_flags.yaml": FlagDef,
    "intake_table.yaml": IntakeRow,
    "mechanisms.yaml": Mechanism,
    "other_causes.yaml": OtherCause,
    "notes.yaml": NoteDef,
    "foods.yaml": Food,
    "advice.yaml": Advice,
    "questions.yaml": Question,
}
FLAG_FILES = ("populations.yaml", "intake.yaml", "signs.yaml", "red_flags.yaml")


# --------------------------------------------------------------------------
# The knowledge base as the rest of the program sees it.


@dataclass(frozen=True)
class KnowledgeBase:
    version: str
    directory: str
    sections: Dict[str, Section]
    flags: Dict[str, FlagDef]
    notes: Dict[str, NoteDef]
    mechanisms: Dict[str, Mechanism]
    other_causes: Dict[str, OtherCause]
    foods: Dict[str, Food]
    advice: Dict[str, Advice]
    questions: Tuple[Question, ...]
    intake_rows: Tuple[IntakeRow, ...]
    field_flag: Dict[str, str] = field(default_factory=dict)

    def advice_for(self, level: str) -> Advice:
        return next(a for a in self.advice.values() if a.level == level)

    def reminders(self) -> List[Advice]:
        return [a for a in self.advice.values() if a.level == "any"]

    def section_title(self, section_id: str) -> str:
        return self.sections[section_id].title

    def question_for(self, field_name: str) -> Question:
        return next(q for q in self.questions if q.field == field_name)


# --------------------------------------------------------------------------
# YAML reading with line numbers and without YAML's sharp edges.


class _YamlRefused(Exception):
    def __init__(self, line: int, message: str):
        self.line = line
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and anchors as it composes."""

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _YamlRefused(
                event.start_mark.line + 1,
                f"YAML alias '*{event.anchor}' is not allowed; write the value out in full",
            )
        if getattr(event, "anchor", None):
            raise _YamlRefused(
                event.start_mark.line + 1,
                f"YAML anchor '&{event.anchor}' is not allowed; write each value out in full",
            )
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            raise _YamlRefused(
                event.start_mark.line + 1,
                f"YAML tag '{tag}' is not allowed; write plain text, numbers, lists and mappings",
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_NESTING:
                raise _YamlRefused(
                    event.start_mark.line + 1,
                    f"nested more than {MAX_NESTING} levels deep; knowledge items are flat mappings",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def _build(loader, node, path, lines, problems, file_label):
    """Turn a composed node into plain data, remembering each path's line."""
    line = node.start_mark.line + 1
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        result: Dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                problems.append(Problem(file_label, key_line, f"key {key_node.value!r} must be plain text"))
                continue
            key = key_node.value
            if key in result:
                problems.append(
                    Problem(
                        file_label,
                        key_line,
                        f"duplicate key '{key}' (first at line {lines[path + (key,)]}); remove one of them",
                    )
                )
                continue
            result[key] = _build(loader, value_node, path + (key,), lines, problems, file_label)
            lines[path + (key,)] = key_line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, child, path + (i,), lines, problems, file_label)
            for i, child in enumerate(node.value)
        ]
    text = node.value
    if node.style is None:  # plain (unquoted) scalar: where YAML 1.1 surprises live
        if node.tag == _BOOL_TAG and text.lower() not in ("true", "false"):
            problems.append(
                Problem(
                    file_label,
                    line,
                    f"bare '{text}' is read as a boolean by YAML 1.1; write true/false, or quote it as text",
                )
            )
            return text
        if node.tag in (_INT_TAG, _FLOAT_TAG) and (
            ":" in text or "_" in text or (node.tag == _INT_TAG and text.lstrip("+-").startswith("0") and text.lstrip("+-") != "0")
        ):
            problems.append(
                Problem(
                    file_label,
                    line,
                    f"'{text}' is an ambiguous YAML 1.1 number; write a plain decimal number, or quote it as text",
                )
            )
            return text
    return loader.construct_object(node, deep=True)


def read_yaml(path: Path, file_label: str) -> Tuple[Any, Dict[tuple, int], List[Problem]]:
    """Parse one YAML file strictly; returns data, path->line map and problems."""
    problems: List[Problem] = []
    lines: Dict[tuple, int] = {}
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, lines, [Problem(file_label, 1, "is not a regular file; knowledge files must be plain YAML files")]
        if info.st_size > MAX_FILE_BYTES:
            raise OverflowError(info.st_size)
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # never trust st_size alone
        if len(raw) > MAX_FILE_BYTES:
            raise OverflowError(len(raw))
    except OverflowError as exc:
        return None, lines, [
            Problem(file_label, 1, f"file is {exc.args[0]} bytes, over the {MAX_FILE_BYTES}-byte limit; split or shorten it")
        ]
    except OSError as exc:
        return None, lines, [Problem(file_label, 1, f"cannot be read ({exc.strerror or exc})")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, lines, [Problem(file_label, line, "is not valid UTF-8 text; save it as UTF-8")]
    loader = None
    try:
        loader = _StrictLoader(text)  # the reader refuses control characters here
        node = loader.get_single_node()
        if node is None:
            return None, lines, [Problem(file_label, 1, "is empty; it needs an 'items:' list")]
        data = _build(loader, node, (), lines, problems, file_label)
    except _YamlRefused as exc:
        return None, lines, [Problem(file_label, exc.line, exc.message)]
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        return None, lines, [
            Problem(file_label, line, f"contains the control character #x{exc.character:04x}; remove it")
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        what = getattr(exc, "problem", None) or str(exc)
        return None, lines, [Problem(file_label, line, f"is not valid YAML ({what}); fix the syntax there")]
    except ValueError as exc:  # e.g. an integer too long to convert
        return None, lines, [Problem(file_label, 1, f"holds a value that cannot be read ({exc}); shorten it")]
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines, problems


# --------------------------------------------------------------------------
# Schema errors in plain words.


def _line_for(lines: Dict[tuple, int], loc: tuple) -> int:
    for end in range(len(loc), -1, -1):
        if tuple(loc[:end]) in lines:
            return lines[tuple(loc[:end])]
    return 1


def _allowed_keys(model: type, loc: tuple) -> List[str]:
    """The keys the schema allows at ``loc`` (an extra_forbidden location)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        annotation = current.model_fields[part].annotation
        current = _unwrap_model(annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _unwrap_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _describe(error: dict, model: type) -> str:
    loc = error["loc"]
    key = loc[-1] if loc else "items"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(model, loc))
        return f"unknown key '{key}'; allowed keys are: {allowed}"
    if kind == "missing":
        return f"missing required key '{key}'; add it"
    if kind == "string_type":
        return f"'{key}' must be text, not {type(error['input']).__name__}; put the value in quotes"
    if kind == "string_pattern_mismatch":
        return f"'{key}' value {error['input']!r} must be lower-case letters, digits, '.', '_' or '-'"
    return f"'{key}': {error['msg']}"


def _item_label(data: Any, index: Any) -> str:
    if isinstance(index, int) and isinstance(data, list) and index < len(data):
        item = data[index]
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            return f"{item['id']}: "
    return ""


def _validate_file(name: str, data: Any, lines, file_label: str):
    """Validate one file's items; returns (valid items with their lines, problems)."""
    model = FILE_SCHEMAS[name]
    if not isinstance(data, dict) or set(data) != {"items"} or not isinstance(data["items"], list):
        keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        return [], [Problem(file_label, 1, f"must be a mapping with exactly one key 'items' holding a list (found: {keys})")]
    items, problems = [], []
    for index, raw in enumerate(data["items"]):
        try:
            items.append((model.model_validate(raw), _line_for(lines, ("items", index))))
        except ValidationError as exc:
            for error in exc.errors():
                loc = ("items", index) + tuple(error["loc"])
                problems.append(
                    Problem(file_label, _line_for(lines, loc), _item_label(data["items"], index) + _describe(error, model))
                )
    return items, problems


# --------------------------------------------------------------------------
# Cross-file checks: unique ids, references that resolve, the contract's flags.


def _cross_check(found: Dict[str, list], where: Dict[str, Tuple[str, int]], incomplete: set) -> List[Problem]:
    """Checks across files. Completeness checks are skipped for files that
    already failed, so one broken item is not reported again as a cascade."""
    problems: List[Problem] = []

    def problem(item_id: str, message: str) -> None:
        file_label, line = where[item_id]
        problems.append(Problem(file_label, line, f"{item_id}: {message}"))

    sections = {item.id for item in found.get("sections.yaml", [])}
    mechanisms = {item.id for item in found.get("mechanisms.yaml", [])}
    causes = {item.id: item for item in found.get("other_causes.yaml", [])}
    for name, items in found.items():
        for item in items:
            if name != "sections.yaml" and item.source not in sections and "sections.yaml" not in incomplete:
                problem(item.id, f"source '{item.source}' is not a section id in sections.yaml")

    flags = [item for name in FLAG_FILES for item in found.get(name, [])]
    owner: Dict[str, str] = {}
    for flag in flags:
        for member in flag.fields:
            if member not in FIELD_TYPES or member == "record_id":
                problem(flag.id, f"member '{member}' is not a contract field; use one of the intake fields")
                continue
            if flag.trigger == "any_yes" and FIELD_TYPES[member] != YES_NO:
                problem(flag.id, f"member '{member}' is not a yes/no field, so a yes cannot raise this flag")
            if member in owner:
                problem(flag.id, f"member '{member}' already belongs to {owner[member]}; a field may raise only one flag")
            owner[member] = flag.id
        for needed in flag.requires:
            if needed not in FIELD_TYPES:
                problem(flag.id, f"requires '{needed}', which is not a contract field")
        for mechanism in flag.mechanisms:
            if mechanism not in mechanisms and "mechanisms.yaml" not in incomplete:
                problem(flag.id, f"mechanism '{mechanism}' is not an id in mechanisms.yaml")
    by_id = {flag.id: flag for flag in flags}
    flag_files_complete = not incomplete.intersection(FLAG_FILES)
    for flag_id, kind in CONTRACT_FLAGS.items():
        if flag_id not in by_id:
            if flag_files_complete:
                problems.append(Problem("populations.yaml", 1, f"contract flag '{flag_id}' ({kind}) is not defined in any flag file"))
        elif by_id[flag_id].kind != kind:
            problem(flag_id, f"kind must be '{kind}' as the screening contract says")

    for cause in causes.values():
        for member in cause.fields:
            if FIELD_TYPES.get(member) != YES_NO:
                problem(cause.id, f"field '{member}' is not a yes/no contract field")
    for note in found.get("notes.yaml", []):
        if note.trigger == "other_causes":
            if note.when_yes not in YES_NO_FIELDS:
                problem(note.id, f"when_yes '{note.when_yes}' must be a yes/no contract field")
            if not note.causes:
                problem(note.id, "an other_causes note needs at least one id under 'causes'")
            for cause_id in note.causes:
                if cause_id not in causes and "other_causes.yaml" not in incomplete:
                    problem(note.id, f"cause '{cause_id}' is not an id in other_causes.yaml")

    levels_advised = {advice.level for advice in found.get("advice.yaml", [])}
    for level in LEVELS:
        if level not in levels_advised and "advice.yaml" not in incomplete:
            problems.append(Problem("advice.yaml", 1, f"no advice for level '{level}'; add an item with level: {level}"))

    asked: Dict[str, str] = {}
    for question in found.get("questions.yaml", []):
        if question.field not in ANSWER_FIELDS:
            problem(question.id, f"field '{question.field}' is not an answer field of the contract")
        elif question.field in asked:
            problem(question.id, f"field '{question.field}' is already asked by {asked[question.field]}")
        asked[question.field] = question.id
        condition = question.ask_if
        if condition is not None and condition.field is not None and condition.field not in ANSWER_FIELDS:
            problem(question.id, f"ask_if field '{condition.field}' is not an answer field")
    if "questions.yaml" in found and "questions.yaml" not in incomplete:
        for name in ANSWER_FIELDS:
            if name not in asked:
                problems.append(Problem("questions.yaml", 1, f"no question asks '{name}'; add one"))

    rows = found.get("intake_table.yaml", [])
    expected_start = 0.0
    for position, row in enumerate(rows):
        if row.min_age != expected_start:
            problem(row.id, f"min_age {row.min_age} should be {expected_start:g} so the age bands have no gap or overlap")
        last = position == len(rows) - 1
        if row.below_age is None and not last:
            problem(row.id, "only the last row may leave below_age out")
        if row.below_age is not None and row.below_age <= row.min_age:
            problem(row.id, "below_age must be greater than min_age")
        expected_start = row.below_age if row.below_age is not None else expected_start
    if rows and rows[-1].below_age is not None:
        problem(rows[-1].id, "the last row must leave below_age out so every age is covered")
    return problems


# --------------------------------------------------------------------------
# Entry points.


KNOWLEDGE_DIR_ENV = "MAGSCREEN_KNOWLEDGE_DIR"


def default_directory() -> Path:
    """The bundled knowledge, unless MAGSCREEN_KNOWLEDGE_DIR names another directory.

    The variable lets the knowledge mutation test run the test suite against a
    mutated copy; the copy still has to pass every check before it is used.
    """
    override = os.environ.get(KNOWLEDGE_DIR_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("knowledge")))


def _knowledge_files(directory: Path) -> List[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def version_of(directory: Path) -> str:
    """sha256 over every knowledge file's name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in _knowledge_files(directory):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def check(directory: Optional[Path] = None) -> Tuple[Optional[KnowledgeBase], List[Problem]]:
    """Validate a knowledge directory; returns the knowledge base (or None) and all problems."""
    directory = Path(directory) if directory is not None else default_directory()
    if not directory.is_dir():
        return None, [Problem(str(directory), 1, "is not a directory of knowledge files")]
    problems: List[Problem] = []
    incomplete: set = set()
    found: Dict[str, list] = {}
    where: Dict[str, Tuple[str, int]] = {}
    present = {p.name: p for p in _knowledge_files(directory)}
    for name in present:
        if name not in FILE_SCHEMAS:
            problems.append(Problem(name, 1, f"unknown knowledge file; expected one of {', '.join(sorted(FILE_SCHEMAS))}"))
    for name in FILE_SCHEMAS:
        if name not in present:
            problems.append(Problem(name, 1, "required knowledge file is missing"))
            incomplete.add(name)
            continue
        data, lines, file_problems = read_yaml(present[name], name)
        problems.extend(file_problems)
        if file_problems:
            incomplete.add(name)
        if data is None:
            continue
        items, schema_problems = _validate_file(name, data, lines, name)
        problems.extend(schema_problems)
        if schema_problems:
            incomplete.add(name)
        found[name] = [item for item, _ in items]
        for item, line in items:
            if item.id in where:
                first_file, first_line = where[item.id]
                problems.append(Problem(name, line, f"duplicate id '{item.id}' (first defined at {first_file}:{first_line}); ids must be unique"))
            else:
                where[item.id] = (name, line)
    problems.extend(_cross_check(found, where, incomplete))
    if problems:
        return None, sorted(set(problems))
    flags = {item.id: item for name in FLAG_FILES for item in found[name]}
    base = KnowledgeBase(
        version=version_of(directory),
        directory=str(directory),
        sections={s.id: s for s in found["sections.yaml"]},
        flags=flags,
        notes={n.id: n for n in found["notes.yaml"]},
        mechanisms={m.id: m for m in found["mechanisms.yaml"]},
        other_causes={c.id: c for c in found["other_causes.yaml"]},
        foods={f.id: f for f in found["foods.yaml"]},
        advice={a.id: a for a in found["advice.yaml"]},
        questions=tuple(found["questions.yaml"]),
        intake_rows=tuple(found["intake_table.yaml"]),
        field_flag={member: flag.id for flag in flags.values() for member in flag.fields},
    )
    return base, []


def load(directory: Optional[Path] = None) -> KnowledgeBase:
    """Load a knowledge base or raise KnowledgeError listing every problem."""
    base, problems = check(directory)
    if base is None:
        raise KnowledgeError(problems)
    return base


@lru_cache(maxsize=None)
def _load_cached(directory: str) -> KnowledgeBase:
    return load(Path(directory))


def load_default() -> KnowledgeBase:
    """The shipped knowledge base, loaded once per process."""
    return _load_cached(str(default_directory()))
