"""Building blocks shared by every validator: the ``Cause`` record with its Go-identical
message text, Go-style rendering of bad values, and the syntax checks (DNS names, label
keys and values, ports, IPs, quantities) whose wording must match the apiserver's.

Syntax checks return lists of messages (like apimachinery's ``Is*`` functions); the
``check``-style helpers turn them into causes at a field path.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any


class Reason(StrEnum):
    """metav1.CauseType values, as the 422 Status carries them."""

    INVALID = "FieldValueInvalid"
    REQUIRED = "FieldValueRequired"
    NOT_SUPPORTED = "FieldValueNotSupported"
    DUPLICATE = "FieldValueDuplicate"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    NOT_FOUND = "FieldValueNotFound"


@dataclass(frozen=True)
class Cause:
    """One field error: the path, its CauseType and the text after the path."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class GoValue:
    """A bad value already rendered the way Go's ``%#v`` prints the internal type."""

    text: str


# --- rendering values like field.Error.ErrorBody -------------------------------------

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """strconv.Quote: printable runes kept, the rest escaped."""
    out = []
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def go_string_map(d: Mapping[str, Any] | None) -> GoValue:
    if d is None:
        return GoValue("map[string]string(nil)")
    items = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}" for k, v in sorted(d.items()))
    return GoValue(f"map[string]string{{{items}}}")


def go_slice(items: Iterable[Any] | None, type_name: str = "[]string") -> GoValue:
    if items is None:
        return GoValue(f"{type_name}(nil)")
    return GoValue(type_name + "{" + ", ".join(render(v) for v in items) + "}")


def go_int_or_string(value: Any) -> GoValue:
    if isinstance(value, str):
        return GoValue(f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}')
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return GoValue(f'intstr.IntOrString{{Type:0, IntVal:{number}, StrVal:""}}')


def render(value: Any) -> str:
    if isinstance(value, GoValue):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        return go_string_map(value).text
    if isinstance(value, list):
        return go_slice(value).text
    return go_quote(str(value))


# --- causes ---------------------------------------------------------------------------

def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, Reason.INVALID, f"Invalid value: {render(value)}: {detail}")


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, Reason.REQUIRED, "Required value" + (f": {detail}" if detail else ""))


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    quoted = ", ".join(go_quote(v) for v in supported)
    detail = f": supported values: {quoted}" if quoted else ""
    return Cause(path, Reason.NOT_SUPPORTED, f"Unsupported value: {render(value)}{detail}")


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, Reason.DUPLICATE, f"Duplicate value: {render(value)}")


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, Reason.FORBIDDEN, f"Forbidden: {detail}")


def too_long(path: str, max_bytes: int) -> Cause:
    return Cause(path, Reason.TOO_LONG, f"Too long: must have at most {max_bytes} bytes")


def too_many(path: str, actual: int, max_items: int) -> Cause:
    return Cause(path, Reason.TOO_MANY, f"Too many: {actual}: must have at most {max_items} items")


def not_found(path: str, value: Any) -> Cause:
    return Cause(path, Reason.NOT_FOUND, f"Not found: {render(value)}")


def each_invalid(path: str, value: Any, messages: Iterable[str]) -> list[Cause]:
    return [invalid(path, value, m) for m in messages]


# --- tolerant access to decoded JSON (type errors are the decoder's business) ---------

def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def dicts(value: Any) -> list[dict]:
    return [as_dict(item) for item in as_list(value)]


# --- apimachinery/pkg/util/validation -------------------------------------------------

def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_WILDCARD_FMT = "\\*\\." + _SUBDOMAIN_FMT
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_PERCENT_FMT = "[0-9]+%"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_HEADER_FMT = "[-A-Za-z0-9]+"


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile("^" + fmt + "$")


_LABEL_RE, _SUBDOMAIN_RE = _full(_LABEL_FMT), _full(_SUBDOMAIN_FMT)
_DNS1035_RE, _WILDCARD_RE = _full(_DNS1035_FMT), _full(_WILDCARD_FMT)
_QNAME_RE, _LABEL_VALUE_RE = _full(_QNAME_FMT), _full(_LABEL_VALUE_FMT)
_PERCENT_RE, _CONFIG_KEY_RE, _HEADER_RE = (_full(_PERCENT_FMT), _full(_CONFIG_KEY_FMT),
                                           _full(_HEADER_FMT))

