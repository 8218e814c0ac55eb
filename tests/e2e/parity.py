"""What decides a Sentry issue and its look, read from a stored error event, and the differences
between two such readings: for the parity tests, which compare the event our exporter makes from
an OpenTelemetry exception with the one the runtime's own Sentry SDK sends for the same exception
(issue 24). Shared by every language's parity test.

`decisive(event)` gives a dict of these keys:

- `type`, `module`, `value`: of the exception Sentry titles the issue by (its "main exception":
  see `main_exception`);
- `chain`: every exception of `exception.values` as `[module, type]`, in the event's order
  (oldest first, as Sentry stores them);
- `grouped`: the exceptions Sentry's grouping hashes, in its order, as `[module, type]`: the
  chain, but for an exception group what `filter_exceptions_for_exception_groups` keeps (see
  below), so the mechanisms' `exception_id`, `parent_id` and `is_exception_group` count;
- `handled`: the main exception's `mechanism.handled` (None when unset: Sentry then shows no
  handled tag; `False` is the Unhandled badge and `error.unhandled:true`);
- `level`: the event's level (missing: "error", Sentry's default);
- `logger`: the event's `logger` (missing or empty: None);
- `message`: `logentry.formatted`, else `logentry.message`, else `message` (a string, or the
  legacy object's `formatted`/`message`); None when there is none;
- `frames`: the main exception's in-app frames, oldest first, each a dict of `function`,
  `module`, `filename`, `abs_path`, `lineno`, `context_line` (None where unset; the line as
  Sentry's grouping reads it, `get_contextline_component`: runs of whitespace as one space,
  so the indentation a traceback's text drops does not count). In-app is
  `in_app: true`, as Sentry's grouping reads it (a frame whose `in_app` is unset is not in the
  app's stack trace). Only when no frame of the main exception says `in_app` either way, and the
  caller passes `app_root`, the frames whose `abs_path` lies under `app_root` count instead.

`compare(ours, theirs, allowed)` lists the differences as lines `key: ours=... theirs=...`.
Keys are the dict's keys, and for frames `frames.depth` (a different number of in-app frames)
and `frames[-N].FIELD`: the frames are compared from the newest (the crashing frame, -1) back,
as far as both stacks go, so the crashing frame is compared always and every frame where both
see the same depth. A difference is left out when `allowed` holds its exact key, or for frames
`frames.FIELD` (that field in every frame) or `frames` (all of the frames). `allowed` maps
each such key to the reason the difference cannot be avoided; `explain(allowed)` prints them.

The main exception, as Sentry picks it (src/sentry/eventtypes/error.py `extract_metadata`,
src/sentry/grouping/strategies/newstyle.py `filter_exceptions_for_exception_groups`): the last
of `exception.values`, unless the event is an exception group (mechanisms with `exception_id`,
`parent_id`, `is_exception_group`) whose tree has exactly one distinct "top-level" exception
(the first descendants of the root that are not groups themselves): Sentry then sets
`main_exception_id` to it and titles and groups by it. With two or more distinct top-level
exceptions the root group and one of each stay in grouping, and the title is again the last of
`values`. Sentry skips that filter for platform `python` events of an SDK version 3.x (a
stopgap in the same function), and so does `main_exception` here. The React and RxJava
overrides of `_maybe_override_main_exception_id` do not apply to these tests and are left out.
The filter applies to any chain whose mechanisms all carry ids, not only to groups: a cause
chain of @sentry/node (LinkedErrors writes `exception_id`/`parent_id`, the root no group) has
one top-level exception, the root, so Sentry groups by the root followed by its first cause.
"Distinct" is Sentry's hash of each exception's grouping components; `_group_key` stands in for
it with the type, module and in-app frames (or the value when there are none).
"""

from __future__ import annotations

import itertools
import json
import os

FRAME_FIELDS = ("function", "module", "filename", "abs_path", "lineno", "context_line")
KEYS = ("type", "module", "value", "chain", "grouped", "handled", "level", "logger", "message", "frames")


def _values(event: dict) -> list[dict]:
    exception = event.get("exception")
    if isinstance(exception, list):
        values = exception
    elif isinstance(exception, dict):
        values = exception.get("values") or []
    else:
        values = []
    return [v for v in values if isinstance(v, dict)]


def _mechanism(exception: dict) -> dict:
    mechanism = exception.get("mechanism")
    return mechanism if isinstance(mechanism, dict) else {}


def _in_app_frames(exception: dict, app_root: str | None = None) -> list[dict]:
    frames = [f for f in ((exception.get("stacktrace") or {}).get("frames") or []) if isinstance(f, dict)]
    if app_root is not None and all(f.get("in_app") is None for f in frames):
        root = os.path.join(os.path.realpath(app_root), "")
        return [f for f in frames if f.get("abs_path") and os.path.realpath(f["abs_path"]).startswith(root)]
    return [f for f in frames if f.get("in_app") is True]


def _group_key(exception: dict) -> str:
    """Stands in for the hash of an exception's grouping components (type, module, and the
    stack trace's in-app frames, or the value when it has none)."""
    frames = [(f.get("module"), f.get("filename"), f.get("function"), f.get("context_line"))
              for f in _in_app_frames(exception)]
    return json.dumps([exception.get("module"), exception.get("type"), frames or exception.get("value")])


