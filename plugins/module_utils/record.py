# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the DNS TXT records of MTA-STS (RFC 8461 section 3.1) and TLS-RPT (RFC 8460 section 3).

Pure Python, no Ansible imports. Parsers raise RecordError and nothing else.

Which TXT records count: RFC 8461 section 3.1 and RFC 8460 section 3 discard "records that do not
begin with" ``v=STSv1;`` / ``v=TLSRPTv1;``. Their ABNF (``sts-field-delim = *WSP ";" *WSP``) would
also allow a space before that first semicolon (erratum 6285 reports the conflict); senders that
apply the prose, as most do, discard ``v=STSv1 ; id=1``. The audit judges as they do: only a record
beginning with exactly ``v=STSv1;`` is a candidate, and the message for a near miss says what to fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from .findings import quoted

STS_VERSION = 'v=STSv1'
TLSRPT_VERSION = 'v=TLSRPTv1'
STS_PREFIX = STS_VERSION + ';'
TLSRPT_PREFIX = TLSRPT_VERSION + ';'

# RFC 8461 section 3.1 and RFC 8460 section 3 ABNF (the same productions in both)
_FIELD_DELIM = re.compile(r'[ \t]*;[ \t]*')
_STS_ID = re.compile(r'^[A-Za-z0-9]{1,32}$')
_EXT_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
_EXT_VALUE = re.compile(r'^[\x21-\x3a\x3c\x3e-\x7e]+$')
# RFC 8460 section 3: tlsrpt-rua = "rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri); URI from RFC 3986,
# commas and exclamation points percent-encoded; "mailto" and "https" are the two schemes it defines.
_RUA_SEPARATOR = re.compile(r'[ \t]*,[ \t]*')
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@$&'()*+=]|%[0-9A-Fa-f]{2})+$")
_TLSRPT_URI = re.compile(r'^(?:mailto:[^@]+@[^@]+|https://[^/?#]+(?:[/?#].*)?)$', re.IGNORECASE)


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
    """True for a record senders keep: it begins with exactly ``v=STSv1;`` (RFC 8461 section 3.1)."""
    return isinstance(text, str) and text.startswith(STS_PREFIX)


def is_tlsrpt_candidate(text):
    """True for a record senders keep: it begins with exactly ``v=TLSRPTv1;`` (RFC 8460 section 3)."""
    return isinstance(text, str) and text.startswith(TLSRPT_PREFIX)


def not_candidate_reason(text, prefix=STS_PREFIX):
    """Why senders discard ``text`` when they look for records beginning with ``prefix``, in words."""
    version = prefix[:-1]
    shown = quoted(text, 60)
    if text.startswith(prefix):
        return None
    if text.startswith(version):
        rest = text[len(version):]
        if rest == '' or not rest.strip(' \t'):
            return '%s has no ";" and no fields after %s' % (shown, version)
        if rest.lstrip(' \t').startswith(';'):
            return '%s has a space or tab before the first ";": write %s' % (shown, quoted(
                version + rest.lstrip(' \t'), 60))
        return '%s is another version or has no ";" after %s' % (shown, version)
    if text.lower().startswith(prefix.lower()) or text.lstrip(' \t').startswith(version):
        return '%s: the record must begin with exactly %s (case and spaces matter)' % (shown, prefix)
    return '%s is not a %s record' % (shown, version)


def ignored_records(texts, prefix=STS_PREFIX):
    """The reasons, one per record, that senders discard the records of ``texts`` not beginning with ``prefix``."""
    return [reason for reason in (not_candidate_reason(text, prefix) for text in texts) if reason]


def _fields(text, prefix, code):
    """The ``name=value`` fields after the version, per ``1*(field-delim field) [field-delim]``."""
    if not isinstance(text, str):
        raise RecordError('the record is not text', code=code)
    reason = not_candidate_reason(text, prefix)
    if reason:
        raise RecordError('senders discard this record: %s' % reason, code=code)
    if text != text.rstrip(' \t') and not text.rstrip(' \t').endswith(';'):
        raise RecordError('the record ends in a space or tab; remove it (only a ";" may be followed by spaces)',
                          code=code)
    fields = _FIELD_DELIM.split(text)[1:]
    if fields and fields[-1] == '':
        fields.pop()  # one trailing delimiter is allowed
    if not fields:
        raise RecordError('the record has no fields after "%s"' % prefix, code=code)
    parsed = []
    for field in fields:
        name, sep, value = field.partition('=')
        if not field:
            raise RecordError('the record has an empty field (two ";" in a row); remove one ";"', code=code)
        if not sep:
            raise RecordError('the field %s is not name=value' % quoted(field, 64), code=code)
        parsed.append((name, value))
    return parsed


