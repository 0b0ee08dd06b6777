"""The sandboxed Liquid engine every storefront page renders through.

Layers, first match wins: the shop's published overrides (custom tier) → the theme
version's own files → the base theme version it was published against. Templates see
only what the view hands them — plain mappings and lists built for the page (shop, page,
product, collection, cart, customer, distributor, settings, translations): python-liquid
cannot reach Python attributes, and loaders read only these in-memory layers, so there is
no file system, network or ORM access from a template.

Limits (a page's budget, see the constants): every filter, range and string operation has
the size of what it would make predicted from its inputs and refused before the work is
done; loop iterations (nested loops multiplied), output, variables, render/include calls
and wall-clock time (checked on every lookup, loop step, filter call, write and render)
are capped, so one merchant's template cannot tie up the workers every shop shares.
``themes.analysis`` checks the same worst cases statically when an override is saved.
Output is auto-escaped; only values the server marked safe (sanitised rich text) pass
through as HTML.

Parsed templates are cached per layer stack: theme layers by version id (shared by every
shop on that version), override layers by (shop, override revision) — a publish changes
the revision, so the next render parses afresh and the old entry ages out of the LRU.
"""

from __future__ import annotations

import contextvars
import json
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from io import StringIO
from typing import Any

import nh3
from liquid import BoundTemplate, Environment, RenderContext
from liquid.builtin.expressions.primitive import RangeLiteral
from liquid.builtin.loaders.mixins import CachingLoaderMixin
from liquid.builtin.tags.for_tag import ForTag
from liquid.builtin.tags.tablerow_tag import TablerowTag
from liquid.exceptions import (
    LiquidError,
    LocalNamespaceLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
    TemplateNotFoundError,
)
from liquid.filter import with_context
from liquid.loader import BaseLoader, TemplateSource
from liquid.output import LimitedStringIO
from markupsafe import Markup

from platform_core.money import format_money

# The budget of one page view (the page template and the layout around it). Every size is
# checked from the inputs BEFORE the work that would produce it is done; time is checked on
# every lookup, loop step, filter call, write and render/include, so a render that runs over
# is cut off (the storefront then serves the theme's own template and tells the merchant).
LOOP_LIMIT = 20_000  # iterations, nested loops multiplied (through render too)
SEQUENCE_LIMIT = 20_000  # items of any range or list a template makes
STRING_LIMIT = 500_000  # characters of any string a filter makes
UNIQ_LIMIT = 2_000  # uniq compares every item with every other
WORDS_INPUT_LIMIT = 100_000  # characters truncatewords splits into words
NUMBER_DIGITS = 60  # magnitude of numbers the math filters take (10**60)
OUTPUT_LIMIT = 2_000_000  # characters of one output stream (the page, a capture)
OUTPUT_BUDGET = 10_000_000  # bytes written to all of a page's streams together
NAMESPACE_LIMIT = 2_000_000  # bytes held by a template's variables (strings and lists counted deep)
RENDER_LIMIT = 1_000  # render/include calls per page
CONTEXT_DEPTH = 20  # nested render/include
RENDER_SECONDS = 2.0
MEMORY_BUDGET = 20 * 1024 * 1024  # what the limits above add up to, at most, per render
ENV_CACHE_SIZE = 128


class SandboxLimitError(ResourceLimitError):
    """A template asked for more than the page's budget allows."""


class RenderTimeout(SandboxLimitError):
    """The template ran longer than RENDER_SECONDS."""


@dataclass
class RenderState:
    currency: str = "CNY"
    assets: Mapping[str, str] = field(default_factory=dict)
    strings: Callable[[str], str] = str
    deadline: float = 0.0
    written: int = 0  # bytes written to every stream of this page
    renders: int = 0  # render/include calls

    def begin(self, seconds: float = RENDER_SECONDS) -> None:
        """Start this page's budget (again: the theme's own template gets a fresh one when
        an override failed)."""
        self.deadline = time.monotonic() + seconds
        self.written = 0
        self.renders = 0


_state: contextvars.ContextVar[RenderState] = contextvars.ContextVar("theme_render_state")


