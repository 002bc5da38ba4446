# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory plugin mailsec.mta_sts.domains through ansible-inventory: Exchange exports, CSV, YAML, text and
Microsoft Graph (a local HTTPS stand-in of the documented API, not Microsoft's service)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest
import trustme

from test_report_support import ansible_env, run, tool

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'unit', 'plugins', 'module_utils'))
import graph_server as gs  # noqa: E402

EXCHANGE_ONLINE = [
    {'DomainName': 'contoso.com', 'CatchAllRecipientID': None, 'DomainType': 'Authoritative', 'MatchSubDomains': False,
     'AddressBookEnabled': True, 'Default': True, 'EmailOnly': False, 'ExternallyManaged': False,
     'AuthenticationType': 'Managed', 'InitialDomain': False, 'Name': 'contoso.com', 'Identity': 'contoso.com'},
    {'DomainName': 'contoso.onmicrosoft.com', 'DomainType': 'Authoritative', 'Default': False, 'InitialDomain': True,
     'Name': 'contoso.onmicrosoft.com', 'Identity': 'contoso.onmicrosoft.com'},
    {'DomainName': 'contoso.mail.onmicrosoft.com', 'DomainType': 'InternalRelay', 'Default': False,
     'InitialDomain': False, 'Name': 'contoso.mail.onmicrosoft.com'},
    {'DomainName': 'Fabrikam.COM', 'DomainType': 'InternalRelay', 'Default': False, 'Name': 'Fabrikam {{ lookup("pipe", "id") }}'},
    {'DomainName': 'partner.example', 'DomainType': 'ExternalRelay', 'Default': False, 'Name': 'Partner'},
]
EXCHANGE_SERVER = [
    {'DomainName': {'SmtpDomain': {'Domain': 'contoso.com'}, 'IncludeSubDomains': False, 'Address': 'contoso.com',
                    'Domain': 'contoso.com', 'IsStar': False}, 'DomainType': 0, 'Default': True, 'Name': 'Contoso'},
    {'DomainName': {'SmtpDomain': {'Domain': 'partner.example'}, 'IncludeSubDomains': False,
                    'Address': 'partner.example', 'Domain': 'partner.example', 'IsStar': False},
     'DomainType': 1, 'Default': False, 'Name': 'Partner'},
    {'DomainName': {'SmtpDomain': {'Domain': 'legacy.contoso.com'}, 'IncludeSubDomains': True,
                    'Address': '*.legacy.contoso.com', 'Domain': 'legacy.contoso.com', 'IsStar': False},
     'DomainType': 2, 'Default': False, 'Name': 'Legacy'},
]


