# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parser and renderer for MTA-STS policies (RFC 8461 section 3.2) and MX pattern matching (section 4.1).

Pure Python, no Ansible imports. ``parse_policy`` raises PolicyError and nothing else; ``check_policy``
gives every problem and warning as ``(finding code, message)`` pairs for the audit. The deploy module
renders with ``render_policy`` and validates its output with the same parser.

The grammar is the ABNF of section 3.2, read as the strict senders (mox, go-mtasts, postfix-tlspol)
read it: lines end in LF or CRLF (``sts-policy-term``), no line is empty or only spaces, and at most
one line ending follows the last field. A field other than mx that appears twice counts once, with
its first value, and the repeat is reported as a warning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from .domain import DomainError, comparable_name, to_a_labels
from .findings import quoted

MAX_POLICY_BYTES = 65536          # RFC 8461 section 3.3: senders stop at 64 KiB
MAX_MAX_AGE = 31557600            # RFC 8461 section 3.2: about one year
SHORT_MAX_AGE = 86400             # below a day, senders refetch all the time
MODES = ('enforce', 'testing', 'none')

_LINE_END = re.compile(r'\r?\n')       # sts-policy-term = LF / CRLF
_KEY = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
_VALUE = re.compile(r'^[\x21-\x7e\x80-\U0010ffff]([ \t]*[\x21-\x7e\x80-\U0010ffff])*$')
_MAX_AGE = re.compile(r'^[0-9]{1,10}$')
_HOST_LABEL = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', re.IGNORECASE)
_SINGLE_FIELDS = ('version', 'mode', 'max_age')


