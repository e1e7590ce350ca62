"""Label and field selectors with the semantics of k8s.io/apimachinery.

``parse_label_selector`` (labels.Parse) and ``from_label_selector``
(metav1.LabelSelectorAsSelector) turn text or a ``metav1.LabelSelector`` dict into a
``LabelSelector``; ``parse_field_selector`` (fields.ParseSelector plus the apiserver's
field-label check) turns text into a ``FieldSelector``. Both then answer ``matches()``
over plain objects. Errors are ``SelectorError`` carrying upstream's message, which the
server answers as 400 BadRequest. Shared: the apiserver lists and watches with them, the
node agents' NetworkPolicy evaluator selects pods and namespaces with them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class SelectorError(ValueError):
    """A selector that upstream would reject; ``str()`` is upstream's message."""


class Operator(StrEnum):
    """selection.Operator: the string values appear in upstream's error messages."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS = (Operator.IN, Operator.NOT_IN, Operator.EQUALS, Operator.DOUBLE_EQUALS,
                     Operator.NOT_EQUALS, Operator.GREATER_THAN, Operator.LESS_THAN)

# --- validation messages (k8s.io/apimachinery/pkg/util/validation) ---------------------

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_ERR = ("must consist of alphanumeric characters, '-', '_' or '.', "
                       "and must start and end with an alphanumeric character")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_ERR = ("a lowercase RFC 1123 subdomain must consist of lower case "
                          "alphanumeric characters, '-' or '.', and must start and end with "
                          "an alphanumeric character")
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_ERR = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character")
_NAME_MAX = 63
_SUBDOMAIN_MAX = 253

_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Upstream's double space ("'MyName',  or 'my.name'") is reproduced on purpose.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _byte_len(s: str) -> int:
    return len(s.encode())


def _subdomain_errors(value: str) -> list[str]:
    errs = []
    if _byte_len(value) > _SUBDOMAIN_MAX:
        errs.append(f"must be no more than {_SUBDOMAIN_MAX} characters")
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_ERR, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def _label_key_errors(key: str) -> list[str]:
    """validation.IsQualifiedName."""
    parts = key.split("/")
    errs: list[str] = []
    if len(parts) > 2:
        return ["a qualified name "
                + _regex_error(_QUALIFIED_NAME_ERR, _QUALIFIED_NAME_FMT,
                               "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + e for e in _subdomain_errors(prefix))
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > _NAME_MAX:
        errs.append(f"name part must be no more than {_NAME_MAX} characters")
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QUALIFIED_NAME_ERR, _QUALIFIED_NAME_FMT,
                                                "MyName", "my.name", "123-abc"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue."""
    errs = []
    if _byte_len(value) > _NAME_MAX:
        errs.append(f"must be no more than {_NAME_MAX} characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT,
                                 "MyValue", "my_value", "12345"))
    return errs


def _quote(s: str) -> str:
    """Close to Go's %q for the strings selectors carry."""
    return json.dumps(s, ensure_ascii=False)


def _go_strings(values: Sequence[str]) -> str:
    """Go's %#v of a []string, as field.Invalid renders a values list."""
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_quote(v) for v in values) + "}"


def _invalid(path: str, bad: str, details: list[str]) -> str:
    """field.Invalid(...).Error()."""
    return f"{path}: Invalid value: {bad}: {'; '.join(details)}"


def _aggregate(messages: list[str]) -> str:
    """utilerrors.Aggregate.Error(): one message as is, several deduplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _parse_int64(s: str) -> int | None:
    if not _INT64_RE.fullmatch(s):
        return None
    n = int(s)
    return n if -(2 ** 63) <= n < 2 ** 63 else None


# --- label selectors --------------------------------------------------------------------

@dataclass(frozen=True)
class Requirement:
    """One ANDed term of a label selector, e.g. ``tier in (web,api)``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        value = labels.get(self.key)
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return value is not None and value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return value is None or value not in self.values
        # Gt/Lt: new_requirement guarantees exactly one integer value.
        have = None if value is None else _parse_int64(value)
        if have is None:
            return False
        bound = int(self.values[0])
        return have > bound if op is Operator.GREATER_THAN else have < bound

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({values})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{values}"


