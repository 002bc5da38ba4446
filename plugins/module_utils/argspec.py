# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the options shared by several modules, each beside its doc fragment's name.

Pure Python, no imports. A module takes them with ``argument_spec=dict(create_resolver_argument_spec(), ...)``
and documents them with the fragment of the same name; tests/unit/plugins/doc_fragments keeps the two equal.
"""


def create_resolver_argument_spec():
    """Options of doc fragment mailsec.mta_sts.resolver: how a module reaches DNS and TLS servers."""
    return dict(
        nameservers=dict(type='list', elements='str', default=[]),
        dns_port=dict(type='int', default=53),
        timeout=dict(type='float', default=10.0),
        ca_path=dict(type='path'),
    )


def create_authoritative_argument_spec():
    """Options of doc fragment mailsec.mta_sts.authoritative: which DNS servers a module asks directly."""
    return dict(
        server=dict(type='list', elements='str', default=[]),
        port=dict(type='int', default=53),
    )


def create_powerdns_argument_spec():
    """Options of doc fragment mailsec.mta_sts.powerdns: how a module reaches the PowerDNS HTTP API."""
    return dict(
        api_url=dict(type='str', required=True),
        api_key=dict(type='str', required=True, no_log=True),
        server_id=dict(type='str', default='localhost'),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        timeout=dict(type='float', default=10.0),
    )
