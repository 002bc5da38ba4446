# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TXT record values as the deploy writes them: the TLS-RPT record, and each DNS provider's notation.

Pure Python, no Ansible imports. This is the one place where TXT quoting per provider is decided:
the role's provider task files and the powerdns_record module all go through ``provider_txt_value``
(and ``unquote_txt`` to read values back).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from .findings import quoted
from .record import RecordError, parse_tlsrpt_record

# RFC 1035 section 3.3: one character-string holds at most 255 octets.
MAX_STRING_OCTETS = 255

# How each provider (or the Ansible module that talks to it) wants a TXT value:
#   zone   - zone-file notation: every character-string in double quotes, '\\' and '"' escaped,
#            long values split into several strings (RFC 1035 section 5.1).
#   plain  - the text itself; the module or the API quotes and splits it.
PROVIDER_NOTATION = {
    'nsupdate': 'zone',      # community.general.nsupdate hands the value to dnspython's zone-file parser
    'route53': 'zone',       # Route 53 stores TXT values in zone-file notation
    'powerdns': 'zone',      # the PowerDNS API stores record content in zone-file notation
    'google': 'zone',        # Cloud DNS rrdatas are zone-file notation
    'cloudflare': 'zone',    # Cloudflare recommends quoted TXT content and returns it as stored
    'azure': 'plain',        # azure_rm_dnsrecordset passes the entry to the SDK as one string
    'hetzner': 'plain',      # community.dns with txt_transformation=unquoted (its default) quotes itself
}

_ZONE_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|((?:[^"\s\\]|\\.)+)')
_ESCAPE = re.compile(r'\\(\d{3}|.)')


_UNREADABLE = ('cannot read the TXT value %s as zone-file notation (each string in double quotes, a backslash or '
               'double quote inside one escaped with a backslash)')


class TxtError(ValueError):
    pass


def split_strings(text, limit=MAX_STRING_OCTETS):
    """``text`` as character-strings of at most ``limit`` UTF-8 octets, never splitting a character."""
    strings = []
    current = ''
    size = 0
    for char in text:
        width = len(char.encode('utf-8'))
        if size + width > limit:
            strings.append(current)
            current, size = '', 0
        current += char
        size += width
    if current or not strings:
        strings.append(current)
    return strings


def quote_txt(text):
    """Zone-file notation of a TXT value: ``"v=STSv1; id=abc;"``, split in 255-octet strings when longer."""
    if not isinstance(text, str):
        raise TxtError('a TXT value must be text, got %s' % type(text).__name__)
    return ' '.join('"%s"' % part.replace('\\', '\\\\').replace('"', '\\"') for part in split_strings(text))


def unquote_txt(value):
    """The text of a TXT value in zone-file notation, its character-strings joined (RFC 8461 section 3.1).

    A value without any double quote is taken as one unquoted string, as providers return it sometimes.
    """
    if not isinstance(value, str):
        raise TxtError('a TXT value must be text, got %s' % type(value).__name__)
    value = value.strip()
    if '"' not in value:
        return _unescape(value)
    parts = []
    position = 0
    for match in _ZONE_STRING.finditer(value):
        if value[position:match.start()].strip():
            raise TxtError(_UNREADABLE % quoted(value))
        parts.append(_unescape(match.group(1) if match.group(1) is not None else match.group(2)))
        position = match.end()
    if value[position:].strip():
        raise TxtError(_UNREADABLE % quoted(value))
    return ''.join(parts)


def _unescape(text):
    def replace(match):
        escaped = match.group(1)
        return chr(int(escaped)) if escaped.isdigit() else escaped
    return _ESCAPE.sub(replace, text)


def provider_txt_value(text, provider):
    """``text`` in the notation ``provider`` expects (see PROVIDER_NOTATION)."""
    try:
        notation = PROVIDER_NOTATION[provider]
    except KeyError:
        raise TxtError('unknown DNS provider %s; expected one of %s' % (
            quoted(provider), ', '.join(sorted(PROVIDER_NOTATION))))
    if notation == 'zone':
        return quote_txt(text)
    if not isinstance(text, str):
        raise TxtError('a TXT value must be text, got %s' % type(text).__name__)
    return text


def render_tlsrpt_record(rua):
    """The TLS-RPT record (RFC 8460 section 3) for report URIs, in the form the audit's parser accepts."""
    if isinstance(rua, str):
        rua = [rua]
    uris = [uri.strip() for uri in rua or [] if uri and uri.strip()]
    if not uris:
        raise RecordError('a TLS-RPT record needs at least one rua URI (mailto: or https:)', code='tlsrpt-invalid')
    text = 'v=TLSRPTv1; rua=%s' % ','.join(uris)
    parse_tlsrpt_record(text)  # never publish what the audit would reject
    return text