def grouped_exceptions(event: dict) -> tuple[list[dict], int | None]:
    """The exceptions Sentry's grouping hashes (`filter_exceptions_for_exception_groups`), and
    the `main_exception_id` it sets (None but for a group of one distinct top-level exception):
    see the module's doc."""
    values = _values(event)
    if len(values) <= 1:
        return values, None
    sdk_version = str((event.get("sdk") or {}).get("version") or "")
    if event.get("platform") == "python" and sdk_version.startswith("3"):
        return values, None
    tree: dict[int, dict] = {}
    seen = set()
    for exception in reversed(values):
        mechanism = _mechanism(exception)
        exception_id, parent_id = mechanism.get("exception_id"), mechanism.get("parent_id")
        if exception_id is None or exception_id == parent_id or exception_id in seen:
            return values, None
        seen.add(exception_id)
        tree.setdefault(exception_id, {"exception": None, "children": []})["exception"] = exception
        if parent_id is not None:
            tree.setdefault(parent_id, {"exception": None, "children": []})["children"].append(exception)

    def children(exception):
        return tree.get(_mechanism(exception)["exception_id"], {"children": []})["children"]

    def top_level(exception):
        if _mechanism(exception).get("is_exception_group"):
            for child in children(exception):
                yield from top_level(child)
        else:
            yield exception

    def first_path(exception):
        yield exception
        if children(exception):
            yield from first_path(children(exception)[0])

    root = tree.get(0)
    if not root or not root["exception"]:
        return values, None
    tops = sorted(top_level(root["exception"]), key=lambda e: str(e.get("type")), reverse=True)
    if not tops:
        return values, None
    distinct = [next(group) for _, group in itertools.groupby(tops, key=_group_key)]
    if len(distinct) == 1:
        return list(first_path(distinct[0])), _mechanism(distinct[0])["exception_id"]
    return distinct + [root["exception"]], None


def main_exception_id(event: dict) -> int | None:
    """The `main_exception_id` Sentry's grouping sets (see `grouped_exceptions`)."""
    return grouped_exceptions(event)[1]


def main_exception(event: dict) -> dict | None:
    """The exception Sentry titles the issue by."""
    values = _values(event)
    if not values:
        return None
    wanted = event.get("main_exception_id")
    if wanted is None:
        wanted = main_exception_id(event)
    if wanted is not None:
        for exception in values:
            if _mechanism(exception).get("exception_id") == wanted:
                return exception
    return values[-1]


def message_of(event: dict) -> str | None:
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        text = logentry.get("formatted") or logentry.get("message")
        if text:
            return text
    message = event.get("message")
    if isinstance(message, dict):
        return message.get("formatted") or message.get("message") or None
    return message or None


def decisive(event: dict, app_root: str | None = None) -> dict:
    """What decides the event's issue and its look (see the module's doc)."""
    main = main_exception(event) or {}
    return {
        "type": main.get("type"),
        "module": main.get("module"),
        "value": main.get("value"),
        "chain": [[v.get("module"), v.get("type")] for v in _values(event)],
        "grouped": [[v.get("module"), v.get("type")] for v in grouped_exceptions(event)[0]],
        "handled": _mechanism(main).get("handled"),
        "level": event.get("level") or "error",
        "logger": event.get("logger") or None,
        "message": message_of(event),
        "frames": [_frame(f) for f in _in_app_frames(main, app_root)],
    }


def _frame(frame: dict) -> dict:
    fields = {k: frame.get(k) for k in FRAME_FIELDS}
    if fields["context_line"] is not None:
        fields["context_line"] = " ".join(fields["context_line"].expandtabs(2).split()) or None
    return fields


def is_allowed(key: str, allowed: dict) -> bool:
    """Whether `allowed` covers the difference of this key."""
    if key in allowed:
        return True
    if key.startswith("frames"):
        if "frames" in allowed:
            return True
        if key.startswith("frames[") and "]." in key:
            return "frames." + key.split("].", 1)[1] in allowed
    return False


def _show(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def differences(ours: dict, theirs: dict) -> list[tuple[str, object, object]]:
    """Every difference between two `decisive` results as (key, ours, theirs)."""
    found = []
    for key in KEYS:
        if key != "frames" and ours.get(key) != theirs.get(key):
            found.append((key, ours.get(key), theirs.get(key)))
    a, b = ours.get("frames") or [], theirs.get("frames") or []
    if len(a) != len(b):
        found.append(("frames.depth",
                      [f.get("function") for f in a], [f.get("function") for f in b]))
    for n in range(1, min(len(a), len(b)) + 1):
        for field in FRAME_FIELDS:
            if a[-n].get(field) != b[-n].get(field):
                found.append((f"frames[-{n}].{field}", a[-n].get(field), b[-n].get(field)))
    if (a or b) and not (a and b):
        found.append(("frames[-1]", a[-1] if a else None, b[-1] if b else None))
    return found


def compare(ours: dict, theirs: dict, allowed: dict[str, str]) -> list[str]:
    """The differences between two `decisive` results as readable lines, except those `allowed`
    names (see the module's doc)."""
    return [f"{key}: ours={_show(a)} theirs={_show(b)}"
            for key, a, b in differences(ours, theirs) if not is_allowed(key, allowed)]


def explain(allowed: dict[str, str]) -> str:
    """The allowed differences and their reasons, one a line, for the test's output."""
    return "\n".join(f"  allowed {key}: {reason}" for key, reason in allowed.items())
