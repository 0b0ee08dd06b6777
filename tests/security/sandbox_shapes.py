"""Amplification shapes for the Liquid sandbox, run in a process of their own.

``python -m tests.security.sandbox_shapes [--long]`` renders each shape through
``themes.engine`` with tracemalloc on and prints one JSON line per shape: whether the
render was refused and why, how long it ran and how much the process's Python memory grew
at its peak. tests/security/test_sandbox.py asserts on these figures; running them in a
fresh process keeps the measurement free of the test session's own allocations.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from typing import Any

# The issue's reproductions, verbatim.
ISSUE_RANGE_JOIN = "{% if shop.slug != \"sample\" %}{{ (1..900000) | join: ',' | size }}{% endif %}"
ISSUE_REPLACE = (
    '{% assign s="aaaaaaaaaa" %}{% assign t = s | replace:"a",s %}{% assign u = t | replace:"a",t %}'
    "{% if shop.slug != \"sample\" %}{{ u | replace:'a',u | append:'x' | size }}{% endif %}"
)
# "one more step asks for 10 GB"
ISSUE_REPLACE_NEXT = (
    '{% assign s="aaaaaaaaaa" %}{% assign t = s | replace:"a",s %}{% assign u = t | replace:"a",t %}'
    '{% assign v = u | replace:"a",u %}{% if shop.slug != "sample" %}{{ v | replace:"a",v | size }}{% endif %}'
)

SPIN = "{% for i in (1..20000) %}{% assign x = i %}{% endfor %}"


def shapes(long: bool = False) -> dict[str, dict[str, Any]]:
    """name → {"files": {template name: source}, "entry": name, "context": {...}}; the
    entry is layout/theme, as in the issue (one merchant's layout runs on every page)."""
    n = 4 if long else 1
    cond = '{% if shop.slug != "sample" %}'
    out: dict[str, dict[str, Any]] = {
        "issue-range-join": {"files": {"layout/theme": ISSUE_RANGE_JOIN}},
        "issue-replace": {"files": {"layout/theme": ISSUE_REPLACE}},
        "issue-replace-next-step": {"files": {"layout/theme": ISSUE_REPLACE_NEXT}},
        "range-from-data": {
            "files": {"layout/theme": "{{ (1..request.q) }}"},
            "context": {"request": {"q": "1" + "0" * 12}},
        },
        "range-in-loop": {"files": {"layout/theme": cond + "{% for i in (1..900000) %}{% endfor %}{% endif %}"}},
        "join-wide-separator": {
            "files": {"layout/theme": cond + "{{ (1..20000) | join: '" + "x" * 40 * n + "' }}{% endif %}"}
        },
        "join-of-split": {
            "files": {
                "layout/theme": cond
                + '{% assign s = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" %}'
                + "{% for i in (1..12) %}{% assign s = s | append: s %}{% endfor %}"
                + "{{ s | split: '' | join: s }}{% endif %}"
            }
        },
        "replace-from-data": {
            "files": {"layout/theme": "{{ request.q | replace: 'a', request.q | size }}"},
            "context": {"request": {"q": "a" * 2000 * n}},
        },
        "replace-empty-pattern": {
            "files": {
                "layout/theme": cond
                + "{% assign s = 'abcdefghij' | append: 'abcdefghij' %}{% for i in (1..12) %}{% assign s = s | replace: '', 'xy' %}{% endfor %}{{ s | size }}{% endif %}"
            }
        },
        "append-doubling": {
            "files": {
                "layout/theme": cond
                + '{% assign a = "x" %}{% for i in (1..40) %}{% assign a = a | append: a %}{% endfor %}{{ a | size }}{% endif %}'
            }
        },
        "prepend-capture-doubling": {
            "files": {
                "layout/theme": cond
                + '{% assign a = "xy" %}{% for i in (1..40) %}{% capture a %}{{ a }}{{ a }}{% endcapture %}{% endfor %}{{ a | size }}{% endif %}'
            }
        },
        "split-many": {
            "files": {
                "layout/theme": cond
                + '{% assign s = ",,,,,,,,,," %}{% for i in (1..15) %}{% assign s = s | append: s %}{% endfor %}{{ s | split: "," | size }}{% endif %}'
            }
        },
        "split-chars-of-data": {
            "files": {"layout/theme": "{{ request.q | split: '' | size }}"},
            "context": {"request": {"q": "b" * 400_000}},
        },
        "nested-loops": {
            "files": {
                "layout/theme": cond
                + "{% for a in (1..20000) %}{% for b in (1..20000) %}x{% endfor %}{% endfor %}{% endif %}"
            }
        },
        "nested-loops-through-render": {
            "files": {
                "layout/theme": cond + "{% for a in (1..1000) %}{% render 'snippets/inner' %}{% endfor %}{% endif %}",
                "snippets/inner": "{% for b in (1..1000) %}x{% endfor %}",
            }
        },
        "loops-with-output": {
            "files": {
                "layout/theme": cond
                + "{% assign big = 'y' | append: 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' %}{% for i in (1..20000) %}{{ big }}{{ big }}{{ big }}{% endfor %}{% endif %}"
            }
        },
        "recursion-through-render": {
            "files": {
                "layout/theme": cond + "{% render 'snippets/r', depth: 0 %}{% endif %}",
                "snippets/r": "{% if depth < 19 %}{% assign d = depth | plus: 1 %}{% render 'snippets/r', depth: d %}{% render 'snippets/r', depth: d %}{% endif %}",
            }
        },
        "mutual-recursion": {
            "files": {
                "layout/theme": cond + "{% render 'snippets/a' %}{% endif %}",
                "snippets/a": "{% render 'snippets/b' %}{% render 'snippets/b' %}",
                "snippets/b": "{% render 'snippets/a' %}{% render 'snippets/a' %}",
            }
        },
        "include-recursion": {
            "files": {
                "layout/theme": cond + "{% include 'snippets/i' %}{% endif %}",
                "snippets/i": "{% assign n = n | plus: 1 %}{% if n < 40 %}{% include 'snippets/i' %}{% include 'snippets/i' %}{% endif %}",
            }
        },
        "many-renders-spinning": {
            "files": {
                "layout/theme": cond + "{% render 'snippets/spin' %}" * 2500 * n + "{% endif %}",
                "snippets/spin": SPIN,
            }
        },
        "math-bigint": {
            "files": {
                "layout/theme": cond
                + "{% assign x = 10 %}{% for i in (1..40) %}{% assign x = x | times: x %}{% endfor %}{{ x | size }}{% endif %}"
            }
        },
        "math-huge-decimal-floor": {
            "files": {"layout/theme": "{{ request.q | floor | size }}"},
            "context": {"request": {"q": "1e999999"}},
        },
        "uniq-quadratic": {"files": {"layout/theme": cond + "{{ (1..20000) | uniq | size }}{% endif %}"}},
        "truncatewords-many-words": {
            "files": {"layout/theme": "{{ request.q | truncatewords: 3 }}"},
            "context": {"request": {"q": "w " * 240_000}},
        },
    }
    return out


def run(name: str, shape: dict[str, Any]) -> dict[str, Any]:
    from themes import engine

    layers = [("override", shape["files"])]
    env = engine.SandboxEnvironment(loader=engine.LayeredLoader(layers))
    context = {"shop": {"slug": "brand"}, "request": {"q": ""}, **shape.get("context", {})}
    state = engine.RenderState()
    env.get_template("layout/theme")  # parsing is not what is measured
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _peak = tracemalloc.get_traced_memory()
    started = time.monotonic()
    refused = ""
    kind = ""
    try:
        engine.render(env, "layout/theme", context, state)
    except Exception as exc:  # noqa: BLE001 - reported
        kind = type(exc).__name__
        refused = str(getattr(exc, "message", exc)).splitlines()[0]
    elapsed = time.monotonic() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"shape": name, "refused": refused, "kind": kind, "seconds": round(elapsed, 3), "grew": peak - base}


def main() -> None:
    import django

    django.setup()
    long = "--long" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    for name, shape in shapes(long).items():
        if only and name not in only:
            continue
        print(json.dumps(run(name, shape)), flush=True)


if __name__ == "__main__":
    main()
