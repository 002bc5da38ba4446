# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to this collection: readers of accepted-domain lists (YAML/JSON lists, CSV, text, Exchange exports),
shared by the inventory plugin mailsec.mta_sts.domains and the filter mailsec.mta_sts.domain_list.

Each reader returns a list of entries ``{'domain': ..., 'type', 'tags', 'default', ...}``. An item that cannot be
read becomes an entry with ``problem`` (and ``where``) so that the caller skips it with a warning naming it; a
source in which no item can be read raises SourceError.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
import json
import re

DOMAIN_TYPES = ('Authoritative', 'InternalRelay', 'ExternalRelay')
# Microsoft.Exchange.Data.Directory.SystemConfiguration.AcceptedDomainType, as ConvertTo-Json writes it.
EXCHANGE_TYPE_CODES = {0: 'Authoritative', 1: 'ExternalRelay', 2: 'InternalRelay'}
DOMAIN_COLUMNS = ('domain', 'domainname', 'domain_name', 'name', 'id')
TYPE_COLUMNS = ('type', 'domaintype', 'domain_type')


class SourceError(ValueError):
    """A source that cannot be read; the message names the file and what is wrong."""


# ------------------------------------------------------------------------------------------------
# reading sources: each reader returns a list of entries {'domain': str, 'type', 'tags', 'default', ...}

def decode_text(data):
    """Text of a file written by PowerShell or anything else: UTF-8 (with or without BOM) or UTF-16 with BOM."""
    if data.startswith(b'\xff\xfe') or data.startswith(b'\xfe\xff'):
        return data.decode('utf-16')
    if data.startswith(b'\xef\xbb\xbf'):
        return data[3:].decode('utf-8')
    return data.decode('utf-8')


def exchange_type(value):
    """Authoritative / InternalRelay / ExternalRelay from text, the enum's integer, or a deserialized enum object."""
    if isinstance(value, dict):
        value = value.get('Value', value.get('value'))
    if isinstance(value, bool) or value is None or value == '':
        return None
    if isinstance(value, int):
        if value not in EXCHANGE_TYPE_CODES:
            raise SourceError('DomainType %d is not an AcceptedDomainType (0, 1 or 2)' % value)
        return EXCHANGE_TYPE_CODES[value]
    text = str(value).strip()
    if text.isdigit():
        return exchange_type(int(text))
    for known in DOMAIN_TYPES:
        if text.lower() == known.lower():
            return known
    raise SourceError('DomainType %r is not Authoritative, InternalRelay or ExternalRelay' % text)


def _exchange_domain_name(value):
    """(name, match_subdomains) from DomainName: a string, or SmtpDomainWithSubdomains serialized as an object."""
    if isinstance(value, dict):
        sub = bool(value.get('IncludeSubDomains'))
        name = value.get('Domain') or (value.get('SmtpDomain') or {}).get('Domain') or value.get('Address')
        return (str(name) if name is not None else None), sub
    if value is None:
        return None, False
    text = str(value).strip()
    if text.startswith('*.'):
        return text[2:], True
    return text, False


def _truth(value):
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in ('true', 'yes', '1', 'y')