class PolicyError(ValueError):
    """A policy that does not follow RFC 8461 section 3.2.

    ``problems`` lists every ``(finding code, message)`` found, the failures first, then warnings;
    ``code`` is the first failure's code.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        self.code = self.problems[0][0]
        super(PolicyError, self).__init__('; '.join(message for _code, message in self.problems))


def is_valid_mx_pattern(pattern):
    """True for a host name, or ``*.`` followed by a host name (RFC 8461 section 3.2 sts-policy-mx-value).

    The name is in A-labels: RFC 8461 section 3.2 forbids U-labels in mx values.
    """
    if not isinstance(pattern, str):
        return False
    name = pattern[2:] if pattern.startswith('*.') else pattern
    if not name or len(name) > 253:
        return False
    labels = name.split('.')
    return len(labels) >= 2 and all(_HOST_LABEL.match(label) for label in labels)


def parse_policy(text):
    """Parse policy text (str, or bytes in UTF-8) into
    ``{'version', 'mode', 'max_age', 'mx', 'extensions', 'warnings'}``.

    Fields come in any order; unknown fields are kept in ``extensions`` and otherwise ignored, as
    senders ignore them. ``warnings`` lists ``{'code', 'message'}`` for what senders ignore.
    """
    parsed, problems = check_policy(text)
    if parsed is None:
        raise PolicyError(problems)
    return parsed


def check_policy(text):
    """``(parsed, problems)``: the parsed policy or None when it is invalid, and every problem found.

    ``problems`` are ``(finding code, message)`` pairs, failures first, then warnings: what the audit
    reports (each code's effect comes from the catalogue).
    """
    errors = []
    warnings = []
    if isinstance(text, bytes):
        try:
            text = text.decode('utf-8')
        except UnicodeDecodeError as exc:
            return None, [('policy-encoding', 'the policy is not UTF-8 text: the byte 0x%02x at offset %d cannot '
                                              'be decoded (%s)' % (exc.object[exc.start], exc.start, exc.reason))]
    if not isinstance(text, str):
        return None, [('policy-syntax', 'the policy is not text')]
    if not text.strip(' \t\r\n'):
        return None, [('policy-syntax', 'the policy is empty; write version, mode, mx and max_age lines')]
    lines = _LINE_END.split(text)
    if len(lines) > 1 and lines[-1] == '':
        lines.pop()  # one line ending after the last field is allowed: [sts-policy-term]
    single = dict((key, []) for key in _SINGLE_FIELDS)
    mx = []
    extensions = {}
    blank = []
    for number, line in enumerate(lines, start=1):
        if line.strip(' \t') == '':
            blank.append(number)
            continue
        field = _read_line(number, line, errors)
        if field is None:
            continue
        key, value = field
        if key == 'mx':
            mx.append((number, value))
        elif key in single:
            single[key].append((number, value))
        else:
            extensions.setdefault(key, value)  # RFC 8461 section 3.2: the first of a repeated field counts
    if blank:
        errors.append(('policy-blank-line', _blank_lines_message(blank, len(lines))))
    values = {}
    for key, check in (('version', _check_version), ('mode', _check_mode), ('max_age', _check_max_age)):
        occurrences = single[key]
        if not occurrences:
            errors.append((_FIELD_CODES[key], 'the %s field is missing' % key))
            continue
        for index, (number, value) in enumerate(occurrences):
            problem = check(value)
            if problem:
                errors.append((_FIELD_CODES[key], 'line %d: %s%s' % (number, problem, '' if index == 0 else (
                    ' (senders ignore a repeated %s, but some, such as mox, reject the policy when the repeat is '
                    'invalid)' % key))))
        if len(occurrences) > 1:
            warnings.append(('policy-field-duplicate', _duplicate_message(key, occurrences)))
        first = occurrences[0][1]
        if not check(first):
            values[key] = first
    for number, pattern in mx:
        if not is_valid_mx_pattern(pattern):
            errors.append(('policy-mx-invalid', 'line %d: %s' % (number, _mx_problem(pattern))))
    mode = values.get('mode')
    if mode in ('enforce', 'testing') and not mx:
        errors.append(('policy-mx-missing', 'mode %s needs at least one mx line' % mode))
    if errors:
        return None, errors + warnings
    parsed = {'version': values['version'], 'mode': mode, 'max_age': int(values['max_age']),
              'mx': [pattern for _number, pattern in mx], 'extensions': extensions,
              'warnings': [{'code': code, 'message': message} for code, message in warnings]}
    return parsed, warnings


_FIELD_CODES = {'version': 'policy-version-invalid', 'mode': 'policy-mode-invalid',
                'max_age': 'policy-max-age-invalid'}


def _read_line(number, line, errors):
    """``(key, value)`` of one line per sts-policy-field, or None after adding what is wrong to ``errors``."""
    key, sep, value = line.partition(':')
    problem = None
    if not sep:
        problem = '%s has no ":"; write one "name: value" per line' % quoted(line)
    elif key[:1] in (' ', '\t'):
        problem = 'it begins with a space or tab (%s); a line begins with its field name' % quoted(line)
    elif key[-1:] in (' ', '\t'):
        problem = 'there is a space or tab between %s and ":"' % quoted(key.rstrip(' \t'), 40)
    elif key.startswith('\ufeff') and number == 1:
        problem = 'the policy begins with a byte order mark (BOM); save it as UTF-8 without one'
    elif not _KEY.match(key):
        problem = '%s is not a field name (a letter or digit, then up to 31 letters, digits, "_", "-" or ".")' % (
            quoted(key, 40))
    else:
        value = value.strip(' \t')  # sts-policy-field-delim = ":" *WSP, and *WSP before the line end
        if '\r' in value:
            problem = 'it holds a carriage return (CR) without a line feed after it; end lines with LF or CRLF'
        elif not value:
            problem = 'the field %s has no value' % key
        elif not _VALUE.match(value):
            problem = 'the value of %s, %s, holds a control character' % (key, quoted(value))
    if problem:
        errors.append(('policy-syntax', 'line %d: %s' % (number, problem)))
        return None
    return key, value


def _check_version(value):
    return None if value == 'STSv1' else 'version is %s, expected STSv1' % quoted(value, 20)


def _check_mode(value):
    return None if value in MODES else 'mode is %s, expected enforce, testing or none' % quoted(value, 20)


def _check_max_age(value):
    if _MAX_AGE.match(value) and int(value) <= MAX_MAX_AGE:
        return None
    return 'max_age %s is not whole seconds from 0 to %d' % (quoted(value, 20), MAX_MAX_AGE)


def _mx_problem(pattern):
    name = pattern[2:] if pattern.startswith('*.') else pattern
    if not name.isascii():
        try:
            a_labels = to_a_labels(name)
        except DomainError as exc:
            return 'mx %s is not a host name: %s' % (quoted(pattern), exc)
        if is_valid_mx_pattern(a_labels):
            # RFC 8461 section 3.2: "the mx value MUST specify the Punycode-encoded A-label".
            return 'mx %s is written with U-labels; policies need A-labels: write %s' % (
                quoted(pattern), quoted(pattern[:len(pattern) - len(name)] + a_labels))
    if '*' in name:
        return 'mx %s has a "*" that is not the whole leftmost label ("*." is allowed only at the start)' % (
            quoted(pattern))
    return 'mx %s is not a host name or "*." followed by a host name' % quoted(pattern)


def _duplicate_message(key, occurrences):
    (first_number, first_value), ignored = occurrences[0], occurrences[1:]
    return '%s appears %d times; senders use the first, %s on line %d, and ignore %s (RFC 8461 section 3.2)' % (
        key, len(occurrences), first_value, first_number,
        ', '.join('line %d (%s)' % (number, quoted(value, 20)) for number, value in ignored))


def _blank_lines_message(numbers, line_count):
    trailing = []
    while numbers and numbers[-1] == line_count - len(trailing):
        trailing.insert(0, numbers.pop())
    parts = []
    if numbers:
        parts.append('%s %s' % ('line' if len(numbers) == 1 else 'lines', _number_ranges(numbers)))
    if trailing:
        parts.append('%s %s at the end (keep one line ending after the last line)' % (
            'line' if len(trailing) == 1 else 'lines', _number_ranges(trailing)))
    return ('remove %s: the policy grammar (RFC 8461 section 3.2) allows no empty or whitespace-only line, '
            'and senders such as mox and go-mtasts discard a policy that has one' % ' and '.join(parts))


def _number_ranges(numbers, limit=10):
    ranges = []
    for number in numbers:
        if ranges and ranges[-1][1] == number - 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    words = ['%d' % low if low == high else '%d-%d' % (low, high) for low, high in ranges[:limit]]
    if len(ranges) > limit:
        words.append('and %d more' % (len(ranges) - limit))
    return ', '.join(words)


def render_policy(mode, mx, max_age):
    """Render a policy in a canonical form: version, mode, one mx line per pattern (sorted, unique, in
    A-labels as RFC 8461 section 3.2 requires), max_age, each line ending in one LF."""
    lines = ['version: STSv1', 'mode: %s' % mode]
    lines.extend('mx: %s' % pattern for pattern in sorted(set(comparable_name(p) for p in mx)))
    lines.append('max_age: %s' % max_age)
    text = '\n'.join(lines) + '\n'
    parse_policy(text)  # the renderer never emits what the audit would reject
    return text


def policy_id(text):
    """A TXT record id derived from the policy's content: it changes exactly when the content changes."""
    if isinstance(text, str):
        text = text.encode('utf-8')
    return hashlib.sha256(text).hexdigest()[:20]


def mx_pattern_matches(pattern, host):
    """RFC 8461 section 4.1: a ``*.`` wildcard covers exactly one leftmost label; case-insensitive.

    Both sides are compared as A-labels, U-labels converted first (RFC 6125 section 6.4.2).
    """
    pattern = comparable_name(pattern)
    host = comparable_name(host)
    if pattern.startswith('*.'):
        first, dot, rest = host.partition('.')
        return bool(first) and bool(dot) and rest == pattern[2:]
    return pattern == host


def matching_pattern(patterns, host):
    """The first pattern that covers ``host``, or None."""
    for pattern in patterns:
        if mx_pattern_matches(pattern, host):
            return pattern
    return None


def pattern_matcher(patterns):
    """A function ``host -> matching_pattern(patterns, host)`` that costs the same for 1 or 4,000 patterns.

    RFC 8461 section 4.1: a host is covered by the pattern equal to it or by ``*.`` plus its parent, so two
    dictionary lookups replace the scan (a 64 KiB policy against thousands of MX hosts).
    """
    first = {}
    for index, pattern in enumerate(patterns):
        first.setdefault(comparable_name(pattern), (index, pattern))

    def match(host):
        host = comparable_name(host)
        label, dot, parent = host.partition('.')
        found = [item for item in (first.get(host), first.get('*.' + parent) if label and dot else None) if item]
        return min(found)[1] if found else None
    return match
