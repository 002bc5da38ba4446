# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: policy_fetch
short_description: Fetch an MTA-STS policy over HTTPS the way senders do, from a given web server
version_added: 0.1.0
description:
  - Fetches C(https://mta-sts.<domain>/.well-known/mta-sts.txt) with the same HTTPS client as
    M(mailsec.mta_sts.audit) (RFC 8461 section 3.3 - certificate valid for the policy host, no redirects,
    C(text/plain), at most 64 KiB) and parses it with the audit's parser.
  - The connection goes to O(address) when given, so a policy can be checked on its web server B(before) DNS
    points senders at it; otherwise the policy host's addresses are looked up like the audit does
    (O(nameservers), O(dns_port)).
  - With O(expected_id), tells whether the server serves exactly the policy with that id. The deploy role
    changes the C(_mta-sts) TXT record only when RV(verified) is true.
  - Read-only. Problems of the server are returned as a finding code in RV(problem); the module fails only for
    bad arguments or a missing Python library.
author:
  - mailsec.mta_sts contributors (@mailsec)
requirements:
  - urllib3 >= 2.6 (installed with requests)
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
        looked up and each address is tried until one answers, as senders do.
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
      C(policy-host-missing) when no address was given and the policy host has none, or
      C(policy-host-lookup-failed) when that lookup got no answer.
  returned: always
  type: str
  sample: policy-content-type
error:
  description: Details of RV(problem).
  returned: when RV(problem) is set
  type: str
  sample: Content-Type is 'text/html'
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
  description: The parsed policy (version, mode, max_age, mx, extensions); V(null) when it does not parse.
  returned: always
  type: dict
verified:
  description:
    - True when the policy was fetched without a problem and parses, and - with O(expected_id) - has that id.
  returned: always
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mailsec.mta_sts.plugins.module_utils.argspec import create_resolver_argument_spec
from ansible_collections.mailsec.mta_sts.plugins.module_utils.audit import _POLICY_PROBLEM_CODES
from ansible_collections.mailsec.mta_sts.plugins.module_utils.domain import DomainError, normalize_domain
from ansible_collections.mailsec.mta_sts.plugins.module_utils.fetch import HAS_URLLIB3, fetch_policy, tls_client_context
from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import PolicyError, parse_policy, policy_id
from ansible_collections.mailsec.mta_sts.plugins.module_utils.resolver import HAS_DNSPYTHON, DnsClient


def _addresses(module, host):
    """The policy host's addresses (A, then AAAA) through the audit's resolver, or (None, problem, detail)."""
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib('dnspython') + ' (or give address)')
    params = module.params
    try:
        client = DnsClient(params['nameservers'], params['dns_port'], params['timeout'])
    except (OSError, ValueError) as exc:
        module.fail_json(msg='Cannot set up the resolver: %s; check nameservers' % exc)
    lookups = [client.lookup(host, 'A'), client.lookup(host, 'AAAA')]
    addresses = [address for lookup in lookups for address in lookup.records]
    if addresses:
        return addresses, None, None
    failed = [lookup for lookup in lookups if lookup.outcome == 'error']
    if failed:
        return None, 'policy-host-lookup-failed', 'address lookup for %s failed: %s' % (host, failed[0].error)
    return None, 'policy-host-missing', '%s has no A or AAAA record' % host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            create_resolver_argument_spec(),
            domain=dict(type='str', required=True),
            address=dict(type='str'),
            port=dict(type='int', default=443),
            expected_id=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    if not HAS_URLLIB3:
        module.fail_json(msg=missing_required_lib('urllib3 (installed with requests)'))
    params = module.params
    try:
        domain = normalize_domain(params['domain'])
    except DomainError as exc:
        module.fail_json(msg='domain %r is not a domain name: %s' % (params['domain'], exc))
    if params['timeout'] <= 0 or not 0 < params['port'] < 65536 or not 0 < params['dns_port'] < 65536:
        module.fail_json(msg='timeout must be above 0, port and dns_port from 1 to 65535')
    try:
        context = tls_client_context(params['ca_path'])
    except (OSError, ValueError) as exc:
        module.fail_json(msg='Cannot load ca_path %s: %s; give a PEM bundle of CA certificates' % (params['ca_path'], exc))

    host = 'mta-sts.%s' % domain
    result = dict(changed=False, url='https://%s/.well-known/mta-sts.txt' % host, address=None, problem=None,
                  http_status=None, content_type=None, text=None, id=None, policy=None, verified=False)
    if params['address']:
        addresses = [params['address']]
    else:
        addresses, problem, detail = _addresses(module, host)
        if not addresses:
            result.update(problem=problem, error=detail)
            module.exit_json(**result)
    fetched = None
    for address in addresses:
        fetched = fetch_policy(host, address, params['timeout'], context, port=params['port'])
        if fetched.problem != 'connect-failed':
            break
    result.update(address=fetched.address, http_status=fetched.http_status, content_type=fetched.content_type)
    if fetched.problem:
        result.update(problem=_POLICY_PROBLEM_CODES.get(fetched.problem, 'policy-http-error'), error=fetched.detail)
        module.exit_json(**result)
    try:
        result['text'] = fetched.body.decode('utf-8')
    except UnicodeDecodeError as exc:
        result.update(problem='policy-encoding', error='the policy is not UTF-8 text: %s' % exc)
        module.exit_json(**result)
    result['id'] = policy_id(result['text'])
    try:
        result['policy'] = parse_policy(result['text'])
    except PolicyError as exc:
        result.update(problem=exc.code, error=to_text(exc))
        module.exit_json(**result)
    expected = params['expected_id']
    if expected and expected != result['id']:
        result['error'] = 'the server serves the policy with id %s, not %s' % (result['id'], expected)
    result['verified'] = not expected or expected == result['id']
    module.exit_json(**result)


if __name__ == '__main__':
    main()
