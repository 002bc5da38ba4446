# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parser and renderer for MTA-STS policies (RFC 8461 section 3.2) and MX pattern matching (section 4.1).

Pure Python, no Ansible imports. ``parse_policy`` raises PolicyError and nothing else; the deploy
module renders with ``render_policy`` and validates its output with the same parser.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

MAX_POLICY_BYTES = 65536          # RFC 8461 section 3.3: senders stop at 64 KiB
MAX_MAX_AGE = 31557600            # RFC 8461 section 3.2: about one year
SHORT_MAX_AGE = 86400             # below a day, senders refetch all the time
MODES = ('enforce', 'testing', 'none')

_LINE_BREAK = re.compile(r'\r?\n')
_KEY = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
_VALUE = re.compile(r'^[\x21-\x7e\x80-\U0010ffff]([ \t]*[\x21-\x7e\x80-\U0010ffff])*$')
_MAX_AGE = re.compile(r'^[0-9]{1,10}$')
_HOST_LABEL = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', re.IGNORECASE)
_SINGLE_FIELDS = ('version', 'mode', 'max_age')


class PolicyError(ValueError):
    """A policy that does not follow RFC 8461 section 3.2.

    ``problems`` lists every ``(finding code, message)`` found; ``code`` is the first one's code.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        self.code = self.problems[0][0]
        super(PolicyError, self).__init__('; '.join(message for _code, message in self.problems))


def is_valid_mx_pattern(pattern):
    """True for a host name, or ``*.`` followed by a host name (RFC 8461 section 3.2 sts-policy-mx-value)."""
    if not isinstance(pattern, str):
        return False
    name = pattern[2:] if pattern.startswith('*.') else pattern
    if not name or len(name) > 253:
        return False
    labels = name.split('.')
    return len(labels) >= 2 and all(_HOST_LABEL.match(label) for label in labels)


def parse_policy(text):
    """Parse policy text into ``{'version', 'mode', 'max_age', 'mx', 'extensions'}``.

    Lines end in LF or CRLF; fields come in any order; unknown fields are kept in
    ``extensions`` and otherwise ignored, as senders ignore them.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise PolicyError([('policy-encoding', 'the policy is not UTF-8: %s' % exc)])
    if not isinstance(text, str):
        raise PolicyError([('policy-syntax', 'the policy is not text')])
    problems = []
    fields = {}
    mx = []
    extensions = {}
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if line.strip() == '':
            continue
        key, sep, value = line.partition(':')
        value = value.lstrip(' \t').rstrip(' \t')
        if not sep or not _KEY.match(key) or not _VALUE.match(value):
            problems.append(('policy-syntax', 'line %d is not "key: value": %r' % (number, line[:80])))
            continue
        if key == 'mx':
            mx.append(value)
        elif key in _SINGLE_FIELDS:
            if key in fields:
                problems.append(('policy-field-duplicate', '%s appears more than once (line %d)' % (key, number)))
            else:
                fields[key] = value
        else:
            extensions[key] = value
    version = fields.get('version')
    if version != 'STSv1':
        problems.append(('policy-version-invalid', 'version is %r, expected STSv1' % version if version
                         else 'the version field is missing'))
    mode = fields.get('mode')
    if mode not in MODES:
        problems.append(('policy-mode-invalid', 'mode is %r, expected enforce, testing or none' % mode if mode
                         else 'the mode field is missing'))
    max_age = None
    raw_max_age = fields.get('max_age')
    if raw_max_age is None:
        problems.append(('policy-max-age-invalid', 'the max_age field is missing'))
    elif not _MAX_AGE.match(raw_max_age) or int(raw_max_age) > MAX_MAX_AGE:
        problems.append(('policy-max-age-invalid',
                         'max_age %r is not whole seconds from 0 to %d' % (raw_max_age[:20], MAX_MAX_AGE)))
    else:
        max_age = int(raw_max_age)
    for pattern in mx:
        if not is_valid_mx_pattern(pattern):
            problems.append(('policy-mx-invalid', 'mx %r is not a host name or *.host pattern' % pattern[:80]))
    if mode in ('enforce', 'testing') and not mx:
        problems.append(('policy-mx-missing', 'mode %s needs at least one mx line' % mode))
    if problems:
        raise PolicyError(problems)
    return {'version': version, 'mode': mode, 'max_age': max_age, 'mx': mx, 'extensions': extensions}


def render_policy(mode, mx, max_age):
    """Render a policy in a canonical form: version, mode, one mx line per pattern (sorted, unique), max_age."""
    lines = ['version: STSv1', 'mode: %s' % mode]
    lines.extend('mx: %s' % pattern for pattern in sorted(set(p.lower().rstrip('.') for p in mx)))
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
    """RFC 8461 section 4.1: a ``*.`` wildcard covers exactly one leftmost label; case-insensitive."""
    pattern = pattern.lower().rstrip('.')
    host = host.lower().rstrip('.')
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
        first.setdefault(pattern.lower().rstrip('.'), (index, pattern))

    def match(host):
        host = host.lower().rstrip('.')
        label, dot, parent = host.partition('.')
        found = [item for item in (first.get(host), first.get('*.' + parent) if label and dot else None) if item]
        return min(found)[1] if found else None
    return match