def parse_exchange(data):
    """Entries of a Get-AcceptedDomain | ConvertTo-Json export (one object, a list, or {"value": [...]})."""
    try:
        document = json.loads(decode_text(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError('not JSON: %s' % exc)
    if isinstance(document, dict) and isinstance(document.get('value'), list):
        document = document['value']  # Windows PowerShell 5.1 wraps some arrays: {"value": [...], "Count": n}
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise SourceError('expected the objects of Get-AcceptedDomain, got %s' % type(document).__name__)
    entries = []
    for position, item in enumerate(document):
        try:
            entries.append(_exchange_entry(item, position))
        except SourceError as exc:
            entries.append(_problem(exc, 'item %d' % position, item))
    return readable(entries)


def _exchange_entry(item, position):
    if not isinstance(item, dict) or 'DomainName' not in item:
        raise SourceError('item %d has no DomainName: is this Get-AcceptedDomain | ConvertTo-Json?' % position)
    name, sub = _exchange_domain_name(item.get('DomainName'))
    try:
        domain_type = exchange_type(item.get('DomainType'))
    except SourceError as exc:
        raise SourceError('item %d (%s): %s' % (position, name, exc))
    return {'domain': name, 'type': domain_type, 'default': _truth(item.get('Default')),
            'match_subdomains': sub or _truth(item.get('MatchSubDomains')),
            'name': item.get('Name') if isinstance(item.get('Name'), str) else None,
            'initial': _truth(item.get('InitialDomain'))}


def _problem(exc, where, item):
    """The entry of an item that cannot be read: skipped with a warning naming it, the rest is read."""
    given = item.get('DomainName', item.get('domain')) if isinstance(item, dict) else item
    return {'domain': given if isinstance(given, str) else None, 'problem': str(exc), 'where': where}


def readable(entries):
    """The entries, unless every one of them is a problem: then the source is not what it claims to be."""
    if entries and all(entry.get('problem') for entry in entries):
        more = ' (and %d more items like it)' % (len(entries) - 1) if len(entries) > 1 else ''
        raise SourceError(entries[0]['problem'] + more)
    return entries


def mentions_exchange(data):
    """Whether a file names DomainName (UTF-8 or UTF-16): an Exchange export, maybe a truncated one."""
    return b'DomainName' in data or 'DomainName'.encode('utf-16-le') in data or 'DomainName'.encode('utf-16-be') in data


def looks_like_exchange(data):
    try:
        document = json.loads(decode_text(data))
    except (ValueError, UnicodeDecodeError):
        return False
    if isinstance(document, dict) and isinstance(document.get('value'), list):
        document = document['value']
    if isinstance(document, dict):
        document = [document]
    return isinstance(document, list) and bool(document) and isinstance(document[0], dict) \
        and 'DomainName' in document[0]


def _entry_from_mapping(item, where):
    domain = None
    for key in item:
        if str(key).lower() in DOMAIN_COLUMNS:
            domain = item[key]
            break
    if domain is None:
        raise SourceError('%s has no domain key' % where)
    domain_type = None
    for key in item:
        if str(key).lower() in TYPE_COLUMNS:
            try:
                domain_type = exchange_type(item[key])
            except SourceError as exc:
                raise SourceError('%s (%s): %s' % (where, domain, exc))
    tags = item.get('tags') or []
    if isinstance(tags, str):
        tags = [tag for tag in re.split(r'[;,\s]+', tags) if tag]
    return {'domain': domain, 'type': domain_type, 'tags': [str(tag) for tag in tags],
            'default': _truth(item.get('default', item.get('Default')))}


def parse_list(document):
    """Entries of a YAML/JSON list: strings or mappings, or a mapping with the list under ``domains``."""
    if isinstance(document, dict) and 'domains' in document:
        document = document['domains']
    if not isinstance(document, list):
        raise SourceError('expected a list of domains (or a mapping with a "domains" list)')
    entries = []
    for position, item in enumerate(document):
        if isinstance(item, dict):
            try:
                entries.append(_entry_from_mapping(item, 'item %d' % position))
            except SourceError as exc:
                entries.append(_problem(exc, 'item %d' % position, item))
        else:
            entries.append({'domain': item})
    return readable(entries)


def parse_csv(data):
    """Entries of a CSV file; header optional; Export-Csv's "#TYPE" line is skipped."""
    text = decode_text(data)
    lines = text.splitlines()
    if lines and lines[0].startswith('#TYPE'):
        lines = lines[1:]
    sample = '\n'.join(lines[:5])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=',;\t') if sample else csv.excel
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO('\n'.join(lines)), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    if any(cell in DOMAIN_COLUMNS for cell in header):
        keys = [cell.strip() for cell in rows[0]]
        entries = []
        for number, row in enumerate(rows[1:]):
            item = dict(zip(keys, [cell.strip() for cell in row]))
            try:
                entries.append(_entry_from_mapping(item, 'row %d' % (number + 2)))
            except SourceError as exc:
                entries.append(_problem(exc, 'row %d' % (number + 2), item))
        return readable(entries)
    return [{'domain': row[0].strip()} for row in rows]


def parse_text(data):
    entries = []
    for line in decode_text(data).splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            entries.append({'domain': line})
    return entries


def guess_type(path, data):
    lower = path.lower()
    if lower.endswith('.csv'):
        return 'csv'
    if lower.endswith('.txt'):
        return 'text'
    if lower.endswith('.json') and (looks_like_exchange(data) or mentions_exchange(data)):
        return 'exchange'
    return 'list'
