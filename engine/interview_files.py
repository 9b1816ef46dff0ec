"""Answers files: read one to replay an interview, write one as answers come in.

An answers file is a YAML or JSON mapping of contract field names to values
(the same words a CSV cell accepts); ``null`` means "answered: unknown", and a
field left out has not been asked yet. Writing is atomic (a temporary file in
the same directory, then ``os.replace``) and owner-only (0600), so a closed
terminal or Ctrl-C never leaves a half-written or world-readable file.
"""
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

from .fields import ANSWER_FIELDS, FIELDS, RECORD_ID, accepted_values
from .records import FieldValueError, Value, parse_answer

MAX_ANSWERS_BYTES = 1024 * 1024
JSON_SUFFIXES = (".json",)


class AnswersFileError(Exception):
    """The answers file as a whole cannot be used (exit status 2)."""


class _CellLoader(yaml.SafeLoader):
    """Reads a YAML mapping as CSV cells: each plain value is its text, as typed.

    So ``007`` stays ``"007"`` and ``1e2`` means what it means in a CSV cell;
    only a plain ``null``/``~``/empty value is None (answered: unknown). A key
    given twice is refused (one answer would silently be lost).
    """


_NULL_TAG = "tag:yaml.org,2002:null"


def _mapping_as_cells(loader, node):
    result = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else loader.construct_object(key_node, deep=True)
        if key in result:
            raise AnswersFileError(f"line {key_node.start_mark.line + 1}: {key!r} is given twice; keep one")
        if isinstance(value_node, yaml.ScalarNode):
            plain_null = value_node.style is None and loader.resolve(
                yaml.ScalarNode, value_node.value, (True, False)) == _NULL_TAG
            result[key] = None if plain_null else value_node.value
        else:
            result[key] = loader.construct_object(value_node, deep=True)
    return result


_CellLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_as_cells)


def _json_pairs(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise AnswersFileError(f"{key!r} is given twice; keep one")
        result[key] = value
    return result


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() in JSON_SUFFIXES:
        try:
            return json.loads(text, object_pairs_hook=_json_pairs)
        except ValueError as exc:
            raise AnswersFileError(f"is not valid JSON ({exc})") from None
    try:
        return yaml.load(text, Loader=_CellLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise AnswersFileError(f"{where}is not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def load_answers(path: str) -> Tuple[Optional[str], Dict[str, Value]]:
    """Read an answers file -> (its record_id or None, normalised answers).

    Keys are matched like CSV headers (case-insensitive, spaces ignored).
    Every problem is an AnswersFileError naming the key, value and what is
    accepted; nothing is guessed.
    """
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_ANSWERS_BYTES:
            raise AnswersFileError(f"is {size} bytes; an answers file is at most {MAX_ANSWERS_BYTES} bytes")
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise AnswersFileError(f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise AnswersFileError("is not UTF-8 text") from None
    data = _parse(file, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AnswersFileError(
            f"must be a mapping of field names to answers (found {type(data).__name__}), e.g. 'age_years: 45'"
        )
    record_id: Optional[str] = None
    answers: Dict[str, Value] = {}
    for key, value in data.items():
        name = str(key).strip().lower()
        if name not in FIELDS:
            raise AnswersFileError(f"{key!r} is not a field name; use the contract names, e.g. age_years, diabetes")
        if name in answers or (name == RECORD_ID and record_id is not None):
            raise AnswersFileError(f"{name!r} is given twice; keep one")
        if value is not None and not isinstance(value, (str, bool, int, float)):
            raise AnswersFileError(f"{name}: {value!r} is not accepted; expected {accepted_values(name)}")
        if name == RECORD_ID:
            if value is None or str(value).strip() == "":
                raise AnswersFileError(f"record_id is blank; expected {accepted_values(RECORD_ID)}, or leave it out")
            record_id = str(value)
            continue
        try:
            answers[name] = parse_answer(name, value)
        except FieldValueError as exc:
            raise AnswersFileError(exc.describe()) from None
    return record_id, answers


def answers_document(record_id: str, answers: Mapping[str, Value]) -> Dict[str, Any]:
    """The mapping written to an answers file, in contract field order."""
    document: Dict[str, Any] = {RECORD_ID: record_id}
    for name in ANSWER_FIELDS:
        if name not in answers:
            continue
        value = answers[name]
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        document[name] = value
    return document


def dump_answers(path: str, document: Mapping[str, Any]) -> str:
    if Path(path).suffix.lower() in JSON_SUFFIXES:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    header = "# magscreen interview answers (null = answered unknown; a missing field is not asked yet)\n"
    return header + yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True)


def save_answers(path: str, record_id: str, answers: Mapping[str, Value]) -> None:
    """Write the answers atomically with owner-only permissions."""
    target = Path(path)
    text = dump_answers(path, answers_document(record_id, answers))
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent or "."))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
        _sync_directory(target.parent)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; some platforms cannot open a directory."""
    try:
        descriptor = os.open(str(directory or "."), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
