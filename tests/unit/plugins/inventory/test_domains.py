# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The readers of the domains inventory plugin: Exchange exports, CSV, lists, text, and the skip rules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.mailsec.mta_sts.plugins.inventory import domains as D
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils import _domain_sources as S

EXO = [  # Exchange Online PowerShell (REST cmdlets): strings, as ConvertTo-Json writes them
    {'DomainName': 'contoso.com', 'CatchAllRecipientID': None, 'DomainType': 'Authoritative',
     'MatchSubDomains': False, 'AddressBookEnabled': True, 'Default': True, 'EmailOnly': False,
     'InitialDomain': False, 'Name': 'contoso.com', 'Identity': 'contoso.com'},
    {'DomainName': 'contoso.onmicrosoft.com', 'DomainType': 'Authoritative', 'Default': False,
     'InitialDomain': True, 'Name': 'contoso.onmicrosoft.com'},
    {'DomainName': 'fabrikam.com', 'DomainType': 'InternalRelay', 'Default': False, 'Name': 'Fabrikam'},
]
SERVER = [  # Exchange Management Shell on a server: the enum as an integer, DomainName as an object
    {'DomainName': {'SmtpDomain': {'Domain': 'contoso.com'}, 'IncludeSubDomains': False, 'Address': 'contoso.com',
                    'Domain': 'contoso.com', 'IsStar': False}, 'DomainType': 0, 'Default': True, 'Name': 'Contoso'},
    {'DomainName': {'SmtpDomain': {'Domain': 'partner.example'}, 'IncludeSubDomains': False,
                    'Address': 'partner.example', 'Domain': 'partner.example', 'IsStar': False},
     'DomainType': 1, 'Default': False, 'Name': 'Partner'},
    {'DomainName': {'SmtpDomain': {'Domain': 'legacy.contoso.com'}, 'IncludeSubDomains': True,
                    'Address': '*.legacy.contoso.com', 'Domain': 'legacy.contoso.com', 'IsStar': False},
     'DomainType': 2, 'Default': False, 'Name': 'Legacy'},
]


def types(entries):
    return [(entry['domain'], entry.get('type')) for entry in entries]


def test_exchange_online_export_keeps_names_and_types():
    entries = D.parse_exchange(json.dumps(EXO, indent=4).encode('utf-8'))
    assert types(entries) == [('contoso.com', 'Authoritative'), ('contoso.onmicrosoft.com', 'Authoritative'),
                              ('fabrikam.com', 'InternalRelay')]
    assert [entry['default'] for entry in entries] == [True, False, False]
    assert entries[1]['initial'] is True
    assert entries[2]['name'] == 'Fabrikam'


def test_exchange_server_export_reads_the_enum_integers_and_domain_objects():
    entries = D.parse_exchange(json.dumps(SERVER).encode('utf-8'))
    assert types(entries) == [('contoso.com', 'Authoritative'), ('partner.example', 'ExternalRelay'),
                              ('legacy.contoso.com', 'InternalRelay')]
    assert [entry['match_subdomains'] for entry in entries] == [False, False, True]


@pytest.mark.parametrize('encoding, bom', [('utf-16-le', b'\xff\xfe'), ('utf-16-be', b'\xfe\xff'),
                                           ('utf-8', b'\xef\xbb\xbf'), ('utf-8', b'')])
def test_exchange_export_in_the_encodings_powershell_writes(encoding, bom):
    data = bom + json.dumps(EXO, indent=4, ensure_ascii=False).encode(encoding)
    assert types(D.parse_exchange(data))[0] == ('contoso.com', 'Authoritative')
    assert D.looks_like_exchange(data)


def test_exchange_export_of_one_domain_is_one_object():
    assert types(D.parse_exchange(json.dumps(EXO[0]).encode('utf-8'))) == [('contoso.com', 'Authoritative')]


def test_exchange_export_wrapped_by_windows_powershell():
    data = json.dumps({'value': SERVER, 'Count': 3}).encode('utf-8')
    assert len(D.parse_exchange(data)) == 3


@pytest.mark.parametrize('value, expected', [
    ('Authoritative', 'Authoritative'), ('internalrelay', 'InternalRelay'), (' ExternalRelay ', 'ExternalRelay'),
    (0, 'Authoritative'), (1, 'ExternalRelay'), (2, 'InternalRelay'), ('2', 'InternalRelay'),
    ({'Value': 1}, 'ExternalRelay'), (None, None), ('', None),
])
def test_exchange_type_from_text_integer_or_object(value, expected):
    assert S.exchange_type(value) == expected