def plain(value):
    """ansible-inventory --list marks untrusted strings as {"__ansible_unsafe": ...}: unwrap them."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(workdir, source, enable=False, expect_rc=0, **env):
    extra = {'ANSIBLE_INVENTORY_ENABLED': 'mailsec.mta_sts.domains'} if enable else {}
    extra.update(env)
    proc = run([tool('ansible-inventory'), '-i', source, '--list'], workdir, env=ansible_env(workdir, **extra),
               expect_rc=expect_rc)
    if expect_rc:
        return proc
    return plain(json.loads(proc.stdout)), proc


def groups_of(data, host):
    return sorted(name for name, group in data.items() if name != '_meta' and host in (group.get('hosts') or []))


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


def write(workdir, name, data):
    path = os.path.join(workdir, name)
    with open(path, 'wb') as handle:
        handle.write(data if isinstance(data, bytes) else data.encode('utf-8'))
    return path


@pytest.mark.parametrize('encoding, bom', [('utf-8', b''), ('utf-8', b'\xef\xbb\xbf'), ('utf-16-le', b'\xff\xfe')])
def test_an_exchange_online_export_given_directly_yields_hosts_with_their_types(workdir, encoding, bom):
    path = write(workdir, 'accepted-domains.json', bom + json.dumps(EXCHANGE_ONLINE, indent=4).encode(encoding))
    data, proc = inventory(workdir, path, enable=True)
    hostvars = data['_meta']['hostvars']
    assert sorted(hostvars) == ['contoso.com', 'fabrikam.com', 'partner.example']
    assert hostvars['contoso.com']['mailsec_mta_sts_domain_type'] == 'Authoritative'
    assert hostvars['contoso.com']['mailsec_mta_sts_default'] is True
    assert hostvars['fabrikam.com']['mailsec_mta_sts_domain_type'] == 'InternalRelay'
    assert hostvars['fabrikam.com']['mailsec_mta_sts_input'] == 'Fabrikam.COM'
    assert hostvars['partner.example']['mailsec_mta_sts_domain_type'] == 'ExternalRelay'
    assert all(v['ansible_connection'] == 'local' for v in hostvars.values())
    assert groups_of(data, 'fabrikam.com') == ['source_accepted_domains', 'type_internalrelay']
    assert data['type_authoritative']['hosts'] == ['contoso.com']
    skipped = hostvars['contoso.com']['mailsec_mta_sts_skipped_domains']
    assert sorted(s['domain'] for s in skipped) == ['contoso.mail.onmicrosoft.com', 'contoso.onmicrosoft.com']
    assert all('onmicrosoft.com' in s['reason'] and 'cannot publish DNS records' in s['reason'] for s in skipped)


def test_values_from_an_export_are_never_templated(workdir):
    path = write(workdir, 'accepted-domains.json', json.dumps(EXCHANGE_ONLINE))
    proc = run([tool('ansible-inventory'), '-i', path, '--host', 'fabrikam.com'], workdir,
               env=ansible_env(workdir, ANSIBLE_INVENTORY_ENABLED='mailsec.mta_sts.domains'))
    assert json.loads(proc.stdout)['mailsec_mta_sts_exchange_name'] == 'Fabrikam {{ lookup("pipe", "id") }}'
    playbook = write(workdir, 'show.yml', '- hosts: fabrikam.com\n  gather_facts: false\n  tasks:\n'
                                          '    - ansible.builtin.debug:\n        var: mailsec_mta_sts_exchange_name\n')
    proc = run([tool('ansible-playbook'), '-i', path, playbook], workdir,
               env=ansible_env(workdir, ANSIBLE_INVENTORY_ENABLED='mailsec.mta_sts.domains'))
    assert 'lookup(\\"pipe\\", \\"id\\")' in proc.stdout and 'uid=' not in proc.stdout


def test_an_exchange_server_export_with_enum_integers(workdir):
    path = write(workdir, 'exchange-server.json', b'\xff\xfe' + json.dumps(EXCHANGE_SERVER).encode('utf-16-le'))
    data, proc = inventory(workdir, path, enable=True)
    hostvars = data['_meta']['hostvars']
    assert dict((h, v['mailsec_mta_sts_domain_type']) for h, v in hostvars.items()) == {
        'contoso.com': 'Authoritative', 'partner.example': 'ExternalRelay', 'legacy.contoso.com': 'InternalRelay'}
    assert hostvars['legacy.contoso.com']['mailsec_mta_sts_match_subdomains'] is True
    assert hostvars['contoso.com']['mailsec_mta_sts_exchange_name'] == 'Contoso'


def test_a_configuration_combines_sources_with_tags_types_and_skips(workdir):
    write(workdir, 'exchange.json', json.dumps(EXCHANGE_ONLINE))
    write(workdir, 'parked.csv', 'domain,type,tags\nparked.example,,parked\nB\u00fccher.example,,parked eu\n'
                                 '=cmd|calc,,\ncontoso.com,,shared\n')
    write(workdir, 'more.yml', '---\n- example.org\n- domain: example.net\n  tags: [yaml]\n- legacy.test\n')
    write(workdir, 'list.txt', '# one per line\nplain.example\n')
    config = write(workdir, 'accepted.mta_sts.yml', '\n'.join([
        'plugin: mailsec.mta_sts.domains',
        'sources:',
        '  - name: exchange',
        '    path: exchange.json',
        '  - path: parked.csv',
        '  - path: more.yml',
        '    tags: [from-yaml]',
        '  - path: list.txt',
        '  - domains: [inline.example]',
        'domain_types: [Authoritative, InternalRelay]',
        'skip: ["*.test"]',
        'keyed_groups:',
        '  - key: mailsec_mta_sts_domain_type | default("none", true) | lower',
        '    prefix: exchange',
        '']))
    data, proc = inventory(workdir, config)
    hostvars = data['_meta']['hostvars']
    assert sorted(hostvars) == ['contoso.com', 'example.net', 'example.org', 'fabrikam.com', 'inline.example',
                                'parked.example', 'plain.example', 'xn--bcher-kva.example']
    assert groups_of(data, 'contoso.com') == ['exchange_authoritative', 'source_exchange', 'source_parked',
                                              'tag_shared', 'type_authoritative']
    assert hostvars['contoso.com']['mailsec_mta_sts_sources'] == ['exchange', 'parked']
    assert hostvars['xn--bcher-kva.example']['mailsec_mta_sts_tags'] == ['parked', 'eu']
    assert hostvars['example.net']['mailsec_mta_sts_tags'] == ['from-yaml', 'yaml']
    assert 'exchange_none' in groups_of(data, 'inline.example')
    reasons = dict((s['domain'], s['reason']) for s in hostvars['inline.example']['mailsec_mta_sts_skipped_domains'])
    assert 'not in domain_types' in reasons['partner.example']
    assert reasons['legacy.test'] == 'matches the skip pattern *.test'
    assert reasons['=cmd|calc'].startswith('not a domain name')
    assert 'skipping' in proc.stderr and '=cmd|calc' in proc.stderr  # invalid names are warnings


def test_a_broken_source_names_the_file_and_the_problem(workdir):
    write(workdir, 'broken.json', json.dumps([{'Name': 'no domain'}]))
    config = write(workdir, 'broken.mta_sts.yml', 'plugin: mailsec.mta_sts.domains\nsources:\n'
                                                  '  - type: exchange\n    path: broken.json\n')
    proc = run([tool('ansible-inventory'), '-i', config, '--list'], workdir, expect_rc=None,
               env=ansible_env(workdir, ANSIBLE_INVENTORY_UNPARSED_FAILED='true'))
    assert proc.returncode != 0
    assert 'broken.json' in proc.stderr and 'DomainName' in proc.stderr


@pytest.fixture(scope='module')
def ca():
    return trustme.CA()


def test_graph_source_against_a_local_stand_in_of_the_api(workdir, ca):
    ca_path = os.path.join(workdir, 'graph-ca.pem')
    ca.cert_pem.write_to_path(ca_path)
    with gs.GraphServer(ca) as server:
        config = write(workdir, 'm365.mta_sts.yml', '\n'.join([
            'plugin: mailsec.mta_sts.domains',
            'sources:',
            '  - type: graph',
            '    tenant_id: %s' % gs.TENANT,
            '    client_id: %s' % gs.CLIENT_ID,
            '    login_url: %s' % server.url,
            '    graph_url: %s' % server.url,
            '    ca_path: %s' % ca_path,
            '']))
        data, proc = inventory(workdir, config, MAILSEC_MTA_STS_GRAPH_CLIENT_SECRET=gs.CLIENT_SECRET)
    hostvars = data['_meta']['hostvars']
    assert sorted(hostvars) == ['contoso.com', 'fabrikam.com', 'xn--bcher-kva.example']
    assert hostvars['contoso.com']['mailsec_mta_sts_default'] is True
    assert hostvars['contoso.com']['mailsec_mta_sts_graph']['supportedServices'] == ['Email', 'OfficeCommunicationsOnline']
    assert data['source_graph']['hosts'] == ['contoso.com', 'fabrikam.com', 'xn--bcher-kva.example']
    reasons = dict((s['domain'], s['reason']) for s in hostvars['contoso.com']['mailsec_mta_sts_skipped_domains'])
    assert set(reasons) == {'contoso.onmicrosoft.com', 'contoso.mail.onmicrosoft.com', 'sharepoint-only.com',
                            'pending.com'}
    assert gs.CLIENT_SECRET not in proc.stdout + proc.stderr


def test_graph_source_with_a_wrong_secret_fails_without_showing_it(workdir, ca):
    ca_path = os.path.join(workdir, 'graph-ca.pem')
    ca.cert_pem.write_to_path(ca_path)
    with gs.GraphServer(ca) as server:
        config = write(workdir, 'm365.mta_sts.yml', '\n'.join([
            'plugin: mailsec.mta_sts.domains', 'sources:', '  - type: graph', '    tenant_id: %s' % gs.TENANT,
            '    client_id: %s' % gs.CLIENT_ID, '    login_url: %s' % server.url, '    graph_url: %s' % server.url,
            '    ca_path: %s' % ca_path, '']))
        proc = run([tool('ansible-inventory'), '-i', config, '--list'], workdir, expect_rc=None,
                   env=ansible_env(workdir, MAILSEC_MTA_STS_GRAPH_CLIENT_SECRET='not-the-secret',
                                   ANSIBLE_INVENTORY_UNPARSED_FAILED='true'))
    assert proc.returncode != 0
    assert 'invalid_client' in proc.stderr and 'not-the-secret' not in proc.stdout + proc.stderr
