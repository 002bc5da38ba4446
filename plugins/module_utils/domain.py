# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn accepted domains as people type them into the names the DNS knows.

Pure Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    import idna
    HAS_IDNA = True
except ImportError:  # pragma: no cover - idna ships with requests
    HAS_IDNA = False

MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LDH_LABEL = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')


class DomainError(ValueError):
    """The input is not a domain name; the message says why."""


def normalize_domain(value):
    """Return the lowercase A-label form of ``value`` without the trailing dot.

    Raises DomainError for anything that is not a host name of at least two labels.
    """
    if not isinstance(value, str):
        raise DomainError('not a string: %r' % (value,))
    name = value.strip()
    if name != value or not name:
        raise DomainError('empty or surrounded by spaces')
    if name.endswith('.'):
        name = name[:-1]
    if '..' in name or name.startswith('.') or not name:
        raise DomainError('empty label')
    try:
        name.encode('ascii')
        ascii_name = name.lower()
    except UnicodeEncodeError:
        ascii_name = _to_a_labels(name)
    labels = ascii_name.split('.')
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH:
            raise DomainError('label longer than 63 octets: %s' % label[:20])
        if not _LDH_LABEL.match(label):
            raise DomainError('label %r is not letters, digits and inner hyphens' % label[:63])
        if label.startswith('xn--'):
            _check_a_label(label)
    if len(labels) < 2:
        raise DomainError('a domain needs at least two labels')
    if labels[-1].isdigit():
        raise DomainError('looks like an IP address, not a domain')
    if len(ascii_name) > MAX_NAME_LENGTH:
        raise DomainError('name longer than 253 octets')
    return ascii_name


def _to_a_labels(name):
    if not HAS_IDNA:
        try:
            return name.encode('idna').decode('ascii').lower()
        except UnicodeError as exc:
            raise DomainError('not a valid internationalized name: %s' % exc)
    try:
        return idna.encode(name, uts46=True).decode('ascii')
    except (idna.IDNAError, UnicodeError) as exc:
        raise DomainError('not a valid internationalized name: %s' % exc)


def _check_a_label(label):
    if not HAS_IDNA:
        return
    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError) as exc:
        raise DomainError('label %r is not a valid A-label: %s' % (label, exc))


def to_unicode(name):
    """The U-label form of an A-label name, for display; the name itself when it cannot be decoded."""
    if not HAS_IDNA or 'xn--' not in name:
        return name
    try:
        return idna.decode(name)
    except (idna.IDNAError, UnicodeError):
        return name
