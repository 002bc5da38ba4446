# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: policy_fetch
short_description: Fetch an MTA-STS policy over HTTPS the way senders do, from a given web server
version_added: 0.1.0
description:
  - Fetches C(https://mta-sts.<domain>/.well-known/mta-sts.txt) with the same HTTPS client as
    M(mailsec.mta_sts.audit) (RFC 8461 section 3.3 - certificate valid for the policy host, no redirects,
    C(text/plain), at most 64 KiB, C(1xx) interim responses read past, certificate names matched on
    subjectAltName DNS names only) and parses it with the audit's parser - the same pipeline as the audit.
  - The connection goes to O(address) when given, so a policy can be checked on its web server B(before) DNS
    points senders at it; otherwise the policy host's addresses are looked up like the audit does
    (O(nameservers), O(dns_port)).
  - With O(expected_id), tells whether the server serves exactly the policy with that id. The deploy role
    changes the C(_mta-sts) TXT record only when RV(verified) is true.
  - The audit's address policy applies (O(allow_private_addresses)) - to the looked-up addresses and to
    O(address) alike, since the addresses checked are those senders will be given - with the audit's finding
    code C(policy-host-private-address).
  - Read-only. Problems of the server are returned as a finding code in RV(problem); the module fails only for
    bad arguments or a missing Python library.
author:
  - mailsec.mta_sts contributors (@mailsec)
requirements:
  - h11 >= 0.14
  - dnspython >= 2.6 (only without O(address))
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.READ_ONLY
  - mailsec.mta_sts.attributes.ACTIONGROUP_MTA_STS
  - mailsec.mta_sts.resolver
options:
  domain:
    description:
      - The mail domain; the policy host is C(mta-sts.<domain>).
    type: str
    required: true
  address:
    description:
      - IP address of the web server to connect to. When not set, the A and AAAA records of the policy host are
        looked up (both at once) and the addresses tried in that order, the next one only when one is unreachable,
        as senders do - at most four, all within one O(timeout).
    type: str
  port:
    description:
      - HTTPS port. Senders always use 443; another port only makes sense for tests.
    type: int
    default: 443
  expected_id:
    description:
      - The policy id (as returned by M(mailsec.mta_sts.policy)) the server must serve for RV(verified) to be true.
    type: str
  allow_private_addresses:
    description:
      - Contact the policy host at loopback, link-local, private (RFC 1918, RFC 4193), unspecified, multicast or
        other special-purpose addresses (RFC 6890), as the option of the same name of M(mailsec.mta_sts.audit) does.
      - By default such an address is not contacted and is listed in RV(refused_addresses); when no other address
        is left, RV(problem) is C(policy-host-private-address). Senders on the internet cannot use such an address
        either.
      - B(Risk:) with V(true), whoever controls the domain's DNS can make the module connect to internal services
        next to it (request forgery). Set it only for test labs and split-horizon set-ups.
    type: bool
    default: false
    version_added: 0.2.0
'''

EXAMPLES = r'''
- name: Check the new policy on the web server before DNS announces it
  mailsec.mta_sts.policy_fetch:
    domain: example.org
    address: 192.0.2.10
    expected_id: "{{ policy.id }}"
  register: served
  until: served.verified
  retries: 5
  delay: 2

- name: Show what the web server serves
  ansible.builtin.debug:
    msg: "{{ served.problem or served.text }}"
'''

RETURN = r'''
url:
  description: The policy URL.
  returned: always
  type: str
  sample: https://mta-sts.example.org/.well-known/mta-sts.txt
address:
  description: The address the policy was fetched from; V(null) when none could be found.
  returned: always
  type: str
  sample: 192.0.2.10
problem:
  description:
    - V(null) when a policy was fetched and parsed, else the finding code the audit uses for the same problem,
      for example C(policy-cert-name-mismatch), C(policy-http-status), C(policy-content-type), C(policy-syntax),
      C(policy-host-missing) when no address was given and the policy host has none,
      C(policy-host-lookup-failed) when that lookup got no answer, or C(policy-host-private-address) when the
      address policy (O(allow_private_addresses)) left no address to contact.
  returned: always
  type: str
  sample: policy-content-type
error:
  description: Details of RV(problem).
  returned: when RV(problem) is set
  type: str
  sample: Content-Type is "text/html" instead of text/plain
http_status:
  description: The HTTP status code.
  returned: always
  type: int
  sample: 200
content_type:
  description: The Content-Type header.
  returned: always
  type: str
  sample: text/plain
text:
  description: The policy text as served, when it was read and is UTF-8.
  returned: always
  type: str
  sample: "version: STSv1\nmode: testing\nmx: mx1.example.org\nmax_age: 604800\n"
id:
  description: The policy id of RV(text) (the same derivation as M(mailsec.mta_sts.policy)); V(null) without text.
  returned: always
  type: str
  sample: 3f1c0b9a8e7d6c5b4a39
policy:
  description: The parsed policy; V(null) when it was not fetched or does not parse.
  returned: always
  type: dict
  contains:
    version:
      description: The C(version) field.
      type: str
      sample: STSv1
    mode:
      description: The C(mode) field.
      type: str
      sample: testing
    max_age:
      description: The C(max_age) field, in seconds.
      type: int
      sample: 604800
    mx:
      description: The C(mx) patterns, in the order of the policy.
      type: list
      elements: str
      sample: [mx1.example.org]
    extensions:
      description: Fields RFC 8461 does not define, by name (senders ignore them, RFC 8461 section 3.2).
      type: dict
      sample: {"x-note": "managed by Ansible"}
    warnings:
      description:
        - What senders ignore in the policy (RFC 8461 section 3.2), as findings of the audit's catalogue, for
          example C(policy-field-duplicate); the policy still parses and RV(verified) may be true.
      type: list
      elements: dict
      contains:
        code:
          description: The finding code.
          type: str
          sample: policy-field-duplicate
        message:
          description: What is wrong, in words.
          type: str
          sample: mode appears 2 times; senders use the first, testing on line 2, and ignore line 5 ("enforce")
            (RFC 8461 section 3.2)
      sample: []
refused_addresses:
  description:
    - The policy host's addresses the address policy did not let the module contact (see
      O(allow_private_addresses)); empty when none was refused.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The address.
      type: str
      sample: 10.0.0.10
    message:
      description: Why it was not contacted.
      type: str
      sample: "mta-sts.example.org resolves to 10.0.0.10, a private (RFC 1918) address: not contacted (senders on
        the internet cannot reach it; see allow_private_addresses)"
  sample: []