def _check_deadline() -> None:
    state = _state.get(None)
    if state is not None and state.deadline and time.monotonic() > state.deadline:
        raise RenderTimeout(f"render time limit reached ({RENDER_SECONDS:g} s)", token=None)


def _limit(message: str) -> SandboxLimitError:
    if "limit" not in message:
        message += ": over the sandbox's limit"
    return SandboxLimitError(message, token=None)


def _width(text: str) -> int:
    """Bytes a string may take in memory (1 for ASCII, at most 4 otherwise)."""
    return 1 if text.isascii() else 4


def deep_size(value: Any, depth: int = 0) -> int:
    """Bytes a template variable holds: strings and lists counted with their items;
    mappings are the view's own objects, shared rather than copied, so counted flat."""
    if isinstance(value, str):
        return 50 + len(value) * _width(value)
    if isinstance(value, range):
        return 48
    if isinstance(value, list | tuple):
        total = 56 + 8 * len(value)
        if depth < 4:
            for item in value:
                total += deep_size(item, depth + 1)
                if total > NAMESPACE_LIMIT:
                    break
        return total
    if isinstance(value, Mapping):
        return 64
    return sys.getsizeof(value, 64)


class BudgetIO(LimitedStringIO):
    """An output stream counting characters against its own limit and bytes against the
    page's budget, before it takes the text."""

    def write(self, text: str) -> int:
        if text:
            _check_deadline()
            self.size += len(text)
            if self.size > self.limit:
                raise OutputStreamLimitError(f"output limit reached ({OUTPUT_LIMIT:,} characters)", token=None)
            state = _state.get(None)
            if state is not None:
                state.written += len(text) * _width(text)
                if state.written > OUTPUT_BUDGET:
                    raise _limit(f"page output budget reached ({OUTPUT_BUDGET // 1_000_000} MB)")
        return StringIO.write(self, text)


