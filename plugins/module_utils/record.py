# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers for the DNS TXT records of MTA-STS (RFC 8461 section 3.1) and TLS-RPT (RFC 8460 section 3).

Pure Python, no Ansible imports. Parsers raise RecordError and nothing else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

STS_VERSION = 'v=STSv1'
TLSRPT_VERSION = 'v=TLSRPTv1'

# RFC 8461 section 3.1 ABNF
_FIELD_DELIM = re.compile(r'[ \t]*;[ \t]*')
_STS_ID = re.compile(r'^[A-Za-z0-9]{1,32}$')
_EXT_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
_EXT_VALUE = re.compile(r'^[\x21-\x3a\x3c\x3e-\x7e]+$')
# RFC 8460 section 3: tlsrpt-uri = URI (mailto: or https:), ',' separated
_TLSRPT_URI = re.compile(r'^(mailto:[^\s,!;]+@[^\s,!;]+|https://[^\s,;]+)$', re.IGNORECASE)


class RecordError(ValueError):
    """A TXT record that does not follow its grammar. ``code`` is a finding code."""

    def __init__(self, message, code='txt-invalid'):
        super(RecordError, self).__init__(message)
        self.code = code


def join_txt_strings(strings):
    """A TXT record's character-strings joined, as RFC 8461 section 3.1 asks, decoded as text."""
    parts = []
    for part in strings:
        if isinstance(part, bytes):
            part = part.decode('utf-8', 'replace')
        parts.append(part)
    return ''.join(parts)


def is_sts_candidate(text):
    """True for a record senders keep: it begins with v=STSv1 (case-sensitive, RFC 8461 section 3.1)."""
    if not text.startswith(STS_VERSION):
        return False
    rest = text[len(STS_VERSION):]
    return rest == '' or rest[0] in ' \t;'


def parse_sts_record(text):
    """Parse one ``v=STSv1; id=...;`` record into ``{'version', 'id', 'extensions'}``."""
    if not isinstance(text, str):
        raise RecordError('the record is not text')
    if not is_sts_candidate(text):
        raise RecordError('the record does not begin with v=STSv1')
    fields = _FIELD_DELIM.split(text)
    if fields[-1] == '':
        fields.pop()  # one trailing delimiter is allowed
    if len(fields) < 2:
        raise RecordError('the record has no id field')
    record_id = None
    extensions = {}
    for field in fields[1:]:
        name, sep, value = field.partition('=')
        if not sep:
            raise RecordError('field %r is not name=value' % field[:64])
        if name == 'id':
            if record_id is not None:
                raise RecordError('the record has more than one id field')
            if not _STS_ID.match(value):
                raise RecordError('id %r is not 1 to 32 letters or digits' % value[:64])
            record_id = value
        elif name == 'v':
            raise RecordError('the record has more than one v field')
        else:
            if not _EXT_NAME.match(name) or not _EXT_VALUE.match(value):
                raise RecordError('extension field %r is malformed' % field[:64])
            extensions[name] = value
    if record_id is None:
        raise RecordError('the record has no id field')
    return {'version': 'STSv1', 'id': record_id, 'extensions': extensions}


def parse_tlsrpt_record(text):
    """Parse one ``v=TLSRPTv1; rua=...`` record into ``{'version', 'rua', 'extensions'}``."""
    if not isinstance(text, str):
        raise RecordError('the record is not text', code='tlsrpt-invalid')
    fields = _FIELD_DELIM.split(text.strip())
    if fields and fields[-1] == '':
        fields.pop()
    if not fields or fields[0] != TLSRPT_VERSION:
        raise RecordError('the record does not begin with v=TLSRPTv1', code='tlsrpt-invalid')
    rua = None
    extensions = {}
    for field in fields[1:]:
        name, sep, value = field.partition('=')
        if not sep:
            raise RecordError('field %r is not name=value' % field[:64], code='tlsrpt-invalid')
        if name == 'rua':
            if rua is not None:
                raise RecordError('the record has more than one rua field', code='tlsrpt-invalid')
            rua = [uri.strip() for uri in value.split(',')]
            for uri in rua:
                if not _TLSRPT_URI.match(uri):
                    raise RecordError('rua %r is not a mailto: or https: URI' % uri[:128], code='tlsrpt-invalid')
        else:
            extensions[name] = value
    if rua is None:
        raise RecordError('the record has no rua field', code='tlsrpt-invalid')
    return {'version': 'TLSRPTv1', 'rua': rua, 'extensions': extensions}


def is_tlsrpt_candidate(text):
    return text.startswith(TLSRPT_VERSION)


def render_sts_record(record_id):
    """The TXT record for a policy id, in the form the parser accepts."""
    if not _STS_ID.match(record_id or ''):
        raise RecordError('id %r is not 1 to 32 letters or digits' % (record_id,))
    return '%s; id=%s;' % (STS_VERSION, record_id)