verified:
  description:
    - True when the policy was fetched without a problem and parses, and - with O(expected_id) - has that id.
  returned: always
  type: bool
  sample: true
'''

import ipaddress

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailsec.mta_sts.plugins.module_utils.addresses import AddressPolicy
from ansible_collections.mailsec.mta_sts.plugins.module_utils.argspec import create_resolver_argument_spec
from ansible_collections.mailsec.mta_sts.plugins.module_utils.domain import DomainError, normalize_domain
from ansible_collections.mailsec.mta_sts.plugins.module_utils.fetch import (
    HAS_H11, resolve_and_fetch_policy_sync, tls_client_context)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import policy_id
from ansible_collections.mailsec.mta_sts.plugins.module_utils.resolver import HAS_DNSPYTHON, DnsClient


def main():
    module = AnsibleModule(
        argument_spec=dict(
            create_resolver_argument_spec(),
            domain=dict(type='str', required=True),
            address=dict(type='str'),
            port=dict(type='int', default=443),
            expected_id=dict(type='str'),
            allow_private_addresses=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    if not HAS_H11:
        module.fail_json(msg=missing_required_lib('h11'))
    params = module.params
    try:
        domain = normalize_domain(params['domain'])
    except DomainError as exc:
        module.fail_json(msg='domain %r is not a domain name: %s' % (params['domain'], exc))
    if params['timeout'] <= 0 or not 0 < params['port'] < 65536 or not 0 < params['dns_port'] < 65536:
        module.fail_json(msg='timeout must be above 0, port and dns_port from 1 to 65535')
    if params['address']:
        try:
            ipaddress.ip_address(params['address'])
        except ValueError:
            module.fail_json(msg='address %r is not an IP address; give the web server\'s IPv4 or IPv6 address, '
                                 'or leave it out to look up mta-sts.%s' % (params['address'], domain))
    try:
        context = tls_client_context(params['ca_path'])
    except (OSError, ValueError) as exc:
        module.fail_json(msg='Cannot load ca_path %s: %s; give a PEM bundle of CA certificates' % (params['ca_path'], exc))
    client = None
    if not params['address']:
        if not HAS_DNSPYTHON:
            module.fail_json(msg=missing_required_lib('dnspython') + ' (or give address)')
        try:
            client = DnsClient(params['nameservers'], params['dns_port'], params['timeout'])
        except (OSError, ValueError) as exc:
            module.fail_json(msg='Cannot set up the resolver: %s; check nameservers' % exc)

    address_policy = AddressPolicy(params['allow_private_addresses'])
    refused = []

    def address_filter(host, address):
        refusal = address_policy.policy_host_refusal(host, address)
        if refusal is not None:
            refused.append({'address': address, 'message': refusal['message']})
        return refusal

    # the audit's own pipeline: resolve (unless address is given) -> address policy -> connect -> fetch -> decode
    # -> parse
    evidence, findings, parsed = resolve_and_fetch_policy_sync(
        client, domain, params['timeout'], context, address_filter=address_filter,
        addresses=[params['address']] if params['address'] else None, port=params['port'])
    result = dict(changed=False, url=evidence['url'], address=evidence.get('address'), problem=None,
                  http_status=evidence.get('http_status'), content_type=evidence.get('content_type'), text=None,
                  id=None, policy=parsed, verified=False, refused_addresses=refused)
    problems = []
    if parsed is None:
        # what went wrong with the address that was contacted comes before the addresses that were not
        problems = [item for item in findings if item['code'] != 'policy-host-private-address'] or findings
    if not any(item['code'] == 'policy-encoding' for item in problems):
        result['text'] = evidence.get('text')
    if result['text'] is not None:
        result['id'] = policy_id(result['text'])
    if problems:
        result.update(problem=problems[0]['code'], error='; '.join(item['message'] for item in problems[:3]))
        module.exit_json(**result)
    expected = params['expected_id']
    if expected and expected != result['id']:
        result['error'] = 'the server serves the policy with id %s, not %s' % (result['id'], expected)
    result['verified'] = not expected or expected == result['id']
    module.exit_json(**result)


if __name__ == '__main__':
    main()
