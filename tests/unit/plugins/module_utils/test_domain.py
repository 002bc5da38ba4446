# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

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


def test_domain_too_long_for_its_mta_sts_record_is_invalid():
    """RFC 8461 section 3.1: _mta-sts.<domain> must fit in the 253 characters (255 octets) of a DNS name."""
    def name(length):  # labels of 49 letters, then ".example"
        return ''.join('.' if index % 50 == 49 else 'a' for index in range(length - 8)) + '.example'
    assert len(normalize_domain(name(244))) == 244
    with pytest.raises(DomainError) as caught:
        normalize_domain(name(245))
    assert '_mta-sts.' in str(caught.value) and '245' in str(caught.value)
    with pytest.raises(DomainError) as caught:
        normalize_domain(name(253) + 'x')
    assert 'at most 253' in str(caught.value)


def test_domain_label_longer_than_63_octets_is_invalid():
    with pytest.raises(DomainError) as caught:
        normalize_domain('a' * 64 + '.example')
    assert 'at most 63' in str(caught.value)


@pytest.mark.parametrize('value, expected', [(u'fa\u00df.de', 'xn--fa-hia.de'), (u'\uff41\uff42\uff43\uff0eexample', 'abc.example')])
def test_domain_uses_idna2008_with_uts46_mapping(value, expected):
    """IDNA2008 keeps ß (IDNA2003 would map it to ss, another name); UTS #46 maps full-width forms."""
    assert normalize_domain(value) == expected


@pytest.mark.parametrize('value', [None, 42, ['example.org'], u'a\u200db.example', u'\u2603.example', 'a_b.example'])
def test_domain_error_messages_are_words_without_python_reprs(value):
    with pytest.raises(DomainError) as caught:
        normalize_domain(value)
    message = str(caught.value)
    assert "'" not in message and '[' not in message and '\\u' not in message, message