_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
              "end with an alphanumeric character")


def _match(pattern: re.Pattern[str], value: str) -> bool:
    # Go's $ does not match before a trailing newline, Python's does.
    return "\n" not in value and pattern.match(value) is not None


def dns1123_label(value: str) -> list[str]:
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _match(_LABEL_RE, value):
        if _match(_SUBDOMAIN_RE, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    errs = [max_len_error(253)] if len(value) > 253 else []
    if not _match(_SUBDOMAIN_RE, value):
        errs.append(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            _SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _match(_DNS1035_RE, value):
        errs.append(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_FMT, "my-name", "abc-123"))
    return errs


def wildcard_dns1123_subdomain(value: str) -> list[str]:
    errs = [max_len_error(253)] if len(value) > 253 else []
    if not _match(_WILDCARD_RE, value):
        errs.append(regex_error(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
            "subdomain, which must consist of lower case alphanumeric characters, '-' or '.' "
            "and end with an alphanumeric character", _WILDCARD_FMT, "*.example.com"))
    return errs


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: label keys, annotation keys, finalizers, appProtocol..."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return [("a qualified name " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                   "123-abc")
                 + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _match(_QNAME_RE, name):
        errs.append("name part " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                               "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    errs = [max_len_error(63)] if len(value) > 63 else []
    if not _match(_LABEL_VALUE_RE, value):
        errs.append(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character",
            _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def port_name(port: str) -> list[str]:
    """IANA_SVC_NAME: at most 15 characters, [-a-z0-9], at least one letter."""
    errs = [max_len_error(15)] if len(port) > 15 else []
    if not re.fullmatch(r"[-a-z0-9]+", port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def percent(value: str) -> list[str]:
    if _match(_PERCENT_RE, value):
        return []
    return [regex_error("a valid percent string must be a numeric string followed by an "
                        "ending '%'", _PERCENT_FMT, "1%", "93%")]


def http_header_name(value: str) -> list[str]:
    if _match(_HEADER_RE, value):
        return []
    return [regex_error("a valid HTTP header must consist of alphanumeric characters or '-'",
                        _HEADER_FMT, "X-Header-Name")]


def env_var_name(value: str) -> list[str]:
    """The relaxed rule (RelaxedEnvironmentVariableValidation is on by default in 1.32)."""
    if not value:
        return ["environment variable name must be non-empty"]
    if any(ord(ch) > 126 or ord(ch) < 32 or ch == "=" for ch in value):
        return ["a valid environment variable name must consist only of printable ASCII "
                "characters other than '='"]
    return []


def config_map_key(value: str) -> list[str]:
    errs = [max_len_error(253)] if len(value) > 253 else []
    if not _match(_CONFIG_KEY_RE, value):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, "
                                "'-', '_' or '.'", _CONFIG_KEY_FMT, "key.name", "KEY_NAME",
                                "key-name"))
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _mask_trailing_dash(name: str, prefix: bool) -> str:
    # generateName prefixes may end in '-': a suffix is appended before use.
    return name[:-1] + "a" if prefix and len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return dns1123_subdomain(_mask_trailing_dash(name, prefix))


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return dns1123_label(_mask_trailing_dash(name, prefix))


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return dns1035_label(_mask_trailing_dash(name, prefix))


# --- addresses ------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str) -> IPAddress | None:
    """netutils.ParseIPSloppy: IPv4 octets may carry leading zeros; no IPv6 zones."""
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", value):
        octets = [int(p) for p in value.split(".")]
        return ipaddress.IPv4Address(".".join(map(str, octets))) if max(octets) < 256 else None
    if ":" not in value or "%" in value:
        return None
    try:
        return ipaddress.IPv6Address(value)
    except ValueError:
        return None


def parse_cidr(value: str) -> IPNetwork | None:
    addr, sep, bits = value.partition("/")
    ip = parse_ip(addr)
    if not sep or ip is None or not re.fullmatch(r"\d{1,3}", bits) or int(bits) > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)


def check_ip(path: str, value: str) -> list[Cause]:
    if parse_ip(value) is not None:
        return []
    return [invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]


def check_cidr(path: str, value: str) -> list[Cause]:
    if parse_cidr(value) is not None:
        return []
    return [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]


def check_endpoint_ip(path: str, value: str) -> list[Cause]:
    """ValidateEndpointIP, except that loopback is allowed: every kubeloop node, pod and
    service address lives in 127.0.0.0/8."""
    ip = parse_ip(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    causes = []
    if ip.is_unspecified:
        causes.append(invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_link_local:
        causes.append(invalid(path, value,
                              "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if ip in ipaddress.ip_network("224.0.0.0/24") or (
            ip.version == 6 and ip in ipaddress.ip_network("ff02::/16")):
        causes.append(invalid(path, value, "may not be in the link-local multicast range "
                                           "(224.0.0.0/24, ff02::/10)"))
    return causes


def check_port_num_or_name(path: str, value: Any) -> list[Cause]:
    """ValidatePortNumOrName for an IntOrString field."""
    if isinstance(value, str):
        return each_invalid(path, value, port_name(value))
    number = as_int(value) or 0
    return each_invalid(path, number, port_num(number))


def nonnegative(path: str, value: Any) -> list[Cause]:
    number = as_int(value)
    if number is not None and number < 0:
        return [invalid(path, number, "must be greater than or equal to 0")]
    return []


# --- resource quantities --------------------------------------------------------------

QUANTITY_FORMAT_ERROR = ("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
_QUANTITY_RE = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|"
                          r"[eE][+-]?\d+)?")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {e: s for s, e in _DECIMAL.items()}
_BINARY_SUFFIX = {e: s for s, e in _BINARY.items()}


@dataclass(frozen=True)
class Quantity:
    """A parsed resource.Quantity: exact value plus the format its suffix implies."""

    value: Fraction
    format: str  # DecimalSI | BinarySI | DecimalExponent
    mantissa: int  # as Go's int64Amount holds it, for %#v rendering
    scale: int

    def __str__(self) -> str:
        """Quantity.String(): the canonical form, rounded up to nano units."""
        v = Fraction(math.ceil(self.value * 10**9), 10**9)
        if v == 0:
            return "0"
        if self.format == "BinarySI" and abs(v) >= 1024 and v.denominator == 1:
            n, exp = int(v), 0
            while exp < 60 and n % 1024 == 0:
                n, exp = n // 1024, exp + 10
            return f"{n}{_BINARY_SUFFIX.get(exp, '')}"
        exp = next(e for e in range(18, -10, -3) if (v / Fraction(10) ** e).denominator == 1)
        number = int(v / Fraction(10) ** exp)
        if self.format == "DecimalExponent":
            return f"{number}e{exp}" if exp else str(number)
        return f"{number}{_DECIMAL_SUFFIX[exp]}"

    def go(self) -> GoValue:
        return GoValue(f"resource.Quantity{{i:resource.int64Amount{{value:{self.mantissa}, "
                       f"scale:{self.scale}}}, d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, "
                       f's:"", Format:"{self.format}"}}')


def parse_quantity(text: Any) -> Quantity | None:
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        return None
    m = _QUANTITY_RE.fullmatch(text.strip())
    if not m or not (m.group(2) or m.group(3)):
        return None
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4) or ""
    digits = int((whole or "0") + frac) * (-1 if sign == "-" else 1)
    value = Fraction(digits, 10 ** len(frac))
    if suffix in _BINARY:
        return Quantity(value * 2 ** _BINARY[suffix], "BinarySI", digits, -len(frac))
    if suffix in _DECIMAL:
        return Quantity(value * Fraction(10) ** _DECIMAL[suffix], "DecimalSI", digits,
                        _DECIMAL[suffix] - len(frac))
    exp = int(suffix[1:])
    return Quantity(value * Fraction(10) ** exp, "DecimalExponent", digits, exp - len(frac))
