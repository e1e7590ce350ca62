"""Label and field selectors: parse tables, match truth tables, upstream's messages."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop import object_selectors as selectors
from kubeloop.object_selectors import SelectorError

QUALIFIED_NAME_HELP = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_HELP = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', "
    "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
    "or 'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")

WEB = {"app": "web", "tier": "frontend", "replicas": "3"}

# (selector, labels, matches)
LABEL_MATCHES = [
    ("", WEB, True),
    ("", None, True),
    ("app=web", WEB, True),
    ("app==web", WEB, True),
    ("app=db", WEB, False),
    ("app!=db", WEB, True),
    ("app!=web", WEB, False),
    ("missing!=x", WEB, True),
    ("app in (web,db)", WEB, True),
    ("app in (db,cache)", WEB, False),
    ("missing in (x)", WEB, False),
    ("app notin (db)", WEB, True),
    ("app notin (web)", WEB, False),
    ("missing notin (x)", WEB, True),
    ("app", WEB, True),
    ("missing", WEB, False),
    ("!missing", WEB, True),
    ("!app", WEB, False),
    ("app=web,tier=frontend", WEB, True),
    ("app=web,tier=backend", WEB, False),
    ("  app = web ,\ttier in ( frontend , x ) ", WEB, True),
    ("app=", {"app": ""}, True),
    ("app=", WEB, False),
    ("app in ()", {"app": ""}, True),
    ("app in (x,)", {"app": ""}, True),
    ("in in (in)", {"in": "in"}, True),
    ("example.com/role=db", {"example.com/role": "db"}, True),
    ("replicas>2", WEB, True),
    ("replicas>3", WEB, False),
    ("replicas<4", WEB, True),
    ("app>1", WEB, False),
    ("missing<5", WEB, False),
    ("app=web", None, False),
    ("!app", None, True),
]


@pytest.mark.parametrize(("text", "labels", "expected"), LABEL_MATCHES,
                         ids=[f"{t!r}-{e}" for t, _, e in LABEL_MATCHES])
def test_label_selector_matches(text: str, labels: dict[str, str] | None,
                                expected: bool) -> None:
    assert selectors.parse_label_selector(text).matches(labels) is expected


# (selector, canonical String())
LABEL_STRINGS = [
    ("", ""),
    ("b=1,a=2", "a=2,b=1"),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("!a , b==c, d != e", "!a,b==c,d!=e"),
    ("n>5,m<3", "m<3,n>5"),
]


@pytest.mark.parametrize(("text", "expected"), LABEL_STRINGS, ids=[t for t, _ in LABEL_STRINGS])
def test_label_selector_string_is_sorted_and_normalised(text: str, expected: str) -> None:
    assert str(selectors.parse_label_selector(text)) == expected


# (selector, exact upstream message)
LABEL_PARSE_ERRORS = [
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a=b,,c", "found ',', expected: identifier after ','"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
    ("a==(", "unable to parse requirement: found '(', expected: identifier"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("-a", 'unable to parse requirement: <nil>: Invalid value: "-a": name part '
           + QUALIFIED_NAME_HELP),
    ("a/b/c", 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name '
              + QUALIFIED_NAME_HELP
              + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("/a", 'unable to parse requirement: <nil>: Invalid value: "/a": '
           "prefix part must be non-empty"),
    ("a=b@", 'unable to parse requirement: values[0][a]: Invalid value: "b@": '
             + LABEL_VALUE_HELP),
    ("a=" + "x" * 64, f'unable to parse requirement: values[0][a]: Invalid value: "{"x" * 64}": '
                      "must be no more than 63 characters"),
    ("a>b", 'unable to parse requirement: values[0]: Invalid value: "b": '
            "for 'Gt', 'Lt' operators, the value must be an integer"),
]


@pytest.mark.parametrize(("text", "message"), LABEL_PARSE_ERRORS,
                         ids=[t[:20] for t, _ in LABEL_PARSE_ERRORS])
def test_label_selector_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        selectors.parse_label_selector(text)
    assert str(err.value) == message


def test_label_key_prefix_must_be_a_dns_subdomain() -> None:
    with pytest.raises(SelectorError, match=r'"Example.com/a": prefix part a lowercase RFC 1123'):
        selectors.parse_label_selector("Example.com/a")


# (metav1.LabelSelector, labels, matches)
STRUCTURED_MATCHES: list[tuple[dict[str, Any] | None, dict[str, str] | None, bool]] = [
    (None, WEB, False),
    ({}, WEB, True),
    ({"matchLabels": {}, "matchExpressions": []}, None, True),
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "web", "tier": "backend"}}, WEB, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["x"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, WEB, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, WEB, False),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]}]}, WEB, False),
]


@pytest.mark.parametrize(("sel", "labels", "expected"), STRUCTURED_MATCHES,
                         ids=[f"{i}-{e}" for i, (_, _, e) in enumerate(STRUCTURED_MATCHES)])
def test_from_label_selector_matches(sel: dict[str, Any] | None, labels: dict[str, str] | None,
                                     expected: bool) -> None:
    assert selectors.from_label_selector(sel).matches(labels) is expected


@pytest.mark.parametrize(("sel", "none_matches_all", "matches", "empty"), [
    (None, False, False, False),
    (None, True, True, True),
    ({}, False, True, True),
    ({"matchLabels": {"a": "b"}}, False, False, False),
], ids=["nil-nothing", "nil-everything", "empty-everything", "restricting"])
def test_from_label_selector_nil_and_empty(sel: dict[str, Any] | None, none_matches_all: bool,
                                           matches: bool, empty: bool) -> None:
    got = selectors.from_label_selector(sel, none_matches_all=none_matches_all)
    assert (got.matches({"x": "y"}), got.empty) == (matches, empty)


STRUCTURED_ERRORS = [
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "values: Invalid value: []string(nil): "
     "for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "y"]}]},
     'values: Invalid value: []string{"x", "y"}: values set must be empty for exists and does '
     "not exist"),
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     '"Gt" is not a valid label selector operator'),
    ({"matchLabels": {"-bad": "ok"}},
     'key: Invalid value: "-bad": name part ' + QUALIFIED_NAME_HELP),
    ({"matchLabels": {"-bad": "no way"}},
     '[key: Invalid value: "-bad": name part ' + QUALIFIED_NAME_HELP
     + ', values[0][-bad]: Invalid value: "no way": ' + LABEL_VALUE_HELP + "]"),
]


@pytest.mark.parametrize(("sel", "message"), STRUCTURED_ERRORS,
                         ids=["in-without-values", "exists-with-values", "unknown-operator",
                              "bad-key", "bad-key-and-value"])
def test_from_label_selector_errors(sel: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as err:
        selectors.from_label_selector(sel)
    assert str(err.value) == message


# --- field selectors --------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running"},
}
NODE = {"metadata": {"name": "node-a"}, "spec": {}}
REPLICA_SET = {"metadata": {"name": "rs"}, "status": {"replicas": 3}}
POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.hostNetwork", "status.phase")

# (selector, allowed, object, matches)
FIELD_MATCHES = [
    ("", POD_FIELDS, POD, True),
    ("metadata.name=web-1", (), POD, True),
    ("metadata.name==web-1", (), POD, True),
    ("metadata.name!=web-1", (), POD, False),
    ("metadata.namespace=default,status.phase=Running", POD_FIELDS, POD, True),
    ("spec.nodeName=node-a,status.phase!=Running", POD_FIELDS, POD, False),
    ("spec.nodeName=", POD_FIELDS, POD, False),
    ("spec.nodeName=", POD_FIELDS, {"metadata": {"name": "p"}}, True),
    ("spec.hostNetwork=false", POD_FIELDS, POD, True),
    ("spec.hostNetwork=true", POD_FIELDS, {"spec": {"hostNetwork": True}}, True),
    ("spec.unschedulable=false", ("spec.unschedulable",), NODE, True),
    ("status.replicas=3", ("status.replicas",), REPLICA_SET, True),
    ("status.replicas=0", ("status.replicas",), {"metadata": {"name": "rs"}}, True),
    ("metadata.name=web-1,", (), POD, True),
    ("source=kubelet", ("source",), {"source": {"component": "kubelet"}}, True),
]


@pytest.mark.parametrize(("text", "allowed", "obj", "expected"), FIELD_MATCHES,
                         ids=[f"{t or 'empty'}-{e}" for t, _, _, e in FIELD_MATCHES])
def test_field_selector_matches(text: str, allowed: tuple[str, ...], obj: dict[str, Any],
                                expected: bool) -> None:
    assert selectors.parse_field_selector(text, allowed).matches(obj) is expected


# (selector, (field, value, negated) terms in sorted-term order)
FIELD_PARSES = [
    (r"metadata.name=a\,b", [("metadata.name", "a,b", False)]),
    (r"metadata.name=a\=b", [("metadata.name", "a=b", False)]),
    (r"metadata.name=a\\b", [("metadata.name", "a\\b", False)]),
    (r"metadata.name!=x,metadata.namespace=a\,b", [("metadata.name", "x", True),
                                                   ("metadata.namespace", "a,b", False)]),
    ("metadata.namespace=b,metadata.name=a", [("metadata.name", "a", False),
                                              ("metadata.namespace", "b", False)]),
]


@pytest.mark.parametrize(("text", "terms"), FIELD_PARSES,
                         ids=["escaped-comma", "escaped-equals", "escaped-backslash",
                              "not-equals-and-escape", "terms-sorted"])
def test_field_selector_parses_escapes(text: str, terms: list[tuple[str, str, bool]]) -> None:
    got = selectors.parse_field_selector(text, ())
    assert [(r.field, r.value, r.negated) for r in got.requirements] == terms


FIELD_ERRORS = [
    ("foo=bar", "field label not supported: foo"),
    ("status.phase=Running", "field label not supported: status.phase"),
    ("metadata.name=a, spec.nodeName=b", "field label not supported:  spec.nodeName"),
    ("zzz=1,aaa=2", "field label not supported: aaa"),
    ("=x", "field label not supported: "),
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    ("metadata.name!==a", "invalid field selector: unescaped character in value: 61"),
    (r"metadata.name=a\x", "invalid field selector: invalid escape sequence: \\x"),
    ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
]


@pytest.mark.parametrize(("text", "message"), FIELD_ERRORS,
                         ids=["unknown-field", "not-allowed-here", "space-is-part-of-name",
                              "first-sorted-term-reported", "empty-field", "no-operator",
                              "bare-second-term", "unescaped-equals", "not-equals-then-equals",
                              "bad-escape", "trailing-backslash"])
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        selectors.parse_field_selector(text, ("spec.nodeName",))
    assert str(err.value) == message


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("spec.nodeName=node-a", "spec.nodeName", "node-a"),
    ("status.phase=Running,spec.nodeName=node-b", "spec.nodeName", "node-b"),
    ("spec.nodeName!=node-a", "spec.nodeName", None),
    ("status.phase=Running", "spec.nodeName", None),
    ("spec.nodeName=", "spec.nodeName", ""),
], ids=["single", "among-others", "negated-is-not-exact", "absent", "empty-value"])
def test_field_selector_exact(text: str, field: str, expected: str | None) -> None:
    assert selectors.parse_field_selector(text, POD_FIELDS).exact(field) == expected


@pytest.mark.parametrize(("obj", "field", "expected"), [
    ({"spec": {"hostNetwork": True}}, "spec.hostNetwork", "true"),
    ({"spec": {"hostNetwork": False}}, "spec.hostNetwork", "false"),
    ({"status": {"replicas": 12}}, "status.replicas", "12"),
    ({"spec": None}, "spec.nodeName", ""),
    ({"spec": "scalar"}, "spec.nodeName", ""),
    ({"type": "Opaque"}, "type", "Opaque"),
], ids=["bool-true", "bool-false", "int", "null-parent", "scalar-parent", "top-level"])
def test_field_value_rendering(obj: dict[str, Any], field: str, expected: str) -> None:
    assert selectors.field_value(obj, field) == expected
