# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn accepted domains as people type them into the names the DNS knows.

Pure Python, no Ansible imports.

Internationalized names are converted with IDNA2008 (RFC 5890-5891, the ``idna`` library, with the
UTS #46 mapping for case and width): RFC 6125 section 6.4.2, which RFC 8461 section 4.1 applies to MX
matching, compares A-labels as IDNA2008 defines them. Python's own ``encodings.idna`` is IDNA2003 and
gives other names for some labels (``faß.de`` becomes ``fass.de`` there, ``xn--fa-hia.de`` in
IDNA2008), so it is never used as a fallback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    import idna
    HAS_IDNA = True
except ImportError:  # pragma: no cover - idna ships with requests
    HAS_IDNA = False

MAX_NAME_LENGTH = 253      # RFC 1035 section 3.1: 255 octets on the wire, 253 characters in text form
MAX_LABEL_LENGTH = 63      # RFC 1035 section 2.3.4
# The longest name below the domain that MTA-STS needs: RFC 8461 section 3.1.
STS_RECORD_PREFIX = '_mta-sts.'
MAX_DOMAIN_LENGTH = MAX_NAME_LENGTH - len(STS_RECORD_PREFIX)
_LDH_LABEL = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')


class DomainError(ValueError):
    """The input is not a domain name; the message says why."""


def normalize_domain(value):
    """Return the lowercase A-label form of ``value`` without the trailing dot.

    Raises DomainError for anything that is not a host name of at least two labels, and for names
    so long that ``_mta-sts.<domain>`` could not exist in the DNS.
    """
    if not isinstance(value, str):
        raise DomainError('not text but %s' % _kind(value))
    name = value.strip()
    if name != value or not name:
        raise DomainError('empty or surrounded by spaces')
    if name.endswith('.'):
        name = name[:-1]
    if '..' in name or name.startswith('.') or not name:
        raise DomainError('it has an empty label (two dots in a row, or a dot at the start)')
    ascii_name = to_a_labels(name)
    labels = ascii_name.split('.')
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH:
            raise DomainError('the label "%s..." is %d octets long; a DNS label has at most %d' % (
                label[:20], len(label), MAX_LABEL_LENGTH))
        if not _LDH_LABEL.match(label):
            raise DomainError('the label "%s" is not letters, digits and inner hyphens' % label[:MAX_LABEL_LENGTH])
        if label.startswith('xn--'):
            _check_a_label(label)
    if len(labels) < 2:
        raise DomainError('a domain needs at least two labels')
    if labels[-1].isdigit():
        raise DomainError('it looks like an IP address, not a domain')
    if len(ascii_name) > MAX_NAME_LENGTH:
        raise DomainError('the name is %d octets long; a DNS name has at most %d' % (len(ascii_name), MAX_NAME_LENGTH))
    if len(ascii_name) > MAX_DOMAIN_LENGTH:
        # RFC 8461 section 3.1: the record lives at _mta-sts.<domain>, which must fit as well.
        raise DomainError('the name is %d octets long, so %s<domain> would be %d, past the %d a DNS name can have: '
                          'no MTA-STS record can be published for it (at most %d octets)' % (
                              len(ascii_name), STS_RECORD_PREFIX, len(ascii_name) + len(STS_RECORD_PREFIX),
                              MAX_NAME_LENGTH, MAX_DOMAIN_LENGTH))
    return ascii_name


def to_a_labels(name):
    """``name`` lowercased, with U-labels converted to A-labels (IDNA2008 with the UTS #46 mapping).

    ASCII names are only lowercased. Raises DomainError for a name IDNA2008 does not allow.
    """
    if name.isascii():
        return name.lower()
    if not HAS_IDNA:
        raise DomainError('"%s" is an internationalized name, and converting it needs the Python library idna'
                          % name[:MAX_NAME_LENGTH])
    try:
        return idna.encode(name, uts46=True).decode('ascii').lower()
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise DomainError('"%s" is not a valid internationalized name (IDNA2008: %s)' % (
            name[:MAX_NAME_LENGTH], _idna_reason(exc)))


def comparable_name(name):
    """``name`` as matching compares it (RFC 6125 section 6.4.2): lowercase A-labels, no trailing dot.

    A leading ``*.`` (an mx pattern's wildcard) is kept; a name IDNA2008 refuses is only lowercased,
    so it matches nothing but itself.
    """
    wildcard = '*.' if name.startswith('*.') else ''
    name = name[len(wildcard):].rstrip('.')
    try:
        return wildcard + to_a_labels(name)
    except DomainError:
        return wildcard + name.lower()


def _check_a_label(label):
    if not HAS_IDNA:
        return
    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise DomainError('the label "%s" is not a valid A-label (IDNA2008: %s)' % (label, _idna_reason(exc)))


def _idna_reason(exc):
    """The idna library's reason in words, without the Python repr of the offending character."""
    text = str(exc) or type(exc).__name__
    return re.sub(r" (?:in|of) '[^']*'", '', text)


def _kind(value):
    if value is None:
        return 'nothing (null)'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, (list, tuple)):
        return 'a list'
    if isinstance(value, dict):
        return 'a mapping'
    return 'a value of type %s' % type(value).__name__


def to_unicode(name):
    """The U-label form of an A-label name, for display; the name itself when it cannot be decoded."""
    if not HAS_IDNA or 'xn--' not in name:
        return name
    try:
        return idna.decode(name)
    except (idna.IDNAError, UnicodeError):
        return name