class SandboxContext(RenderContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sizes: dict[str, int] = {}

    def get_item(self, obj: Any, key: Any) -> Any:
        _check_deadline()
        return super().get_item(obj, key)

    def raise_for_loop_limit(self, length: int = 1) -> None:
        _check_deadline()
        super().raise_for_loop_limit(length)

    def assign(self, key: str, val: Any) -> None:
        _check_deadline()
        self.sizes[key] = deep_size(val)
        if self.get_size_of_locals() > NAMESPACE_LIMIT:
            raise LocalNamespaceLimitError(
                f"variables limit reached ({NAMESPACE_LIMIT // 1_000_000} MB): '{key}' is too big", token=None
            )
        self.locals[key] = val

    def get_size_of_locals(self) -> int:
        return sum(self.sizes.values()) + self.local_namespace_size_carry

    def copy(self, *args: Any, **kwargs: Any) -> RenderContext:
        _check_deadline()
        state = _state.get(None)
        if state is not None:
            state.renders += 1
            if state.renders > RENDER_LIMIT:
                raise _limit(f"render limit reached ({RENDER_LIMIT:,} renders of snippets per page)")
        return super().copy(*args, **kwargs)

    def extend(self, namespace: Mapping[str, object], template: Any = None) -> Any:
        if template is not None:  # include: a partial in the same scope
            _check_deadline()
            state = _state.get(None)
            if state is not None:
                state.renders += 1
                if state.renders > RENDER_LIMIT:
                    raise _limit(f"render limit reached ({RENDER_LIMIT:,} renders of snippets per page)")
        return super().extend(namespace, template)

    def get_buffer(self, buf: Any = None) -> StringIO:
        carry = buf.size if isinstance(buf, LimitedStringIO) else 0
        return BudgetIO(limit=OUTPUT_LIMIT - carry)


class SandboxTemplate(BoundTemplate):
    context_class = SandboxContext

    def _get_buffer(self) -> StringIO:
        return BudgetIO(limit=OUTPUT_LIMIT)


def _ticking(items: Iterator[Any]) -> Iterator[Any]:
    for item in items:
        _check_deadline()
        yield item


class _CheckedLoop:
    """A loop expression whose iterations each check the clock."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __str__(self) -> str:
        return str(self.inner)

    def evaluate(self, context: RenderContext) -> tuple[Iterator[Any], int]:
        items, length = self.inner.evaluate(context)
        return _ticking(items), length


class SandboxForTag(ForTag):
    def parse(self, stream: Any) -> Any:
        node: Any = super().parse(stream)
        node.expression = _CheckedLoop(node.expression)
        return node


class SandboxTablerowTag(TablerowTag):
    def parse(self, stream: Any) -> Any:
        node: Any = super().parse(stream)
        node.expression = _CheckedLoop(node.expression)
        return node


_make_range = RangeLiteral._make_range


def _bounded_range(self: RangeLiteral, start: Any, stop: Any) -> range:
    """Ranges are lazy, but what consumes them (output, join, ...) is not: refuse a range
    longer than SEQUENCE_LIMIT where it is made. (Only the sandbox uses python-liquid.)"""
    made = _make_range(self, start, stop)
    if made.stop - made.start > SEQUENCE_LIMIT:
        raise SandboxLimitError(
            f"range of {made.stop - made.start:,} items: over the limit of {SEQUENCE_LIMIT:,}", token=self.token
        )
    return made


RangeLiteral._make_range = _bounded_range  # type: ignore[method-assign]


# --- filters: the size of what each one makes, from its inputs, before it runs ----------------------
def text_length(value: Any, cap: int = STRING_LIMIT + 1) -> int:
    """Characters ``value`` makes as text (an upper estimate; stops counting past ``cap``)."""
    if isinstance(value, str):
        return len(value)
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if isinstance(value, float | Decimal):
        return 40
    if isinstance(value, range):
        return len(value) * (len(str(max(abs(value.start), abs(value.stop)))) + 3)
    if isinstance(value, list | tuple):
        total = 2
        for item in value:
            total += text_length(item, cap) + 4
            if total > cap:
                break
        return total
    if isinstance(value, Mapping):
        total = 2
        for key, item in value.items():
            total += text_length(key, cap) + text_length(item, cap) + 6
            if total > cap:
                break
        return total
    return 32


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if text_length(value) > STRING_LIMIT:
        raise _limit(f"an argument is longer than {STRING_LIMIT:,} characters")
    return "" if value is None else str(value)


def _items(value: Any) -> int:
    if isinstance(value, range):
        return max(0, value.stop - value.start)
    if isinstance(value, list | tuple):
        return len(value)
    return 1


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = "") -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _number_ok(value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if value.bit_length() > NUMBER_DIGITS * 10 // 3:
            raise _limit(f"a number larger than 10^{NUMBER_DIGITS}")
        return
    if isinstance(value, Decimal):
        if value.is_finite() and (value.adjusted() > NUMBER_DIGITS or len(value.as_tuple().digits) > 2 * NUMBER_DIGITS):
            raise _limit(f"a number larger than 10^{NUMBER_DIGITS}")
        return
    if isinstance(value, str):
        if len(value) > 2 * NUMBER_DIGITS:
            raise _limit(f"a number of more than {2 * NUMBER_DIGITS} characters")
        try:
            _number_ok(Decimal(value.strip()))
        except (InvalidOperation, ValueError):
            return


def _predict(name: str, left: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """Characters (or items) the filter ``name`` can make from these inputs; raises when
    that is over the limit. 0: the filter makes nothing bigger than its input."""
    if name in SEQUENCE_FILTERS:
        if _items(left) > SEQUENCE_LIMIT:
            raise _limit(f"{name}: more than {SEQUENCE_LIMIT:,} items")
        if name == "uniq" and _items(left) > UNIQ_LIMIT:
            raise _limit(f"uniq: more than {UNIQ_LIMIT:,} items")
        if name == "concat":
            total = _items(left) + _items(_arg(args, kwargs, 0, "", []))
            if total > SEQUENCE_LIMIT:
                raise _limit(f"concat would make {total:,} items: over the limit of {SEQUENCE_LIMIT:,}")
        return 0
    if name in MATH_FILTERS:
        _number_ok(left)
        for value in (*args, *kwargs.values()):
            _number_ok(value)
        if name == "round" and args:
            try:
                if abs(int(args[0])) > NUMBER_DIGITS:
                    raise _limit(f"round to at most {NUMBER_DIGITS} places")
            except (TypeError, ValueError):
                pass
        return 0
    if name in SAME_SIZE_FILTERS:
        return 0
    size = text_length(left)
    if name in ("append", "prepend"):
        return size + text_length(_arg(args, kwargs, 0, ""))
    if name == "replace":
        old, new = _text(_arg(args, kwargs, 0, "")), _text(_arg(args, kwargs, 1, ""))
        if len(new) <= len(old):
            return size
        text = left if isinstance(left, str) else None
        if text is None and size > STRING_LIMIT:
            raise _limit(f"replace on a value of more than {STRING_LIMIT:,} characters")
        text = text if text is not None else _text(left)
        count = text.count(old) if old else len(text) + 1
        return len(text) + count * (len(new) - len(old))
    if name in ("replace_first", "replace_last"):
        return size + len(_text(_arg(args, kwargs, 1, "")))
    if name in ("escape", "escape_once"):
        if isinstance(left, str):
            return (
                size
                + 4 * left.count("&")
                + 3 * (left.count("<") + left.count(">"))
                + 5 * left.count('"')
                + 4 * left.count("'")
            )
        return 6 * size
    if name == "newline_to_br":
        return size + 6 * left.count("\n") if isinstance(left, str) else 7 * size
    if name in ("upcase", "downcase", "capitalize"):
        return 3 * size
    if name in ("url_encode",):
        return 3 * size if isinstance(left, str) and left.isascii() else 12 * size
    if name in ("base64_encode", "base64_url_safe_encode"):
        return (4 * size * (1 if isinstance(left, str) and left.isascii() else 4)) // 3 + 4
    if name in ("escapejs", "json"):
        return 6 * size
    if name == "join":
        if _items(left) > SEQUENCE_LIMIT:
            raise _limit(f"join: more than {SEQUENCE_LIMIT:,} items")
        separator = _text(_arg(args, kwargs, 0, " "))
        return text_length(left) + len(separator) * max(0, _items(left) - 1)
    if name == "split":
        text = _text(left)
        separator = _arg(args, kwargs, 0, "")
        if separator is None or separator == "" or not isinstance(separator, str | int | float | Decimal):
            parts = len(text)
        else:
            sep = str(separator)
            parts = len(text.split(None if sep == " " else sep, SEQUENCE_LIMIT))
        if parts > SEQUENCE_LIMIT:
            raise _limit(f"split would make more than {SEQUENCE_LIMIT:,} items")
        return 0
    if name == "truncatewords":
        if size > WORDS_INPUT_LIMIT:
            raise _limit(f"truncatewords on more than {WORDS_INPUT_LIMIT:,} characters")
        return 0
    if name == "date":
        if size > 200 or text_length(_arg(args, kwargs, 0, "")) > 200:
            raise _limit("date takes a date and a format of at most 200 characters")
        return 0
    if name == "t":
        params = sum(text_length(v) for v in kwargs.values())
        return 200 + 8 * params
    if name == "safe":
        return 6 * size if not isinstance(left, Markup) else 0
    raise _limit(f"filter {name} has no size bound")  # a new filter must be given one


# Filters that make nothing larger than their input (or a value of fixed size).
SAME_SIZE_FILTERS = frozenset(
    {
        "size",
        "first",
        "last",
        "default",
        "strip",
        "lstrip",
        "rstrip",
        "squish",
        "strip_html",
        "strip_newlines",
        "remove",
        "remove_first",
        "remove_last",
        "slice",
        "truncate",
        "url_decode",
        "base64_decode",
        "base64_url_safe_decode",
        "money",
        "asset_url",
    }
)
SEQUENCE_FILTERS = frozenset(
    {
        "compact",
        "concat",
        "find",
        "find_index",
        "has",
        "map",
        "reject",
        "reverse",
        "sort",
        "sort_natural",
        "sum",
        "uniq",
        "where",
    }
)
MATH_FILTERS = frozenset(
    {"abs", "at_least", "at_most", "ceil", "divided_by", "floor", "minus", "modulo", "plus", "round", "times"}
)
SIZED_FILTERS = frozenset(
    {
        "append",
        "prepend",
        "replace",
        "replace_first",
        "replace_last",
        "escape",
        "escape_once",
        "newline_to_br",
        "upcase",
        "downcase",
        "capitalize",
        "url_encode",
        "base64_encode",
        "base64_url_safe_encode",
        "escapejs",
        "json",
        "join",
        "split",
        "truncatewords",
        "date",
        "t",
        "safe",
    }
)
BOUNDED_FILTERS = SAME_SIZE_FILTERS | SEQUENCE_FILTERS | MATH_FILTERS | SIZED_FILTERS


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(left: Any, /, *args: Any, **kwargs: Any) -> Any:  # "left" may be a keyword of the filter
        _check_deadline()
        plain = {k: v for k, v in kwargs.items() if k not in ("context", "environment")}
        predicted = _predict(name, left, args, plain)
        if predicted > STRING_LIMIT:
            raise _limit(f"{name} would make {predicted:,} characters: over the limit of {STRING_LIMIT:,}")
        result = func(left, *args, **kwargs)
        if isinstance(result, str) and len(result) > STRING_LIMIT:  # the prediction's safety net
            raise _limit(f"{name} made more than {STRING_LIMIT:,} characters")
        if isinstance(result, list) and len(result) > SEQUENCE_LIMIT:
            raise _limit(f"{name} made more than {SEQUENCE_LIMIT:,} items")
        return result

    for attr in ("with_context", "with_environment", "validate"):
        if hasattr(func, attr):
            setattr(guarded, attr, getattr(func, attr))
    guarded.__name__ = f"guarded_{name}"
    return guarded


class SandboxEnvironment(Environment):
    loop_iteration_limit = LOOP_LIMIT
    output_stream_limit = OUTPUT_LIMIT
    local_namespace_limit = NAMESPACE_LIMIT
    context_depth_limit = CONTEXT_DEPTH
    template_class = SandboxTemplate

    def __init__(self, loader: BaseLoader | None = None) -> None:
        super().__init__(loader=loader, autoescape=True, strict_filters=True)
        self.add_tag(SandboxForTag)
        self.add_tag(SandboxTablerowTag)
        self.add_filter("money", _money)
        self.add_filter("t", _translate)
        self.add_filter("asset_url", _asset_url)
        self.add_filter("json", _json)
        self.add_filter("safe", _safe)  # not python-liquid's: only sanitised HTML passes
        for name, func in list(self.filters.items()):
            self.filters[name] = _guarded(name, func)


def _money(value: Any, currency: Any = None) -> str:
    state = _state.get(None)
    try:
        fen = int(value)
    except (TypeError, ValueError):
        return ""
    return format_money(fen, str(currency or (state.currency if state else "CNY")))


def _translate(key: Any, **params: Any) -> str:
    state = _state.get(None)
    text = state.strings(str(key)) if state else str(key)
    if params:
        try:
            text = text % {k: str(v) for k, v in params.items()}
        except (KeyError, ValueError, TypeError):
            pass
    return text


def _asset_url(name: Any) -> str:
    state = _state.get(None)
    return str(state.assets.get(str(name), "")) if state else ""


@with_context
def _json(value: Any, *, context: RenderContext) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


SAFE_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "hr", "i", "img", "li",
    "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
SAFE_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "*": {"class"}}


def _safe(value: Any) -> Markup:
    """``safe`` in the sandbox: HTML the server already sanitised passes as it is; anything
    else is sanitised by nh3 first (no script, style, event handlers, forms or frames; links
    only to http(s), mailto and tel), so ``{{ request.q | safe }}`` cannot reflect a script."""
    if isinstance(value, Markup):
        return value
    return Markup(
        nh3.clean(
            "" if value is None else str(value),
            tags=SAFE_TAGS,
            attributes=SAFE_ATTRIBUTES,
            url_schemes={"http", "https", "mailto", "tel"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    )


def normalise(name: str) -> str:
    name = str(name).strip()
    return name[:-7] if name.endswith(".liquid") else name


class LayeredLoader(CachingLoaderMixin, BaseLoader):
    """Looks a template name up in each layer (a dict name → source) in order."""

    def __init__(self, layers: list[tuple[str, Mapping[str, str]]]) -> None:
        super().__init__(auto_reload=False, capacity=400, thread_safe=True)
        self.layers = layers

    def get_source(self, env: Environment, template_name: str, **kwargs: object) -> TemplateSource:
        name = normalise(template_name)
        for origin, files in self.layers:
            if name in files:
                return TemplateSource(files[name], f"{origin}:{name}", None)
        raise TemplateNotFoundError(name, token=None)

    def origin_of(self, name: str) -> str | None:
        for origin, files in self.layers:
            if normalise(name) in files:
                return origin
        return None


_envs: OrderedDict[Any, SandboxEnvironment] = OrderedDict()
_envs_lock = threading.Lock()


def environment(key: Any, layers: Callable[[], list[tuple[str, Mapping[str, str]]]]) -> SandboxEnvironment:
    """The (cached) environment for a layer stack identified by ``key``."""
    with _envs_lock:
        env = _envs.get(key)
        if env is not None:
            _envs.move_to_end(key)
            return env
    env = SandboxEnvironment(loader=LayeredLoader(layers()))
    with _envs_lock:
        _envs[key] = env
        while len(_envs) > ENV_CACHE_SIZE:
            _envs.popitem(last=False)
    return env


def drop_environments(predicate: Callable[[Any], bool]) -> None:
    with _envs_lock:
        for key in [k for k in _envs if predicate(k)]:
            del _envs[key]


def render(env: SandboxEnvironment, name: str, context: dict[str, Any], state: RenderState) -> str:
    """Render ``name``; the budget is the page's: a state already begun (the page template
    rendered before its layout) keeps its clock and counters."""
    if not state.deadline:
        state.begin()
    token = _state.set(state)
    try:
        template = env.get_template(normalise(name))
        return template.render(**context)
    except LiquidError as exc:
        if not exc.template_name:  # name the template the error is in (a snippet, the layout)
            exc.template_name = _source_name(env, exc) or normalise(name)
        raise
    finally:
        _state.reset(token)


def _source_name(env: SandboxEnvironment, exc: LiquidError) -> str | None:
    source = getattr(exc.token, "source", None)
    loader = env.loader
    if source is None or not isinstance(loader, LayeredLoader):
        return None
    for _origin, files in loader.layers:
        for file, text in files.items():
            if text == source:
                return file
    return None


@dataclass
class TemplateProblem:
    file: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "") + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "message": self.message}


def describe(exc: BaseException, default_name: str, source: str | None = None) -> TemplateProblem:
    """Where and what: file and line of a Liquid error (falls back to the last line when
    the parser ran off the end of the file)."""
    message = str(getattr(exc, "message", exc)).splitlines()[0] if str(exc) else type(exc).__name__
    line = column = None
    name = default_name
    if isinstance(exc, LiquidError):
        if exc.template_name:
            name = str(exc.template_name).split(":", 1)[-1]
        ctx = exc.context()
        if ctx is not None:
            line, column = ctx[0], ctx[1]
        elif source is not None and name == default_name:
            line = max(1, source.count("\n") + 1)
    return TemplateProblem(name, line, column, message)


def check_source(name: str, source: str) -> str | None:
    """Parse ``source`` under the sandbox; a readable problem, or None when it parses."""
    try:
        SandboxEnvironment().from_string(source, name=name)
    except LiquidError as exc:
        return str(describe(exc, name, source))
    return None


def safe(html: str) -> Markup:
    """Mark server-sanitised HTML (rich text blocks) as safe for output."""
    return Markup(html)