@pytest.mark.parametrize('value', [3, 'Relay', -1])
def test_exchange_type_rejects_what_is_not_a_type(value):
    with pytest.raises(D.SourceError):
        S.exchange_type(value)


@pytest.mark.parametrize('data', [b'not json', b'[{"Name": "x"}]', b'"text"'])
def test_exchange_export_that_is_not_one_says_so(data):
    with pytest.raises(D.SourceError):
        D.parse_exchange(data)
    assert not D.looks_like_exchange(data)


def test_csv_with_header_type_and_tags():
    data = b'domain,type,tags,default\nexample.org,Authoritative,prod;eu,true\nexample.net,,parked,\n'
    entries = D.parse_csv(data)
    assert types(entries) == [('example.org', 'Authoritative'), ('example.net', None)]
    assert entries[0]['tags'] == ['prod', 'eu'] and entries[0]['default'] is True
    assert entries[1]['tags'] == ['parked']


def test_csv_without_header_takes_the_first_column():
    assert [e['domain'] for e in D.parse_csv(b'example.org\nexample.net\n\n')] == ['example.org', 'example.net']
    assert [e['domain'] for e in D.parse_csv(b'example.org;1\nexample.net;2\n')] == ['example.org', 'example.net']


def test_csv_of_export_csv_with_type_line_and_semicolons():
    data = ('#TYPE Microsoft.Exchange.Data.Directory.SystemConfiguration.AcceptedDomain\n'
            '"DomainName";"DomainType";"Default";"Name"\n'
            '"contoso.com";"Authoritative";"True";"Contoso"\n'
            '"fabrikam.com";"InternalRelay";"False";"Fabrikam"\n').encode('utf-8-sig')
    entries = D.parse_csv(data)
    assert types(entries) == [('contoso.com', 'Authoritative'), ('fabrikam.com', 'InternalRelay')]
    assert [e['default'] for e in entries] == [True, False]


def test_list_of_strings_and_mappings():
    entries = D.parse_list({'domains': ['example.org', {'domain': 'example.net', 'type': 'ExternalRelay',
                                                        'tags': 'a b'}]})
    assert types(entries) == [('example.org', None), ('example.net', 'ExternalRelay')]
    assert entries[1]['tags'] == ['a', 'b']
    with pytest.raises(D.SourceError):
        D.parse_list('example.org')
    with pytest.raises(D.SourceError):
        D.parse_list([{'tags': ['x']}])


def test_text_lines_and_comments():
    assert [e['domain'] for e in D.parse_text(b'# accepted\nexample.org  # main\n\n example.net\n')] == [
        'example.org', 'example.net']


@pytest.mark.parametrize('domain, reason', [
    ('contoso.onmicrosoft.com', D.ONMICROSOFT_REASON),
    ('contoso.mail.onmicrosoft.com', D.ONMICROSOFT_REASON),
    ('onmicrosoft.com', D.ONMICROSOFT_REASON),
    ('notonmicrosoft.com', None),
    ('legacy.test', 'matches the skip pattern *.TEST'),
    ('example.org', None),
])
def test_skip_reason(domain, reason):
    assert D.skip_reason(domain, True, ['*.TEST']) == reason


def test_onmicrosoft_is_kept_when_asked():
    assert D.skip_reason('contoso.onmicrosoft.com', False, []) is None


@pytest.mark.parametrize('value, expected', [('prod', 'tag_prod'), ('EU West', 'tag_eu_west'),
                                             ('from-yaml', 'tag_from_yaml'), ('<x>', 'tag_x'), ('', 'tag_none')])
def test_group_names_are_valid(value, expected):
    assert D.group_name('tag', value) == expected


@pytest.mark.parametrize('name, data, expected', [
    ('x.csv', b'', 'csv'), ('x.txt', b'', 'text'), ('x.json', json.dumps(EXO).encode(), 'exchange'),
    ('x.json', b'["example.org"]', 'list'), ('x.yml', b'- example.org', 'list'),
])
def test_guess_type(name, data, expected):
    assert D.guess_type(name, data) == expected
