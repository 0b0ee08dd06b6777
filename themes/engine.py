"""The sandboxed Liquid engine every storefront page renders through.

Layers, first match wins: the shop's published overrides (custom tier) → the theme
version's own files → the base theme version it was published against. Templates see
only what the view hands them — plain mappings and lists built for the page (shop, page,
product, collection, cart, customer, distributor, settings, translations): python-liquid
cannot reach Python attributes, and loaders read only these in-memory layers, so there is
no file system, network or ORM access from a template.

Limits: loop iterations, output size, context depth, local namespace size, and wall-clock
render time (checked on every variable lookup and loop). Output is auto-escaped; only
values the server marked safe (sanitised rich text) pass through as HTML.

Parsed templates are cached per layer stack: theme layers by version id (shared by every
shop on that version), override layers by (shop, override revision) — a publish changes
the revision, so the next render parses afresh and the old entry ages out of the LRU.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from liquid import BoundTemplate, Environment, RenderContext
from liquid.builtin.loaders.mixins import CachingLoaderMixin
from liquid.exceptions import LiquidError, ResourceLimitError, TemplateNotFoundError
from liquid.filter import with_context
from liquid.loader import BaseLoader, TemplateSource
from markupsafe import Markup

from platform_core.money import format_money

LOOP_LIMIT = 20_000
OUTPUT_LIMIT = 3_000_000  # characters
NAMESPACE_LIMIT = 500_000  # bytes of locals
RENDER_SECONDS = 2.0
ENV_CACHE_SIZE = 128


class RenderTimeout(ResourceLimitError):
    """The template ran longer than RENDER_SECONDS."""


@dataclass
class RenderState:
    currency: str = "CNY"
    assets: Mapping[str, str] = field(default_factory=dict)
    strings: Callable[[str], str] = str
    deadline: float = 0.0


_state: contextvars.ContextVar[RenderState] = contextvars.ContextVar("theme_render_state")


def _check_deadline() -> None:
    state = _state.get(None)
    if state is not None and state.deadline and time.monotonic() > state.deadline:
        raise RenderTimeout("render time limit reached", token=None)


class SandboxContext(RenderContext):
    def get_item(self, obj: Any, key: Any) -> Any:
        _check_deadline()
        return super().get_item(obj, key)

    def raise_for_loop_limit(self, length: int = 1) -> None:
        _check_deadline()
        super().raise_for_loop_limit(length)


class SandboxTemplate(BoundTemplate):
    context_class = SandboxContext


class SandboxEnvironment(Environment):
    loop_iteration_limit = LOOP_LIMIT
    output_stream_limit = OUTPUT_LIMIT
    local_namespace_limit = NAMESPACE_LIMIT
    context_depth_limit = 20
    template_class = SandboxTemplate

    def __init__(self, loader: BaseLoader | None = None) -> None:
        super().__init__(loader=loader, autoescape=True, strict_filters=True)
        self.add_filter("money", _money)
        self.add_filter("t", _translate)
        self.add_filter("asset_url", _asset_url)
        self.add_filter("json", _json)


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
    state.deadline = time.monotonic() + RENDER_SECONDS
    token = _state.set(state)
    try:
        template = env.get_template(normalise(name))
        return template.render(**context)
    finally:
        _state.reset(token)


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
