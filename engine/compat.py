"""The one place experta is imported from.

experta 1.9.4 (its last release) pins frozendict 1.2, which still uses the
``collections.Mapping`` alias removed in Python 3.10. Restoring the alias here,
before experta is first imported, lets us keep pip's resolver happy instead of
forcing a newer frozendict. experta also calls ``logging.basicConfig()`` at
import; we undo the root handler it adds when the application had none, so
importing magscreen as a library does not change the caller's logging.
"""
import collections
import collections.abc
import logging

if not hasattr(collections, "Mapping"):
    collections.Mapping = collections.abc.Mapping  # type: ignore[attr-defined]

_root = logging.getLogger()
_handlers_before = list(_root.handlers)

import experta  # noqa: E402
from experta import (  # noqa: E402,F401
    AS,
    MATCH,
    NOT,
    TEST,
    W,
    DefFacts,
    Fact,
    Field,
    KnowledgeEngine,
    Rule,
)
from experta import watchers  # noqa: E402,F401
if not _handlers_before:
    for _handler in list(_root.handlers):
        if _handler not in _handlers_before:
            _root.removeHandler(_handler)

# experta logs every declared fact (e.g. Yes(field='diabetes')) at INFO on its
# watcher loggers. Those are health data: keep them out of an application's
# INFO/DEBUG logs. experta.watchers.watch() can still switch them on on purpose.
logging.getLogger("experta").setLevel(logging.WARNING)

EXPERTA_VERSION = getattr(experta, "__version__", "1.9.4")