def new_requirement(key: str, operator: Operator, values: Sequence[str]) -> Requirement:
    """labels.NewRequirement: validate and build one requirement or raise SelectorError."""
    errs = []
    if key_errs := _label_key_errors(key):
        errs.append(_invalid("key", _quote(key), key_errs))
    if operator in (Operator.IN, Operator.NOT_IN):
        if not values:
            errs.append(_invalid("values", _go_strings(values),
                                 ["for 'in', 'notin' operators, values set can't be empty"]))
    elif operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
        if len(values) != 1:
            errs.append(_invalid("values", _go_strings(values),
                                 ["exact-match compatibility requires one single value"]))
    elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if values:
            errs.append(_invalid("values", _go_strings(values),
                                 ["values set must be empty for exists and does not exist"]))
    else:
        if len(values) != 1:
            errs.append(_invalid("values", _go_strings(values),
                                 ["for 'Gt', 'Lt' operators, exactly one value is required"]))
        for i, v in enumerate(values):
            if _parse_int64(v) is None:
                errs.append(_invalid(f"values[{i}]", _quote(v),
                                     ["for 'Gt', 'Lt' operators, the value must be an integer"]))
    for i, v in enumerate(values):
        if value_errs := _label_value_errors(v):
            errs.append(_invalid(f"values[{i}][{key}]", _quote(v), value_errs))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, operator, tuple(values))


@dataclass(frozen=True)
class LabelSelector:
    """ANDed requirements; ``matches_nothing`` is upstream's labels.Nothing()."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (labels.Everything())."""
        return not self.matches_nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        present = labels or {}
        return all(r.matches(present) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(matches_nothing=True)


def _selector(requirements: Iterable[Requirement]) -> LabelSelector:
    # Sorted by key as upstream does, so String() and error-free output are stable.
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# Lexer tokens. IN/NOT_IN are keywords only where an operator is expected.
_END, _IDENT, _IN, _NOT_IN, _OPEN, _CLOSE, _COMMA = "end", "ident", "in", "notin", "(", ")", ","
_NOT, _EQ, _DOUBLE_EQ, _NOT_EQ, _GT, _LT = "!", "=", "==", "!=", ">", "<"
_SYMBOLS = frozenset({_OPEN, _CLOSE, _COMMA, _NOT, _EQ, _DOUBLE_EQ, _NOT_EQ, _GT, _LT})
_SPECIAL_CHARS = frozenset("=!(),<>")
_WHITESPACE = frozenset(" \t\r\n")
_OPERATOR_TOKENS = {_IN: Operator.IN, _NOT_IN: Operator.NOT_IN, _EQ: Operator.EQUALS,
                    _DOUBLE_EQ: Operator.DOUBLE_EQUALS, _NOT_EQ: Operator.NOT_EQUALS,
                    _GT: Operator.GREATER_THAN, _LT: Operator.LESS_THAN}


def _tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, literal) pairs ending with (_END, "")."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i == n:
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SPECIAL_CHARS:
            # The longest symbol is two characters ("==", "!=").
            symbol = text[i:i + 2] if text[i:i + 2] in _SYMBOLS else text[i]
            tokens.append((symbol, symbol))
            i += len(symbol)
            continue
        start = i
        while i < n and text[i] not in _SPECIAL_CHARS and text[i] not in _WHITESPACE:
            i += 1
        word = text[start:i]
        tokens.append((word if word in (_IN, _NOT_IN) else _IDENT, word))


class _LabelParser:
    """labels.Parse's recursive descent over the token list."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._pos = 0

    def _peek(self) -> tuple[str, str]:
        kind, lit = self._tokens[self._pos]
        return (_IDENT if kind in (_IN, _NOT_IN) else kind), lit

    def _take(self, keywords: bool = False) -> tuple[str, str]:
        kind, lit = self._tokens[self._pos]
        self._pos += 1
        if not keywords and kind in (_IN, _NOT_IN):
            kind = _IDENT
        return kind, lit

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, lit = self._peek()
            if kind == _END:
                return requirements
            if kind not in (_IDENT, _NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from e
            kind, lit = self._take()
            if kind == _END:
                return requirements
            if kind != _COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self._peek()
            if kind not in (_IDENT, _NOT):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        kind, key = self._take()
        negated = kind == _NOT
        if negated:
            kind, key = self._take()
        if kind != _IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        if key_errs := _label_key_errors(key):
            raise SelectorError(_invalid("<nil>", _quote(key), key_errs))
        if negated:
            return new_requirement(key, Operator.DOES_NOT_EXIST, ())
        if self._peek()[0] in (_END, _COMMA):
            return new_requirement(key, Operator.EXISTS, ())
        kind, lit = self._take(keywords=True)
        operator = _OPERATOR_TOKENS.get(kind)
        if operator is None:
            expected = ", ".join(op.value for op in _BINARY_OPERATORS)
            raise SelectorError(f"found '{lit}', expected: {expected}")
        values = (self._value_set() if operator in (Operator.IN, Operator.NOT_IN)
                  else self._exact_value())
        return new_requirement(key, operator, sorted(values))

    def _value_set(self) -> set[str]:
        kind, lit = self._take()
        if kind != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self._peek()
        if kind == _CLOSE:
            self._take()
            return {""}
        if kind not in (_IDENT, _COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, lit = self._take()
            if kind == _IDENT:
                values.add(lit)
                kind, lit = self._peek()
                if kind == _CLOSE:
                    self._take()
                    return values
                if kind != _COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or ')'")
            elif kind == _COMMA:
                # A comma with nothing before or after it contributes an empty value.
                if not values or self._peek()[0] in (_COMMA, _CLOSE):
                    values.add("")
                if self._peek()[0] == _CLOSE:
                    self._take()
                    return values
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._peek()[0] in (_END, _COMMA):
            return {""}
        kind, lit = self._take()
        if kind != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse: ``a=b,c!=d,e in (f,g),!h`` -> LabelSelector; "" matches everything."""
    return _selector(_LabelParser(text).parse())


