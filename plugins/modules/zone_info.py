# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: zone_info
short_description: Find the DNS zone that holds a name, by asking the servers that serve it
version_added: 0.2.0
description:
  - Asks the servers in O(server) on O(port), in order until one answers, directly (recursion not desired) for
    the SOA record of O(name) and returns the zone whose SOA it gives, in the answer (O(name) is a zone apex)
    or in the authority section of a negative answer (RFC 2308 section 3). A domain inside a parent zone thus
    gets the parent zone.
  - The deploy role runs it in its preflight for a domain without C(zone), against the server its DNS provider
    writes to, so that a wrong zone stops the domain before anything changes.
  - Read-only. Fails when O(server) is empty, and when no server answers authoritatively for O(name), saying
    what each server said, with RV(answered) telling a server that does not hold the name from servers that
    do not answer at all.
author:
  - mailsec.mta_sts contributors (@mailsec)
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.READ_ONLY
  - mailsec.mta_sts.authoritative
options:
  name:
    description:
      - The name whose zone to find, for example a mail domain.
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for each server's answer.
    type: float
    default: 5
seealso:
  - module: mailsec.mta_sts.txt_wait
'''

EXAMPLES = r'''
- name: Which zone holds mail.example.org on the primary server?
  mailsec.mta_sts.zone_info:
    name: mail.example.org
    server: [192.0.2.53]
    port: 5353
  register: found

- name: Show it
  ansible.builtin.debug:
    msg: "{{ found.zone }}"
'''

RETURN = r'''
zone:
  description: The zone that holds O(name), without the trailing dot, in lower case.
  returned: success
  type: str
  sample: example.org
answered:
  description: Whether a server answered (false - none could be reached, so the zone is unknown, not wrong).
  returned: always
  type: bool
  sample: true
server:
  description: The server that gave the answer.
  returned: success
  type: str
  sample: 192.0.2.53
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailsec.mta_sts.plugins.module_utils import authoritative
from ansible_collections.mailsec.mta_sts.plugins.module_utils.argspec import create_authoritative_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            create_authoritative_argument_spec(),
            name=dict(type='str', required=True),
            timeout=dict(type='float', default=5),
        ),
        supports_check_mode=True,
    )
    if not authoritative.HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib('dnspython'))
    params = module.params
    name = params['name'].strip().rstrip('.').lower()
    if not name or not params['server']:
        module.fail_json(msg='give a name and at least one server (name=, server=)')
    try:
        zone, server = authoritative.zone_of(params['server'], params['port'], name, params['timeout'])
    except authoritative.ServerError as exc:
        module.fail_json(msg='no zone holding %s found: %s' % (name, exc), answered=exc.answered)
    module.exit_json(changed=False, zone=zone, server=server, answered=True)


if __name__ == '__main__':
    main()