def _check_extension(name, value, code):
    if not _EXT_NAME.match(name):
        raise RecordError('%s is not a field name (a letter or digit, then up to 31 letters, digits, "_", "-" '
                          'or ".")' % quoted(name, 40), code=code)
    if not _EXT_VALUE.match(value):
        raise RecordError('the value of field %s is %s; a value is one or more visible ASCII characters other '
                          'than "=" and ";"' % (name, quoted(value, 64) if value else 'empty'), code=code)


def parse_sts_record(text):
    """Parse one ``v=STSv1; id=...;`` record into ``{'version', 'id', 'extensions', 'warnings'}``.

    RFC 8461 section 3.2: a repeated field (any but mx, so ``id`` and ``v`` here) counts once, its first
    value; ``warnings`` lists each repeat as ``{'code', 'message'}``.
    """
    record_id = None
    extensions = {}
    warnings = []
    for name, value in _fields(text, STS_PREFIX, 'txt-invalid'):
        if name == 'id':
            if not _STS_ID.match(value):
                raise RecordError('the id %s is not 1 to 32 letters or digits' % quoted(value, 64)
                                  if value else 'the id is empty; write 1 to 32 letters or digits after "id="')
            if record_id is None:
                record_id = value
            else:
                warnings.append({'code': 'txt-field-duplicate', 'message':
                                 'the record has more than one id; senders use the first (%s) and ignore %s' % (
                                     record_id, value)})
            continue
        _check_extension(name, value, 'txt-invalid')
        if name == 'v':
            warnings.append({'code': 'txt-field-duplicate', 'message':
                             'the record repeats the v field (v=%s); senders ignore the repeat' % value})
        elif name in extensions:
            warnings.append({'code': 'txt-field-duplicate', 'message':
                             'the record repeats the field %s; senders ignore the repeat' % name})
        else:
            extensions[name] = value
    if record_id is None:
        raise RecordError('the record has no id field; write "v=STSv1; id=<1-32 letters or digits>;"')
    return {'version': 'STSv1', 'id': record_id, 'extensions': extensions, 'warnings': warnings}


def parse_tlsrpt_record(text):
    """Parse one ``v=TLSRPTv1; rua=...`` record into ``{'version', 'rua', 'extensions'}``.

    RFC 8460 section 3 ABNF: ``rua`` may appear more than once (``1*(field-delim tlsrpt-field)``); the
    URIs of every ``rua`` field count, in order. Extensions are checked against the ABNF and ignored.
    """
    code = 'tlsrpt-invalid'
    rua = []
    seen_rua = False
    extensions = {}
    for name, value in _fields(text, TLSRPT_PREFIX, code):
        if name == 'rua':
            seen_rua = True
            for uri in _RUA_SEPARATOR.split(value):
                _check_rua_uri(uri)
                if uri not in rua:
                    rua.append(uri)
            continue
        _check_extension(name, value, code)
        extensions.setdefault(name, value)
    if not seen_rua:
        raise RecordError('the record has no rua field; add "rua=mailto:<address>" or "rua=https://<url>"', code=code)
    return {'version': 'TLSRPTv1', 'rua': rua, 'extensions': extensions}


def _check_rua_uri(uri):
    code = 'tlsrpt-invalid'
    if not uri:
        raise RecordError('the rua field has an empty URI (a "," with nothing after it, or "rua=" alone)', code=code)
    if '!' in uri:
        raise RecordError('the rua URI %s holds "!", which RFC 8460 section 3 requires percent-encoded (%%21)'
                          % quoted(uri, 128), code=code)
    if not _URI_CHARS.match(uri):
        raise RecordError('the rua URI %s holds characters a URI cannot (spaces, non-ASCII or control '
                          'characters must be percent-encoded)' % quoted(uri, 128), code=code)
    if not _TLSRPT_URI.match(uri):
        raise RecordError('the rua URI %s is not a mailto: address or an https:// URL, the two kinds RFC 8460 '
                          'section 3 defines' % quoted(uri, 128), code=code)


def render_sts_record(record_id):
    """The TXT record for a policy id, in the form the parser accepts."""
    if not isinstance(record_id, str) or not _STS_ID.match(record_id):
        raise RecordError('the id %s is not 1 to 32 letters or digits' % quoted(record_id, 64))
    return '%s id=%s;' % (STS_PREFIX, record_id)
