"""experta, driven without the overheads that dominate a small run.

A screening run declares a couple of dozen facts, so experta's fixed costs
outweigh the rules themselves (profile in docs/performance.md): ``reset()``
re-walks every Rete node once per parent, the root node sends every fact
through every type test (copying a token each time), and DepthStrategy's
``lru_cache`` on ``get_key`` hashes each activation only to miss (the cached
activation compares unequal once its key is set). Each class here removes one
such cost while keeping experta's semantics: same activations, same agenda
order, same firings. tests/test_lean_engine.py checks that against the plain
engine.
"""
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .compat import (
    Agenda,
    ConflictSetNode,
    DepthStrategy,
    FactList,
    FeatureTesterNode,
    InitialFact,
    NotNode,
    OrdinaryMatchNode,
    ReteMatcher,
    Token,
    TypeCheck,
)


class DirectDepthStrategy(DepthStrategy):
    """DepthStrategy's key (salience, then newest facts first), computed directly."""

    def get_key(self, activation):
        return (activation.rule.salience, sorted([f["__factid__"] for f in activation.facts], reverse=True))


class TypeDispatchMatcher(ReteMatcher):
    """The Rete network, entered by fact type, with matching of reused facts replayed.

    experta's root node hands each fact to every type-test node, which copies
    the token and discards it unless the type matches. Here each fact goes
    straight to the children of the type-test nodes for its own class, in the
    same order. If the network ever starts with something other than a type
    test, every fact takes the original path.

    The one-input (alpha) part of the network has no memory: what it hands
    to the joins depends only on the fact (its class, fields and number).
    That hand-over is recorded the first time a fact is seen and replayed for
    every equal fact afterwards; the joins still run every time. Knowledge
    and answer facts are the same objects in every run (see
    :meth:`LeanStart.start`); a fact a rule declares is replaced, in the
    network, by the first equal one seen.
    """

    REPLAYS_SIZE = 50000

    def __init__(self, engine):
        super().__init__(engine)
        roots = [child.node for child in self.root_node.children]
        self._dispatch = all(
            isinstance(node, FeatureTesterNode) and isinstance(node.matcher, TypeCheck) for node in roots
        )
        self._routes: Dict[type, List[Callable]] = {}
        self._nodes = self._reachable_nodes()
        self._conflict_set_nodes = self._get_conflict_set_nodes()
        self._recording: Optional[list] = None
        self._replays: Dict[object, list] = {}  # fact -> [(callback, token)] into the joins
        if self._dispatch:
            self._record_alpha_exits()

    def _reachable_nodes(self) -> list:
        seen, order, stack = set(), [], [self.root_node]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            order.append(node)
            stack.extend(child.node for child in node.children)
        return order

    def _record_alpha_exits(self) -> None:
        """Wrap every edge from a one-input test node into the rest of the network."""
        for node in self._nodes:
            if not isinstance(node, FeatureTesterNode):
                continue
            for position, child in enumerate(node.children):
                if not isinstance(child.node, FeatureTesterNode):
                    node.children[position] = type(child)(child.node, self._recorder(child.callback))

    def _recorder(self, callback: Callable) -> Callable:
        replay = _without_copy(callback)

        def exit_alpha(token):
            if self._recording is not None:
                self._recording.append((replay, token.copy()))
            return callback(token)

        exit_alpha.__name__ = getattr(callback, "__name__", "exit_alpha")
        return exit_alpha

    def reset(self):
        """Wipe every node's memory once (experta resets shared nodes once per parent)."""
        for node in self._nodes:
            node._reset()

    def _routes_for(self, fact_type: type) -> List[Callable]:
        routes = self._routes.get(fact_type)
        if routes is None:
            routes = [
                grandchild.callback
                for child in self.root_node.children
                if child.node.matcher.fact_type == fact_type
                for grandchild in child.node.children
            ]
            self._routes[fact_type] = routes
        return routes

    def add(self, fact) -> None:
        """Send a new fact into the network, replaying the alpha matching of an equal one."""
        replay = self._replays.get(fact)
        if replay is None:
            if len(self._replays) >= self.REPLAYS_SIZE:
                self._replays.clear()
            self._recording = []
            try:
                token = Token.valid(fact)
                for callback in self._routes_for(type(fact)):
                    callback(token)
                self._replays[fact] = self._recording
            finally:
                self._recording = None
        else:
            for callback, token in replay:
                callback(token)

    def changes(self, adding=None, deleting=None):
        if not self._dispatch:
            return super().changes(adding, deleting)
        for fact in deleting or ():
            token = Token.invalid(fact)
            for callback in self._routes_for(type(fact)):
                callback(token)
        for fact in adding or ():
            self.add(fact)
        added: list = []
        removed: list = []
        for node in self._conflict_set_nodes:
            if node.added or node.removed:  # experta asks every node, and each answer is two new sets
                node_added, node_removed = node.get_activations()
                added.extend(node_added)
                removed.extend(node_removed)
        return added, removed


