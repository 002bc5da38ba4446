# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: txt_wait
short_description: Wait until given DNS servers answer exactly the given TXT values
version_added: 0.2.0
description:
  - Asks each server directly (recursion not desired), on O(port), for each record in O(records), until every
    server answers exactly the record's values, or O(timeout) passes.
  - The servers are O(server) or, when O(server) is empty, the authoritative servers of O(zone) found through
    O(nameservers) (its NS records and their addresses).
  - Fails at once, without waiting, when a server cannot answer for the zone (no reply, REFUSED, not
    authoritative), since waiting would not change that. Fails at O(timeout) when a server still answers other
    values, naming each server and what it answered.
author:
  - mailsec.mta_sts contributors (@mailsec)
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.READ_ONLY
  - mailsec.mta_sts.authoritative
attributes:
  check_mode:
    details: The module only reads; in check mode it asks once and does not wait.
options:
  records:
    description:
      - The TXT records to wait for.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Owner name of the TXT record.
        type: str
        required: true
      values:
        description: The values (each value's strings joined) the record must hold, no more and no fewer.
        type: list
        elements: str
        required: true
  zone:
    description:
      - The zone whose authoritative servers to ask when O(server) is empty.
    type: str
  nameservers:
    description:
      - Resolvers that look up the NS records of O(zone) and their addresses; empty - the system's resolvers.
    type: list
    elements: str
    default: []
  dns_port:
    description:
      - Port of the resolvers in O(nameservers).
    type: int
    default: 53
  timeout:
    description:
      - Seconds to wait in all.
    type: float
    default: 300
  query_timeout:
    description:
      - Seconds to wait for each answer.
    type: float
    default: 2
  interval:
    description:
      - Seconds between two rounds of questions.
    type: float
    default: 1
  hint:
    description:
      - Text added to a failure message, saying what to set (the deploy role names its variables here).
    type: str
    default: ''
seealso:
  - module: mailsec.mta_sts.zone_info
  - module: community.dns.wait_for_txt
    description: Waits for the authoritative servers on port 53, found through the system resolver.
'''

EXAMPLES = r'''
- name: Wait until the RFC 2136 primary (port 5353) answers the new id
  mailsec.mta_sts.txt_wait:
    records:
      - name: _mta-sts.example.org
        values: ["v=STSv1; id=20261201T000000;"]
    server: [192.0.2.53]
    port: 5353
    timeout: 60
'''

RETURN = r'''
servers:
  description: The servers asked.
  returned: always
  type: list
  elements: str
  sample: [192.0.2.53]
port:
  description: Their port.
  returned: always
  type: int
  sample: 5353
completed:
  description: How many (server, record) checks answered the values.
  returned: always
  type: int
  sample: 2
waiting:
  description: The checks that still differed when the module gave up (empty on success).
  returned: always
  type: list
  elements: dict
  contains:
    server:
      description: The server.
      type: str
      sample: 192.0.2.53
    port:
      description: Its port.
      type: int
      sample: 5353
    name:
      description: The record's name.
      type: str
      sample: _mta-sts.example.org
    expected:
      description: The values waited for.
      type: list
      elements: str
      sample: ["v=STSv1; id=20261201T000000;"]
    answered:
      description: What the server answered last.
      type: list
      elements: str
      sample: ["v=STSv1; id=20261101T000000;"]
  sample: []
elapsed:
  description: Seconds the wait took.
  returned: always
  type: float
  sample: 0.04
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailsec.mta_sts.plugins.module_utils import authoritative
from ansible_collections.mailsec.mta_sts.plugins.module_utils.argspec import create_authoritative_argument_spec


def _fail(module, msg, hint, **result):
    module.fail_json(msg=msg + ('; %s' % hint if hint else ''), **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            create_authoritative_argument_spec(),
            records=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                values=dict(type='list', elements='str', required=True),
            )),
            zone=dict(type='str'),
            nameservers=dict(type='list', elements='str', default=[]),
            dns_port=dict(type='int', default=53),
            timeout=dict(type='float', default=300),
            query_timeout=dict(type='float', default=2),
            interval=dict(type='float', default=1),
            hint=dict(type='str', default=''),
        ),
        required_one_of=[('server', 'zone')],
        supports_check_mode=True,
    )
    if not authoritative.HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib('dnspython'))
    params = module.params
    servers = params['server']
    result = dict(changed=False, servers=servers, port=params['port'], completed=0, waiting=[], elapsed=0.0)
    try:
        if not servers:
            servers = authoritative.nameservers_of(params['zone'], params['nameservers'], params['dns_port'],
                                                   params['query_timeout'])
            result['servers'] = servers
        completed, waiting, elapsed = authoritative.wait_for_txt(
            servers, params['port'], params['records'], 0 if module.check_mode else params['timeout'],
            params['query_timeout'], params['interval'])
    except authoritative.ServerError as exc:
        _fail(module, 'the DNS wait cannot ask %s port %d: %s' % (', '.join(servers) or params['zone'], params['port'], exc),
              params['hint'], **result)
    result.update(completed=completed, waiting=waiting, elapsed=elapsed)
    if waiting and not module.check_mode:
        lines = ['%s port %d still answers %s for %s' % (item['server'], item['port'], item['answered'], item['name'])
                 for item in waiting]
        _fail(module, 'after %.0f s not every server answers the new TXT values: %s' % (elapsed, '; '.join(lines)),
              params['hint'], **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
