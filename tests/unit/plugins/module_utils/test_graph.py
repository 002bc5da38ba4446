# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Microsoft Graph domain source, against a local HTTPS stand-in of the documented API (not Microsoft's)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest
import trustme

from ansible_collections.mailsec.mta_sts.plugins.module_utils.graph import GraphClient, GraphError, mail_domains

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graph_server as gs  # noqa: E402


@pytest.fixture(scope='module')
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / 'ca.pem'
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def client(server, ca_file, secret=gs.CLIENT_SECRET, **kw):
    return GraphClient(gs.TENANT, gs.CLIENT_ID, secret, login_url=server.url, graph_url=server.url,
                       verify=ca_file, timeout=5, sleep=lambda seconds: None, **kw)


def test_graph_reads_every_page_with_a_client_credentials_token(ca, ca_file):
    with gs.GraphServer(ca) as server:
        domains = client(server, ca_file).domains()
    assert [item['id'] for item in domains] == [item['id'] for item in gs.DOMAINS]
    token_request = server.requests[0]
    assert token_request[:2] == ('POST', '/%s/oauth2/v2.0/token' % gs.TENANT)
    assert token_request[2]['grant_type'] == 'client_credentials'
    assert token_request[2]['scope'] == 'https://graph.microsoft.com/.default'
    gets = [r for r in server.requests if r[0] == 'GET']
    assert len(gets) == 3  # 7 domains, 3 per page
    assert all(r[2] == 'Bearer %s' % gs.TOKEN for r in gets)
    assert len([r for r in server.requests if r[0] == 'POST']) == 1  # one token for every page


def test_graph_keeps_verified_email_domains_only():
    accepted, skipped = mail_domains(gs.DOMAINS)
    assert [item['id'] for item in accepted] == ['contoso.com', 'contoso.onmicrosoft.com',
                                                 'contoso.mail.onmicrosoft.com', 'fabrikam.com', u'B\u00fccher.example']
    reasons = dict(skipped)
    assert 'supportedServices' in reasons['sharepoint-only.com']
    assert 'not verified' in reasons['pending.com']
    accepted, skipped = mail_domains(gs.DOMAINS, verified_only=False)
    assert 'pending.com' in [item['id'] for item in accepted]


def test_graph_wrong_secret_says_what_to_check_without_the_secret(ca, ca_file):
    with gs.GraphServer(ca) as server:
        with pytest.raises(GraphError) as info:
            client(server, ca_file, secret='wrong~secret~value').domains()
    message = str(info.value)
    assert 'invalid_client' in message and 'AADSTS7000215' in message and 'client_id' in message
    assert 'wrong~secret~value' not in message and 'Trace ID' not in message


def test_graph_retries_when_throttled(ca, ca_file):
    with gs.GraphServer(ca, throttle_first=True) as server:
        domains = client(server, ca_file).domains()
    assert len(domains) == len(gs.DOMAINS)


def test_graph_never_sends_the_token_to_a_host_a_page_names(ca, ca_file):
    with gs.GraphServer(ca, foreign_next_link=True) as server:
        with pytest.raises(GraphError, match='outside'):
            client(server, ca_file).domains()
    assert len([r for r in server.requests if r[0] == 'GET']) == 1


def test_graph_refuses_an_untrusted_certificate(ca):
    with gs.GraphServer(ca) as server:
        with pytest.raises(GraphError, match='cannot reach'):
            GraphClient(gs.TENANT, gs.CLIENT_ID, gs.CLIENT_SECRET, login_url=server.url, graph_url=server.url,
                        timeout=5).domains()


@pytest.mark.parametrize('missing', ['tenant_id', 'client_id', 'client_secret'])
def test_graph_needs_its_credentials(missing):
    args = {'tenant_id': 't', 'client_id': 'c', 'client_secret': 's'}
    args[missing] = ''
    with pytest.raises(GraphError, match=missing):
        GraphClient(**args)
