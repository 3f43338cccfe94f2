"""The shape of an OTLP JSON export, checked whole before anything of it is stored.

Why: the receiver stores spans as they arrive and rebuilds their trace from every stored span; a span that
is stored but cannot be read (spans that are not a list, an attribute without a key, `intValue: "zz"`, a
timestamp that is not a number, arrays nested without end) made every later export of that trace fail.
Now a request is either valid as a whole or refused with 400 naming the first bad place, and nothing of
it is kept.  Iterative (no recursion), bounded in depth.
"""

from __future__ import annotations

from collections.abc import Iterator

MAX_DEPTH = 32  # nested AnyValue arrays / kvlists
_LAYOUT = {"traces": ("resourceSpans", "scopeSpans", "spans"), "logs": ("resourceLogs", "scopeLogs", "logRecords")}
_LEGACY = {"resourceSpans": "batches", "scopeSpans": "instrumentationLibrarySpans"}
_TIMES = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano")
_SCALARS: dict[str, type | tuple[type, ...]] = {"stringValue": str, "boolValue": bool, "doubleValue": (int, float, str)}


class InvalidExport(ValueError):
    """Where the export is malformed and how."""


def _list_of_objects(value: object, where: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidExport(f"{where} is {type(value).__name__}, not a list")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidExport(f"{where}[{i}] is {type(item).__name__}, not an object")
    return value


def _integer(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidExport(f"{where} is {type(value).__name__}, not an integer")
    if isinstance(value, str) and not (value.lstrip("-").isascii() and value.lstrip("-").isdigit() and len(value) <= 25):
        raise InvalidExport(f"{where} {value[:30]!r} is not an integer")


def _id(value: object, where: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and len(value) > 128):
        raise InvalidExport(f"{where} is not an id")


def check_attributes(value: object, where: str) -> None:
    """OTLP attributes ([{key, value: AnyValue}]) or, in flat span JSON, a map; AnyValues walked iteratively."""
    if isinstance(value, dict) or value is None:
        _walk_plain(value, where)
        return
    _check_kvlists([(value, where, 0)])


def _check_kvlists(pending: list[tuple[object, str, int]]) -> None:
    while pending:
        attrs, at, depth = pending.pop()
        for i, kv in enumerate(_list_of_objects(attrs, at)):
            if not isinstance(kv.get("key"), str):
                raise InvalidExport(f"{at}[{i}] has no string 'key'")
            pending.extend(_any_values(kv.get("value"), f"{at}[{i}].value", depth))


def _any_values(value: object, where: str, depth: int) -> Iterator[tuple[object, str, int]]:
    """Check one AnyValue; yield the kvlists inside it (to check as attribute lists), arrays unrolled."""
    stack = [(value, where, depth)]
    while stack:
        item, at, level = stack.pop()
        if level > MAX_DEPTH:
            raise InvalidExport(f"{at}: values nested more than {MAX_DEPTH} deep")
        if item is None:
            continue
        if not isinstance(item, dict):
            raise InvalidExport(f"{at} is {type(item).__name__}, not an AnyValue object")
        for key, kind in _SCALARS.items():
            if key in item and not isinstance(item[key], kind):
                raise InvalidExport(f"{at}.{key} is {type(item[key]).__name__}")
        if "intValue" in item:
            _integer(item["intValue"], f"{at}.intValue")
        if "arrayValue" in item:
            array = item["arrayValue"] or {}
            if not isinstance(array, dict):
                raise InvalidExport(f"{at}.arrayValue is not an object")
            for i, element in enumerate(_list_of_objects(array.get("values"), f"{at}.arrayValue.values")):
                stack.append((element, f"{at}.arrayValue.values[{i}]", level + 1))
        if "kvlistValue" in item:
            kvlist = item["kvlistValue"] or {}
            if not isinstance(kvlist, dict):
                raise InvalidExport(f"{at}.kvlistValue is not an object")
            yield kvlist.get("values"), f"{at}.kvlistValue.values", level + 1


def _walk_plain(value: object, where: str) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidExport(f"{where}: nested more than {MAX_DEPTH} deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def check_export(document: object, signal: str = "traces") -> None:
    """Raise InvalidExport at the first malformed place of an OTLP JSON export (traces or logs)."""
    outer, inner, items = _LAYOUT[signal]
    if not isinstance(document, dict):
        raise InvalidExport(f"an OTLP export is a JSON object with {outer}")
    key = outer if outer in document or signal == "logs" else _LEGACY[outer]
    for r, resource in enumerate(_list_of_objects(document.get(key), key)):
        where = f"{key}[{r}]"
        res = resource.get("resource")
        if res is not None:
            if not isinstance(res, dict):
                raise InvalidExport(f"{where}.resource is not an object")
            check_attributes(res.get("attributes"), f"{where}.resource.attributes")
        scope_key = inner if inner in resource or signal == "logs" else _LEGACY.get(inner, inner)
        for s, scope in enumerate(_list_of_objects(resource.get(scope_key), f"{where}.{scope_key}")):
            for i, item in enumerate(_list_of_objects(scope.get(items), f"{where}.{scope_key}[{s}].{items}")):
                at = f"{where}.{scope_key}[{s}].{items}[{i}]"
                for name in ("traceId", "spanId", "parentSpanId"):
                    _id(item.get(name), f"{at}.{name}")
                for name in _TIMES:
                    if item.get(name) not in (None, ""):
                        _integer(item[name], f"{at}.{name}")
                if item.get("name") is not None and not isinstance(item["name"], str):
                    raise InvalidExport(f"{at}.name is not a string")
                check_attributes(item.get("attributes"), f"{at}.attributes")
                if "body" in item:
                    _check_kvlists(list(_any_values(item["body"], f"{at}.body", 0)))
                for e, event in enumerate(_list_of_objects(item.get("events"), f"{at}.events")):
                    check_attributes(event.get("attributes"), f"{at}.events[{e}].attributes")
                status = item.get("status")
                if status is not None and not isinstance(status, dict):
                    raise InvalidExport(f"{at}.status is not an object")
