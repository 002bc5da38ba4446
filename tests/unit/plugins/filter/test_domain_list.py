# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters domain_list (a file's domains, as data) and domain_verdicts (each domain's verdict)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

try:  # ansible-core 2.19+: a string is rendered only when trusted as a template
    from ansible.template import is_trusted_as_template

    def renderable(value):
        return is_trusted_as_template(value)
except ImportError:  # older: every string is rendered unless it is unsafe
    from ansible.utils.unsafe_proxy import AnsibleUnsafe

    def renderable(value):
        return not isinstance(value, AnsibleUnsafe)

from ansible_collections.mailsec.mta_sts.plugins.filter.domain_list import domain_list
from ansible_collections.mailsec.mta_sts.plugins.filter.mta_sts import domain_verdicts
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils import _domain_sources as S


def test_a_yaml_list_a_mapping_and_text_lines():
    assert domain_list('- example.org\n- {domain: example.net}\n') == ['example.org', 'example.net']
    assert domain_list('domains: [example.org]\n') == ['example.org']
    assert domain_list('# accepted\nexample.org\nexample.net  # parked\n') == ['example.org', 'example.net']
    assert domain_list('[{"DomainName": "contoso.com", "DomainType": "Authoritative"}]') == ['contoso.com']


def test_templates_in_a_domain_list_stay_data():
    domains = domain_list('- "{{ lookup(\'pipe\', \'id\') }}"\n')
    assert domains == ["{{ lookup('pipe', 'id') }}"]
    assert not renderable(domains[0])


def test_a_bad_item_is_skipped_and_a_file_of_only_bad_items_fails():
    assert domain_list('- example.org\n- {tags: [x]}\n') == ['example.org']
    with pytest.raises(AnsibleFilterError, match='domains.yml: item 0 has no domain key'):
        domain_list('- {tags: [x]}\n', source='domains.yml')
    with pytest.raises(AnsibleFilterError):
        domain_list(['example.org'])


def test_one_bad_exchange_item_is_a_problem_entry_the_rest_is_read():
    entries = S.parse_exchange(b'[{"DomainName": "a.test"}, {"Name": "x"}, {"DomainName": "b.test", "DomainType": 7}]')
    assert [e.get('domain') for e in entries if not e.get('problem')] == ['a.test']
    problems = [e for e in entries if e.get('problem')]
    assert [e['where'] for e in problems] == ['item 1', 'item 2']
    assert 'DomainName' in problems[0]['problem'] and 'b.test' in problems[1]['problem']


def test_a_truncated_export_is_recognised_as_one():
    data = b'[{"DomainName": "a.test", "DomainType": "Authoritative"}, {"DomainName": "b.te'
    assert S.mentions_exchange(data) and S.guess_type('x.json', data) == 'exchange'
    assert S.mentions_exchange('[{"DomainName": "a'.encode('utf-16-le'))
    with pytest.raises(S.SourceError, match='not JSON'):
        S.parse_exchange(data)


def test_domain_verdicts_by_input_and_by_name():
    result = {'domains': [
        {'input': 'EXAMPLE.org.', 'domain': 'example.org', 'status': 'fail',
         'findings': [{'severity': 'warning', 'code': 'w', 'message': 'warn'},
                      {'severity': 'error', 'code': 'txt-missing', 'message': 'no record'}]},
        {'input': 'example.net', 'domain': 'example.net', 'status': 'pass', 'findings': []}]}
    verdicts = domain_verdicts(result)
    assert verdicts['EXAMPLE.org.'] == verdicts['example.org'] == {
        'domain': 'example.org', 'status': 'fail', 'finding': 'txt-missing: no record'}
    assert verdicts['example.net']['finding'] == '-'
    with pytest.raises(AnsibleFilterError):
        domain_verdicts({})
