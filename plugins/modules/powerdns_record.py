# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: powerdns_record
short_description: Manage one record set in a PowerDNS Authoritative zone through its HTTP API
version_added: 0.1.0
description:
  - Makes one record set (name and type) of a zone on a PowerDNS Authoritative server hold exactly the given
    values and TTL, or removes it, through the PowerDNS HTTP API (C(PATCH /api/v1/servers/<id>/zones/<zone>)).
  - Reads the record set first and changes nothing when it already matches, so a second run reports no change.
  - The role C(mailsec.mta_sts.deploy) uses it for the C(_mta-sts) and C(_smtp._tls) TXT records and
    the C(mta-sts) host; works for any record type.
  - TXT values are given as plain text (V(v=STSv1; id=abc;)); the module quotes them for PowerDNS, splits
    values longer than 255 octets into several strings, and compares them unquoted.
author:
  - mailsec.mta_sts contributors (@mailsec)
extends_documentation_fragment:
  - mailsec.mta_sts.powerdns
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.ACTIONGROUP_POWERDNS
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  zone:
    description:
      - The zone as PowerDNS knows it, with or without the trailing dot.
    type: str
    required: true
  name:
    description:
      - The owner name of the record set. An absolute name (ending in the zone, or in a dot) is used as is; any
        other name is relative to O(zone). V(@) is the zone apex.
    type: str
    required: true
  type:
    description:
      - The record type, for example V(TXT), V(A), V(AAAA), V(CNAME).
    type: str
    required: true
  value:
    description:
      - The values of the record set when O(state=present). Order does not matter; duplicates are dropped.
      - TXT values are plain text, not quoted.
    type: list
    elements: str
    aliases: [values]
  ttl:
    description:
      - TTL of the record set in seconds when O(state=present).
    type: int
    default: 3600
  state:
    description:
      - V(present) makes the record set hold exactly O(value); V(absent) removes the record set.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The API key needs write access to the zone. PowerDNS must run with C(api=yes) and its web server reachable
    from the host that runs this module.
  - Changing a record set through the API increases the zone's SOA serial according to the zone's
    C(SOA-EDIT-API) setting.
seealso:
  - name: PowerDNS Authoritative HTTP API
    description: The API this module calls.
    link: https://doc.powerdns.com/authoritative/http-api/zone.html
  - module: community.general.nsupdate
    description: The same for any server that accepts RFC 2136 dynamic updates.
'''

EXAMPLES = r'''
- name: Publish the MTA-STS TXT record
  mailsec.mta_sts.powerdns_record:
    api_url: http://127.0.0.1:8081
    api_key: "{{ pdns_api_key }}"
    zone: example.org
    name: _mta-sts
    type: TXT
    value: ["v=STSv1; id=8a1f3c20b4d5e6f70812;"]
    ttl: 300

- name: Point the policy host at the web server, credentials set once for the whole block
  module_defaults:
    mailsec.mta_sts.powerdns_record:
      api_url: https://pdns.example.net:8081
      api_key: "{{ pdns_api_key }}"
      ca_path: /etc/pki/internal-ca.pem
  block:
    - name: Address of the policy host
      mailsec.mta_sts.powerdns_record:
        zone: example.org
        name: mta-sts.example.org
        type: A
        value: [192.0.2.10]

- name: Remove the TLS-RPT record
  mailsec.mta_sts.powerdns_record:
    api_url: http://127.0.0.1:8081
    api_key: "{{ pdns_api_key }}"
    zone: example.org
    name: _smtp._tls
    type: TXT
    state: absent
'''

RETURN = r'''
zone:
  description: The zone, absolute.
  returned: always
  type: str
  sample: example.org.
name:
  description: The owner name of the record set, absolute.
  returned: always
  type: str
  sample: _mta-sts.example.org.
type:
  description: The record type.
  returned: always
  type: str
  sample: TXT
before:
  description: The record set before the change; V(null) when it did not exist.
  returned: always
  type: dict
  contains:
    ttl:
      description: TTL in seconds.
      type: int
      sample: 300
    value:
      description: The values (TXT unquoted).
      type: list
      elements: str
      sample: ["v=STSv1; id=8a1f3c20b4d5e6f70812;"]
after:
  description: The record set after the change (what it would be in check mode); V(null) when absent.
  returned: always
  type: dict
  contains:
    ttl:
      description: TTL in seconds.
      type: int
      sample: 300
    value:
      description: The values (TXT unquoted).
      type: list
      elements: str
      sample: ["v=STSv1; id=1c0ffee5b4d5e6f70812;"]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailsec.mta_sts.plugins.module_utils.argspec import create_powerdns_argument_spec
from ansible_collections.mailsec.mta_sts.plugins.module_utils.powerdns import (
    HAS_REQUESTS, PowerDNSClient, PowerDNSError, absolute_name, comparable, from_content, to_content)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.txt import TxtError


def _state(rtype, rrset):
    if rrset is None:
        return None
    return {'ttl': rrset['ttl'], 'value': sorted(from_content(rtype, content) for content in rrset['records'])}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            create_powerdns_argument_spec(),
            zone=dict(type='str', required=True),
            name=dict(type='str', required=True),
            type=dict(type='str', required=True),
            value=dict(type='list', elements='str', aliases=['values']),
            ttl=dict(type='int', default=3600),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        required_if=[('state', 'present', ['value'])],
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib('requests'))
    params = module.params
    rtype = params['type'].upper()
    zone = params['zone'].strip().lower().rstrip('.') + '.'
    name = absolute_name(params['name'], zone)
    if name != zone and not name.endswith('.' + zone):
        module.fail_json(msg='name %s is not inside zone %s; give a name in the zone or a relative name' % (name, zone))
    if params['state'] == 'present' and not params['value']:
        module.fail_json(msg='value needs at least one entry when state=present; use state=absent to remove the record set')
    if params['ttl'] < 0:
        module.fail_json(msg='ttl must be 0 or more seconds')
    verify = params['ca_path'] or params['validate_certs']
    result = dict(changed=False, zone=zone, name=name, type=rtype)
    try:
        client = PowerDNSClient(params['api_url'], params['api_key'], params['server_id'], verify, params['timeout'])
        before = _state(rtype, client.get_rrset(zone, name, rtype))
        if params['state'] == 'present':
            wanted = comparable(rtype, params['value'])
            after = {'ttl': params['ttl'], 'value': wanted}
            changed = before is None or before['ttl'] != after['ttl'] or comparable(rtype, before['value']) != wanted
            if changed and not module.check_mode:
                client.replace_rrset(zone, name, rtype, params['ttl'], [to_content(rtype, value) for value in wanted])
        else:
            after = None
            changed = before is not None
            if changed and not module.check_mode:
                client.delete_rrset(zone, name, rtype)
    except PowerDNSError as exc:
        module.fail_json(msg=str(exc), **result)
    except TxtError as exc:
        module.fail_json(msg='invalid TXT value: %s' % exc, **result)
    result.update(changed=changed, before=before, after=after)
    if module._diff:
        result['diff'] = {'before_header': '%s %s' % (name, rtype), 'after_header': '%s %s' % (name, rtype),
                          'before': _diff_text(name, rtype, before), 'after': _diff_text(name, rtype, after)}
    module.exit_json(**result)


def _diff_text(name, rtype, state):
    if state is None:
        return ''
    return ''.join('%s %d IN %s %s\n' % (name, state['ttl'], rtype, value) for value in state['value'])


if __name__ == '__main__':
    main()