_EXPRESSION_OPERATORS = {"In": Operator.IN, "NotIn": Operator.NOT_IN,
                         "Exists": Operator.EXISTS, "DoesNotExist": Operator.DOES_NOT_EXIST}


def from_label_selector(sel: Mapping[str, Any] | None,
                        none_matches_all: bool = False) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: nil matches nothing (unless ``none_matches_all``),
    ``{}`` matches everything."""
    if sel is None:
        return EVERYTHING if none_matches_all else NOTHING
    match_labels: Mapping[str, str] = sel.get("matchLabels") or {}
    expressions: list[Mapping[str, Any]] = sel.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    requirements = [new_requirement(k, Operator.EQUALS, (match_labels[k],))
                    for k in sorted(match_labels)]
    for expr in expressions:
        operator = _EXPRESSION_OPERATORS.get(expr.get("operator", ""))
        if operator is None:
            raise SelectorError(
                f"{_quote(str(expr.get('operator', '')))} is not a valid label selector operator")
        requirements.append(new_requirement(expr.get("key", ""), operator,
                                            tuple(expr.get("values") or ())))
    return _selector(requirements)


# --- field selectors --------------------------------------------------------------------

# Always selectable, for every resource (DefaultMetaV1FieldSelectorConversion).
_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
# Upstream's field sets are built from Go structs, so an absent field reads as its Go
# zero value rather than "".
_ZERO_VALUES = {"spec.unschedulable": "false", "spec.hostNetwork": "false",
                "status.replicas": "0"}
# Selector names whose value lives at a different path (core/v1 Event's "source").
_FIELD_PATHS = {"source": "source.component"}
_TERM_OPERATORS = ("!=", "==", "=")


@dataclass(frozen=True)
class FieldRequirement:
    """``field=value`` (or ``field!=value`` when ``negated``)."""

    field: str
    value: str
    negated: bool = False


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The string a field selector compares for ``field`` of ``obj``."""
    current: Any = obj
    for part in _FIELD_PATHS.get(field, field).split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if current is None:
        return _ZERO_VALUES.get(field, "")
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


@dataclass(frozen=True)
class FieldSelector:
    """ANDed ``field=value`` / ``field!=value`` terms."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, r.field) == r.value) != r.negated
                   for r in self.requirements)

    def exact(self, field: str) -> str | None:
        """The value a ``field=value`` term requires, if any (RequiresExactMatch)."""
        for r in self.requirements:
            if r.field == field and not r.negated:
                return r.value
        return None


def _split_terms(text: str) -> list[str]:
    """Split on commas not escaped by a backslash."""
    terms, start, escaped = [], 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The leftmost operator wins; at one position "!=" and "==" beat "="."""
    for i in range(len(term)):
        for op in _TERM_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape(value: str) -> str:
    out, escaped = [], False
    for c in value:
        if escaped:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            # Go prints the rune with %v, i.e. as its code point number.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str, allowed: Iterable[str]) -> FieldSelector:
    """fields.ParseSelector plus the apiserver's field-label conversion: fields outside
    ``allowed`` (and metadata.name/namespace) raise ``field label not supported``."""
    requirements = []
    terms = sorted(_split_terms(text)) if text else []
    for term in terms:
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, raw = split
        requirements.append(FieldRequirement(field, _unescape(raw), negated=op == "!="))
    supported = _META_FIELDS.union(allowed)
    for r in requirements:
        if r.field not in supported:
            raise SelectorError(f"field label not supported: {r.field}")
    return FieldSelector(tuple(requirements))
