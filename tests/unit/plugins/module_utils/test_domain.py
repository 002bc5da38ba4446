# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.domain import DomainError, normalize_domain, to_unicode


@pytest.mark.parametrize('value, expected', [
    ('Example.ORG', 'example.org'),
    ('example.org.', 'example.org'),
    ('Bücher.example', 'xn--bcher-kva.example'),
    ('BÜCHER.EXAMPLE.', 'xn--bcher-kva.example'),
    ('xn--bcher-kva.example', 'xn--bcher-kva.example'),
    ('a-b.c-d.example', 'a-b.c-d.example'),
])
def test_domain_normalized_to_lowercase_a_labels(value, expected):
    assert normalize_domain(value) == expected


@pytest.mark.parametrize('value', [
    'https://x', 'a..b', ('x' * 64) + '.example', '.'.join(['a' * 60] * 5), ' example.org', 'exa mple.org',
    '*', '*.example.org', '', '.', 'org', '127.0.0.1', '_mta-sts.example.org', '-a.example', 'xn--zz.example',
    None, 42, ['example.org'],
])
def test_domain_rejects_what_is_not_a_domain(value):
    with pytest.raises(DomainError):
        normalize_domain(value)


def test_domain_to_unicode_for_display():
    assert to_unicode('xn--bcher-kva.example') == 'bücher.example'


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_domain_normalize_raises_only_domain_error(text):
    try:
        name = normalize_domain(text)
    except DomainError:
        return
    assert name == name.lower() and not name.endswith('.') and len(name) <= 253
