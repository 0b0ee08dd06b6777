"""The worst case of a Liquid template, found without rendering it.

Rendering a draft once with sample data proves little: a condition on the data
(``{% if shop.slug != "sample" %}``) skips whatever the sample does not reach. This walks
the parsed template instead and takes every branch: each value is abstracted to the most
it can be (characters as text, items as a list), from literals, from the runtime caps of
``themes.engine`` and, for the view's data, from generous bounds below. Filters, ranges,
loops (nested loops multiplied; a variable that grows in a loop followed until it settles
or extrapolated), captures, ``render`` and ``include`` (resolved through the same layers
the storefront uses; a template that renders itself is refused) are followed, so a save is
refused when what the template could ask for is over the page's budget — with the file,
line and the reason.

The runtime limits still hold for what this cannot see (the data); this is what lets a
merchant hear about an amplification when saving instead of from a failing page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from liquid.ast import BlockNode, ConditionalBlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions.arguments import KeywordArgument, PositionalArgument
from liquid.builtin.expressions.filtered import FilteredExpression, TernaryFilteredExpression
from liquid.builtin.expressions.path import Path
from liquid.builtin.expressions.primitive import FloatLiteral, IntegerLiteral, RangeLiteral, StringLiteral
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.assign_tag import AssignNode
from liquid.builtin.tags.capture_tag import CaptureNode
from liquid.builtin.tags.case_tag import CaseNode
from liquid.builtin.tags.for_tag import ForNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.include_tag import IncludeNode
from liquid.builtin.tags.liquid_tag import LiquidNode
from liquid.builtin.tags.render_tag import RenderNode
from liquid.builtin.tags.tablerow_tag import TablerowNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.exceptions import LiquidError

from themes import engine

# What the view's data can be, at most, where the template cannot know: a text field, a list
# of objects (a page of products, a product's images), a number (unknown: a range or loop
# bounded by it counts at its runtime cap).
CONTEXT_CHARS = 100
CONTEXT_ITEMS = 30
NESTED_ITEMS = 8
LARGE_CONTEXT = {"content_for_layout": 200_000, "content_for_page": 200_000}  # a long page body
# Work a page may do: roughly a character copied or compared, or a step of the interpreter
# (20 units). 60 million units is well under a second of a worker; the runtime clock cuts at 2 s.
WORK_LIMIT = 60_000_000
STEP = 20
FOLLOW_PASSES = 32  # loop passes followed before a growing variable is extrapolated


@dataclass(frozen=True)
class V:
    """The most a value can be: characters as text; if a list, its items and the
    characters of one item; a known upper bound when it is a number."""

    chars: int
    items: int = 0
    item: int = 0
    num: int | None = None

    def join(self, other: V) -> V:
        num = None if self.num is None or other.num is None else max(self.num, other.num)
        return V(max(self.chars, other.chars), max(self.items, other.items), max(self.item, other.item), num)


UNKNOWN = V(CONTEXT_CHARS, CONTEXT_ITEMS, CONTEXT_CHARS, None)
NESTED = V(CONTEXT_CHARS, NESTED_ITEMS, CONTEXT_CHARS, None)  # a list inside one of the view's objects
NUMBER = V(24)


@dataclass
class Cost:
    out: int = 0  # characters written (every stream: the page, captures)
    work: int = 0
    renders: int = 0

    def add(self, other: Cost, times: int = 1) -> None:
        self.out += other.out * times
        self.work += other.work * times
        self.renders += other.renders * times

    def widest(self, other: Cost) -> None:
        self.out = max(self.out, other.out)
        self.work = max(self.work, other.work)
        self.renders = max(self.renders, other.renders)


@dataclass
class Problem:
    file: str
    line: int | None
    column: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "message": self.message}


class _Stop(Exception):
    pass


@dataclass
class _Frame:
    name: str
    vars: dict[str, V] = field(default_factory=dict)


def _where(token: Any) -> tuple[int | None, int | None]:
    source = getattr(token, "source", None)
    index = getattr(token, "start_index", -1)
    if not isinstance(source, str) or index is None or index < 0:
        return None, None
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, column


class Analyser:
    """Walks one entry template (and what it renders) for its worst case."""

    def __init__(self, load: Callable[[str], list[Node] | None], names: Iterable[str] = ()) -> None:
        self.load = load
        self.names = sorted(names)
        self.problems: list[Problem] = []
        self.stack: list[str] = []
        self.memo: dict[Any, Cost] = {}
        self.quiet = 0

    # --- reporting ---------------------------------------------------------------------------
    def problem(self, token: Any, message: str) -> None:
        # (problems met while following a loop's passes are real: each pass is an iteration)
        line, column = _where(token)
        self.problems.append(Problem(self.stack[-1] if self.stack else "", line, column, message))
        if len(self.problems) >= 5:
            raise _Stop

    # --- expressions -------------------------------------------------------------------------
    def value(self, expr: Any, frame: _Frame, cost: Cost, loops: int) -> V:
        if expr is None:
            return V(0)
        if isinstance(expr, StringLiteral):
            return V(len(expr.value))
        if isinstance(expr, IntegerLiteral):
            return V(len(str(expr.value)), num=int(expr.value))
        if isinstance(expr, FloatLiteral):
            return NUMBER
        if isinstance(expr, RangeLiteral):
            start = self.value(expr.start, frame, cost, loops)
            stop = self.value(expr.stop, frame, cost, loops)
            if stop.num is not None and start.num is not None:
                count = max(0, stop.num - start.num + 1)
                width = max(len(str(stop.num)), len(str(start.num)))
            else:
                count, width = engine.SEQUENCE_LIMIT, 12
            if count > engine.SEQUENCE_LIMIT:
                self.problem(expr.token, f"a range of {count:,} items: over the limit of {engine.SEQUENCE_LIMIT:,}")
                count = engine.SEQUENCE_LIMIT
            return V(count * (width + 1), count, width, stop.num)
        if isinstance(expr, Path):
            return self.path(expr, frame)
        if isinstance(expr, FilteredExpression | TernaryFilteredExpression):
            left = self.value(expr.left, frame, cost, loops)
            if isinstance(expr, TernaryFilteredExpression):
                self.value(expr.condition, frame, cost, loops)
                left = left.join(self.value(expr.alternative, frame, cost, loops))
            for filt in list(expr.filters or []) + list(getattr(expr, "tail_filters", None) or []):
                left = self.filter(filt, left, frame, cost, loops)
            return left
        # conditions and the rest: walk what they contain (a filter inside counts)
        children = getattr(expr, "children", None)
        if callable(children):
            for child in children():
                self.value(child, frame, cost, loops)
        return NUMBER

    def path(self, expr: Path, frame: _Frame) -> V:
        """A variable the template made is what it made; the view's data is UNKNOWN at the
        top (a page of products) and NESTED below (a product's images)."""
        segments = list(expr.path)
        root = segments[0] if segments else None
        base = frame.vars.get(root) if isinstance(root, str) else None
        known = base is not None
        if base is None:
            if isinstance(root, str) and root in LARGE_CONTEXT and len(segments) == 1:
                return V(LARGE_CONTEXT[root])
            base = UNKNOWN
        depth = 0
        for segment in segments[1:]:
            if segment == "size":
                base = V(8, num=(base.items or base.chars) if known else None)
            elif known and (segment in ("first", "last") or not isinstance(segment, str)):
                base = V(base.item, 0, 0, base.num) if base.items else V(base.chars)
            else:
                base = UNKNOWN if not known and depth == 0 else NESTED
                known = False
                depth += 1
        return base

    def args(self, filt: Any, frame: _Frame, cost: Cost, loops: int) -> tuple[list[V], dict[str, V], list[Any]]:
        positional: list[V] = []
        keywords: dict[str, V] = {}
        raw: list[Any] = []
        for arg in filt.args or []:
            if isinstance(arg, KeywordArgument):
                keywords[arg.name] = self.value(arg.value, frame, cost, loops)
            else:
                inner = arg.value if isinstance(arg, PositionalArgument) else arg
                positional.append(self.value(inner, frame, cost, loops))
                raw.append(inner)
        return positional, keywords, raw

    def filter(self, filt: Any, left: V, frame: _Frame, cost: Cost, loops: int) -> V:  # noqa: C901
        name = filt.name
        args, kwargs, raw = self.args(filt, frame, cost, loops)

        def arg(i: int) -> V:
            return args[i] if len(args) > i else V(0)

        def literal(i: int) -> str | None:
            if len(raw) > i and isinstance(raw[i], StringLiteral):
                return str(raw[i].value)
            return None

        result: V
        if name in ("append", "prepend"):
            result = V(left.chars + arg(0).chars)
        elif name == "replace":
            old, new = literal(0), arg(1).chars
            old_len = len(old) if old is not None else 1
            if new <= old_len and old is not None:
                result = V(left.chars)
            else:
                count = left.chars + 1 if old == "" else left.chars // max(1, old_len)
                result = V(left.chars + count * max(0, new - (old_len if old is not None else 0)))
        elif name in ("replace_first", "replace_last"):
            result = V(left.chars + arg(1).chars)
        elif name in ("escape", "escape_once", "escapejs", "json"):
            result = V(6 * left.chars)
        elif name == "newline_to_br":
            result = V(7 * left.chars)
        elif name in ("upcase", "downcase", "capitalize"):
            result = V(3 * left.chars)
        elif name == "url_encode":
            result = V(12 * left.chars)
        elif name in ("base64_encode", "base64_url_safe_encode"):
            result = V(16 * left.chars // 3 + 4)
        elif name == "join":
            items = left.items or 1
            result = V(left.chars + arg(0).chars * max(0, items - 1) if args else left.chars + items)
        elif name == "split":
            sep = literal(0)
            parts = left.chars if not sep else left.chars // len(sep) + 1
            if parts > engine.SEQUENCE_LIMIT:
                self.problem(
                    filt.token, f"split could make {parts:,} items: over the limit of {engine.SEQUENCE_LIMIT:,}"
                )
                parts = engine.SEQUENCE_LIMIT
            result = V(left.chars, parts, left.chars)
        elif name == "concat":
            other = arg(0)
            items = left.items + other.items
            if items > engine.SEQUENCE_LIMIT:
                self.problem(
                    filt.token, f"concat could make {items:,} items: over the limit of {engine.SEQUENCE_LIMIT:,}"
                )
            result = V(left.chars + other.chars, items, max(left.item, other.item))
        elif name in ("map",):
            result = V(max(left.chars, left.items * CONTEXT_CHARS // 10), left.items, CONTEXT_CHARS)
        elif name in ("where", "reject", "compact", "sort", "sort_natural", "reverse", "uniq"):
            if name == "uniq" and left.items > engine.UNIQ_LIMIT:
                self.problem(filt.token, f"uniq on up to {left.items:,} items: over the limit of {engine.UNIQ_LIMIT:,}")
            result = left
        elif name in ("first", "last", "find"):
            result = V(left.item, 0, 0, left.num) if left.items else left
        elif name in ("size", "find_index", "has", "sum") or name in engine.MATH_FILTERS:
            num = None
            if name == "size":
                num = left.items or left.chars
            elif name in ("plus", "times") and left.num is not None and arg(0).num is not None:
                num = left.num + arg(0).num if name == "plus" else left.num * arg(0).num  # type: ignore[operator]
                if abs(num) > 10**engine.NUMBER_DIGITS:
                    self.problem(filt.token, f"{name} could make a number over the limit of 10^{engine.NUMBER_DIGITS}")
                    num = None
            elif name in ("minus", "divided_by", "at_most", "modulo", "floor", "ceil", "round", "abs"):
                num = left.num
            result = V(24, num=num)
        elif name == "default":
            result = left.join(arg(0))
        elif name == "truncatewords":
            if left.chars > engine.WORDS_INPUT_LIMIT:
                self.problem(
                    filt.token,
                    f"truncatewords on up to {left.chars:,} characters: over the limit of {engine.WORDS_INPUT_LIMIT:,}",
                )
            result = V(left.chars)
        elif name == "t":
            result = V(200 + 2 * sum(v.chars for v in kwargs.values()))
        elif name in ("money", "date"):
            result = V(200)
        elif name == "asset_url":
            result = V(300)
        else:  # strip, remove, slice, truncate, url_decode, base64_decode, safe ...: no bigger
            result = V(left.chars, left.items, left.item)
        cost.work += STEP + left.chars + result.chars
        if result.chars > engine.STRING_LIMIT and not result.items:
            self.problem(
                filt.token, f"{name} could make {result.chars:,} characters: over the limit of {engine.STRING_LIMIT:,}"
            )
            result = V(engine.STRING_LIMIT)
        return result

    # --- nodes -------------------------------------------------------------------------------
    def block(self, nodes: Iterable[Node], frame: _Frame, loops: int) -> Cost:
        cost = Cost()
        for node in nodes:
            self.node(node, frame, cost, loops)
        return cost

    def branches(self, blocks: list[Any], frame: _Frame, cost: Cost, loops: int) -> None:
        """Every branch is taken (whatever the condition); the widest one counts, and a
        variable is afterwards the most any branch left it."""
        before = dict(frame.vars)
        merged = dict(frame.vars)
        widest = Cost()
        for block in blocks:
            if block is None:
                continue
            frame.vars = dict(before)
            widest.widest(self.block(_nodes(block), frame, loops))
            for key, val in frame.vars.items():
                merged[key] = merged[key].join(val) if key in merged else val
        frame.vars = merged
        cost.add(widest)

    def node(self, node: Node, frame: _Frame, cost: Cost, loops: int) -> None:  # noqa: C901
        cost.work += STEP
        if isinstance(node, ContentNode):
            cost.out += len(node.text)
        elif isinstance(node, OutputNode):  # also echo
            cost.out += self.value(node.expression, frame, cost, loops).chars
        elif isinstance(node, AssignNode):
            frame.vars[str(node.name)] = self.value(node.expression, frame, cost, loops)
            held = sum(v.chars + 8 * v.items for v in frame.vars.values())
            if held > engine.NAMESPACE_LIMIT:
                self.problem(
                    node.token, f"variables could hold {held:,} bytes: over the limit of {engine.NAMESPACE_LIMIT:,}"
                )
        elif isinstance(node, CaptureNode):
            inner = self.block(_nodes(node.block), frame, loops)
            cost.add(inner)
            frame.vars[str(node.name)] = V(min(inner.out, engine.OUTPUT_LIMIT))
        elif isinstance(node, IfNode | UnlessNode):
            self.value(node.condition, frame, cost, loops)
            blocks: list[Any] = [node.consequence]
            for alt in node.alternatives or []:
                if isinstance(alt, ConditionalBlockNode):
                    self.value(alt.expression, frame, cost, loops)
                blocks.append(alt)
            blocks.append(node.default)
            self.branches(blocks, frame, cost, loops)
        elif isinstance(node, CaseNode):
            self.value(node.expression, frame, cost, loops)
            self.branches(list(node.blocks) + [None], frame, cost, loops)
        elif isinstance(node, ForNode | TablerowNode):
            self.loop(node, frame, cost, loops)
        elif isinstance(node, LiquidNode):
            cost.add(self.block(_nodes(node.block), frame, loops))
        elif isinstance(node, RenderNode):
            self.render(node, frame, cost, loops)
        elif isinstance(node, IncludeNode):
            self.include(node, frame, cost, loops)
        else:  # cycle, increment, comment, break, ...: what they evaluate; their blocks
            for expr in node.expressions():
                self.value(expr, frame, cost, loops)
            for child in _child_blocks(node):
                cost.add(self.block(_nodes(child), frame, loops))

    def loop(self, node: ForNode | TablerowNode, frame: _Frame, cost: Cost, loops: int) -> None:
        expression = getattr(node.expression, "inner", node.expression)
        over = self.value(expression.iterable, frame, cost, loops)
        count = over.items if over.items else 1
        limit = self.value(expression.limit, frame, cost, loops) if expression.limit is not None else None
        if limit is not None and limit.num is not None:
            count = min(count, max(0, limit.num))
        if expression.offset is not None:
            self.value(expression.offset, frame, cost, loops)
        total = loops * max(1, count)
        if total > engine.LOOP_LIMIT:
            self.problem(
                node.token,
                f"loops could run {total:,} times (nested loops multiply): over the limit of {engine.LOOP_LIMIT:,}",
            )
            count = max(1, engine.LOOP_LIMIT // max(1, loops))
            total = engine.LOOP_LIMIT
        item = V(over.item, 0, 0, over.num) if over.items else UNKNOWN
        name = str(expression.identifier)
        body = node.block
        extra = [node.default] if isinstance(node, ForNode) and node.default is not None else []
        # follow variables the body changes until they settle; extrapolate what keeps growing
        self.quiet += 1
        passes = 0
        try:
            while passes < min(count, FOLLOW_PASSES):
                before = dict(frame.vars)
                frame.vars[name] = item
                frame.vars["forloop"] = NUMBER
                self.block(_nodes(body), frame, total)
                passes += 1
                for key, val in before.items():
                    if key in frame.vars:
                        frame.vars[key] = frame.vars[key].join(val)
                if frame.vars == {**before, name: item, "forloop": NUMBER} or frame.vars == before:
                    break
            else:
                if passes < count:
                    last = dict(frame.vars)
                    frame.vars[name] = item
                    self.block(_nodes(body), frame, total)
                    remaining = count - passes - 1
                    for key, val in frame.vars.items():
                        old = last.get(key)
                        if old is not None and (val.chars > old.chars or val.items > old.items):
                            frame.vars[key] = V(
                                val.chars + (val.chars - old.chars) * remaining,
                                val.items + (val.items - old.items) * remaining,
                                val.item,
                                None,
                            )
        finally:
            self.quiet -= 1
        frame.vars[name] = item
        frame.vars["forloop"] = NUMBER
        inner = self.block(_nodes(body), frame, total)
        cost.add(inner, max(1, count))
        cost.work += STEP * count
        for block in extra:
            cost.add(self.block(_nodes(block), frame, loops))

    def _template(self, token: Any, name: str) -> list[Node] | None:
        if name in self.stack:
            self.problem(token, f"{name} renders itself (recursive render/include is not allowed)")
            return None
        if len(self.stack) >= engine.CONTEXT_DEPTH:
            self.problem(token, f"render/include nested deeper than {engine.CONTEXT_DEPTH}")
            return None
        try:
            nodes = self.load(name)
        except LiquidError as exc:
            self.problem(token, f"{name}: {str(getattr(exc, 'message', exc)).splitlines()[0]}")
            return None
        if nodes is None:
            self.problem(token, f"no template called {name}")
        return nodes

    def render(self, node: RenderNode, frame: _Frame, cost: Cost, loops: int) -> None:
        name = _literal_name(node.name)
        args = {str(a.name): self.value(a.value, frame, cost, loops) for a in node.args}
        times = 1
        if node.var is not None:
            bound = self.value(node.var, frame, cost, loops)
            alias = str(node.alias) if node.alias else (name or "").rsplit("/", 1)[-1]
            if node.loop:
                times = bound.items or 1
                args[alias] = V(bound.item, 0, 0, bound.num) if bound.items else UNKNOWN
            else:
                args[alias] = bound
        total = loops * times
        if total > engine.LOOP_LIMIT:
            self.problem(
                node.token, f"renders in loops could run {total:,} times: over the limit of {engine.LOOP_LIMIT:,}"
            )
            times = 1
        candidates = [name] if name else [n for n in self.names if n.startswith("sections/")]
        widest = Cost()
        for candidate in candidates:
            key = (candidate, tuple(sorted(args.items())), total, bool(self.quiet))
            found = self.memo.get(key)
            if found is None:
                nodes = self._template(node.token, candidate)
                if nodes is None:
                    continue
                self.stack.append(candidate)
                try:
                    found = self.block(nodes, _Frame(candidate, dict(args)), total)
                finally:
                    self.stack.pop()
                self.memo[key] = found
            widest.widest(found)
        widest.renders += 1
        cost.add(widest, times)

    def include(self, node: IncludeNode, frame: _Frame, cost: Cost, loops: int) -> None:
        name = _literal_name(node.name)
        if name is None:
            self.value(node.name, frame, cost, loops)
        for a in node.args:
            frame.vars[str(a.name)] = self.value(a.value, frame, cost, loops)
        times = 1
        if node.var is not None:
            bound = self.value(node.var, frame, cost, loops)
            alias = str(node.alias) if node.alias else (name or "").rsplit("/", 1)[-1]
            frame.vars[alias] = V(bound.item, 0, 0, bound.num) if bound.items else bound
            times = bound.items or 1
        candidates = [name] if name else [n for n in self.names if n.startswith("sections/")]
        blocks = []
        for candidate in candidates:
            nodes = self._template(node.token, candidate)
            if nodes is not None:
                blocks.append((candidate, nodes))
        before = dict(frame.vars)
        merged = dict(frame.vars)
        widest = Cost()
        for candidate, nodes in blocks:
            frame.vars = dict(before)
            self.stack.append(candidate)
            try:
                widest.widest(self.block(nodes, frame, loops * times))
            finally:
                self.stack.pop()
            for key, val in frame.vars.items():
                merged[key] = merged[key].join(val) if key in merged else val
        frame.vars = merged
        widest.renders += 1
        cost.add(widest, times)

    # --- an entry --------------------------------------------------------------------------
    def entry(self, name: str) -> Cost:
        nodes = self.load(name)
        if nodes is None:
            return Cost()
        self.stack = [name]
        try:
            cost = self.block(nodes, _Frame(name), 1)
        except _Stop:
            return Cost()
        if cost.out > engine.OUTPUT_LIMIT:
            self.problem_at_file(
                name, f"could write {cost.out:,} characters: over the limit of {engine.OUTPUT_LIMIT:,}"
            )
        if cost.work > WORK_LIMIT:
            self.problem_at_file(
                name,
                f"could take too long ({cost.work:,} units of work in the worst case: over the limit of {WORK_LIMIT:,})",
            )
        if cost.renders > engine.RENDER_LIMIT:
            self.problem_at_file(
                name, f"could render snippets {cost.renders:,} times: over the limit of {engine.RENDER_LIMIT:,}"
            )
        return cost

    def problem_at_file(self, name: str, message: str) -> None:
        self.problems.append(Problem(name, None, None, message))


def _nodes(block: Any) -> list[Node]:
    if block is None:
        return []
    if isinstance(block, BlockNode):
        return list(block.nodes)
    if isinstance(block, ConditionalBlockNode):
        return _nodes(block.block)
    inner = getattr(block, "block", None)
    if inner is not None:
        return _nodes(inner)
    if isinstance(block, list):
        return block
    return [block]


def _child_blocks(node: Node) -> list[Any]:
    return [getattr(node, attr) for attr in ("block", "default") if isinstance(getattr(node, attr, None), BlockNode)]


def _literal_name(expr: Any) -> str | None:
    if isinstance(expr, StringLiteral):
        return engine.normalise(str(expr.value))
    if isinstance(expr, str):
        return engine.normalise(expr)
    return None


def worst_case(
    layers: list[tuple[str, Mapping[str, str]]], entries: Iterable[str]
) -> tuple[list[Problem], dict[str, Cost]]:
    """Problems of ``entries`` (template names) rendered through ``layers``, and each
    entry's worst-case cost."""
    env = engine.SandboxEnvironment(loader=engine.LayeredLoader(layers))
    names: set[str] = set()
    for _origin, files in layers:
        names.update(files)

    def load(name: str) -> list[Node] | None:
        if name not in names:
            return None
        return list(env.get_template(name).nodes)

    costs: dict[str, Cost] = {}
    problems: list[Problem] = []
    for entry in entries:
        analyser = Analyser(load, names)
        costs[entry] = analyser.entry(engine.normalise(entry))
        problems.extend(analyser.problems)
        if problems:
            break
    return problems, costs


def entries_for(layers: list[tuple[str, Mapping[str, str]]], name: str) -> list[str]:
    """The templates a page can start from (the layout and every page template), with
    ``name`` first — a snippet is checked where it is used."""
    names: set[str] = set()
    for _origin, files in layers:
        names.update(files)
    pages = sorted(n for n in names if n.startswith(("layout/", "templates/")))
    return [name, *[n for n in pages if n != name]]