# Join and conflict-set nodes only read the token they are given (they keep
# frozen copies of its data), so a recorded token can be handed to their inner
# method run after run, skipping the copy their public entry point makes.
READ_ONLY_NODES = (OrdinaryMatchNode, NotNode, ConflictSetNode)
ENTRY_POINTS = {"activate": "_activate", "activate_left": "_activate_left", "activate_right": "_activate_right"}


def _without_copy(callback: Callable) -> Callable:
    node = getattr(callback, "__self__", None)
    inner = ENTRY_POINTS.get(getattr(callback, "__name__", ""))
    if type(node) in READ_ONLY_NODES and inner is not None:
        return getattr(node, inner)
    return callback


class LeanStart:
    """Mixin for a KnowledgeEngine: start a run from exactly the given facts.

    Equivalent to ``reset()`` with no DefFacts followed by ``declare(*facts)``
    (InitialFact first, as reset declares it), minus the signature inspection
    and logging done per reset. The facts must be fresh (never declared).
    """

    __matcher__ = TypeDispatchMatcher
    __strategy__ = DirectDepthStrategy
    _initial_fact = InitialFact()

    @property
    def _fact_ids(self) -> Dict[int, Tuple[object, frozenset]]:
        """id(reused fact) -> (the fact, kept alive; its FactList identity)."""
        ids = self.__dict__.get("_lean_fact_ids")
        if ids is None:
            ids = self.__dict__["_lean_fact_ids"] = {}
        return ids

    def start(self, numbered_facts: Iterable[Tuple[int, object]], first_derived_number: int) -> None:
        """Begin a run from (number, fact) pairs, numbers increasing.

        The fact objects are reused across runs: each keeps its number, so
        its alpha matching can be replayed. Facts the rules declare are
        numbered from ``first_derived_number`` on, as in a plain run.
        """
        self.running = False
        self.agenda = Agenda()
        self.facts = facts = FactList()
        matcher = self.matcher
        matcher.reset()
        self.before_run()
        numbered = [(0, self._initial_fact), *numbered_facts]
        counter = facts.reference_counter
        fact_ids = self._fact_ids
        for number, fact in numbered:
            # What FactList.declare does for a valid, new fact, with its identity computed once.
            fact_id = fact_ids.get(id(fact))
            if fact_id is None:
                if len(fact_ids) >= 20000:  # only if reused facts were not reused after all
                    fact_ids.clear()
                fact.__factid__ = number
                fact_id = fact_ids[id(fact)] = (fact, FactList._get_fact_id(fact))
            elif fact.__factid__ != number:
                raise ValueError("a reused fact must keep its number")
            facts[number] = fact
            counter[fact_id[1]] += 1
        facts.last_index = first_derived_number
        if matcher._dispatch:
            for _number, fact in numbered:
                matcher.add(fact)
            added, removed = matcher.changes()
        else:
            added, removed = matcher.changes([fact for _number, fact in numbered])
        self.strategy.update_agenda(self.agenda, added, removed)

    def before_run(self) -> None:
        """Hook for mixins that keep per-run state."""
