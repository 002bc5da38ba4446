# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: deploy_state
short_description: Read and record when each MTA-STS policy id of a domain was announced
version_added: 0.3.0
description:
  - Keeps the announcement state of one domain in a JSON file on the web host, beside the policy but outside the
    document root it is served from - an object with C(domain) and C(announcements), a list of C(id), C(mode),
    C(max_age), C(mx) and C(announced_at), newest last.
  - Senders cache a policy up to its max_age after they fetched it (RFC 8461 sections 3.3 and 5.1). The role
    C(mailsec.mta_sts.deploy) waits from these times before it switches MX records, removes a policy after an
    opt-out (RFC 8461 section 8.3) or raises max_age.
  - Without O(announce), only reads (a missing file is an empty state). With O(announce), records that id as
    announced now unless it is the newest announcement already - so a second run changes nothing, and an id the
    state does not know (state lost, first run, a run stopped before it recorded) is taken as announced now,
    never earlier.
  - Keeps the last O(keep) announcements, and older ones while a sender could still cache them.
author:
  - mailsec.mta_sts contributors (@mailsec)
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
attributes:
  check_mode:
    support: full
    details: Returns the state as it would be, and whether the file would change; writes nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  path:
    description:
      - The state file, for the role C(<mailsec_mta_sts_state_dir>/<domain>.json).
      - Its directory is created (mode C(0755)) when missing. The file is written atomically, mode C(0644).
    type: path
    required: true
  domain:
    description: The domain (as in the policy host C(mta-sts.<domain>)); a file for another domain is refused.
    type: str
    required: true
  announce:
    description:
      - The policy whose id DNS now announces (after the C(_mta-sts) record with this id was confirmed).
      - Omitted - only read.
    type: dict
    suboptions:
      id:
        description: The policy id (RFC 8461 section 3.1).
        type: str
        required: true
      mode:
        description: The policy mode; empty when not known.
        type: str
        default: ''
      max_age:
        description: The policy's max_age in seconds.
        type: int
        required: true
      mx:
        description: The policy's mx patterns.
        type: list
        elements: str
        default: []
  keep:
    description: How many announcements to keep at least.
    type: int
    default: 10
seealso:
  - name: RFC 8461 section 5.1 - Policy Application Control Flow
    description: How long senders keep a cached policy.
    link: https://www.rfc-editor.org/rfc/rfc8461#section-5.1
  - name: RFC 8461 section 8.3 - Removing MTA-STS
    description: Why the policy host stays until cached policies expired.
    link: https://www.rfc-editor.org/rfc/rfc8461#section-8.3
'''

EXAMPLES = r'''
- name: Read what was announced for example.org
  mailsec.mta_sts.deploy_state:
    path: /var/lib/mailsec-mta-sts/example.org.json
    domain: example.org
  register: announced

- name: Record the id DNS now announces
  mailsec.mta_sts.deploy_state:
    path: /var/lib/mailsec-mta-sts/example.org.json
    domain: example.org
    announce:
      id: 3f1c0b9a8e7d6c5b4a39
      mode: testing
      max_age: 86400
      mx: [mx1.example.org]
'''

RETURN = r'''
state:
  description: The state after this run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    domain:
      description: The domain.
      type: str
      sample: example.org
    announcements:
      description: The announcements, newest last, each with C(id), C(mode), C(max_age), C(mx), C(announced_at).
      type: list
      elements: dict
      sample: [{id: 3f1c0b9a8e7d6c5b4a39, mode: testing, max_age: 86400, mx: [mx1.example.org],
                announced_at: '2026-01-02T03:04:05Z'}]
newest:
  description: The newest announcement, or null when there is none.
  returned: always
  type: dict
  sample: {id: 3f1c0b9a8e7d6c5b4a39, mode: testing, max_age: 86400, mx: [mx1.example.org], announced_at: '2026-01-02T03:04:05Z'}
now:
  description: The time of this run on the host, UTC, rounded up to the second - the time the role's decisions use.
  returned: always
  type: str
  sample: '2026-01-02T03:04:05Z'
recorded:
  description: Whether O(announce) was recorded as a new announcement (or would be, in check mode).
  returned: always
  type: bool
  sample: true
'''

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.mailsec.mta_sts.plugins.module_utils import lifecycle


def _read(module, path, domain):
    if not os.path.exists(path):
        return lifecycle.empty_state(domain), ''
    try:
        with open(path, 'r') as handle:
            text = handle.read()
        return lifecycle.check_state(json.loads(text), domain), text
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot read the state file %s: %s' % (path, to_native(exc)))
    except (ValueError, lifecycle.LifecycleError) as exc:
        module.fail_json(msg='The state file %s cannot be used: %s. Move it away to start over: the role then takes '
                             'the id DNS announces as announced now, which only makes waits longer' % (path, exc))


def _dump(state):
    return json.dumps(state, indent=2, sort_keys=True) + '\n'


def _write(module, path, text):
    directory = os.path.dirname(path) or '.'
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        handle, temp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
        with os.fdopen(handle, 'w') as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot write the state file in %s: %s' % (directory, to_native(exc)))
    module.atomic_move(temp, path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            domain=dict(type='str', required=True),
            announce=dict(type='dict', options=dict(
                id=dict(type='str', required=True),
                mode=dict(type='str', default=''),
                max_age=dict(type='int', required=True),
                mx=dict(type='list', elements='str', default=[]),
            )),
            keep=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    domain = params['domain'].rstrip('.').lower()
    if os.path.isdir(path):
        module.fail_json(msg='%s is a directory; path must name the state file of %s' % (path, domain))
    state, before_text = _read(module, path, domain)
    now = lifecycle.utc_now()
    changed = False
    announce = params['announce']
    if announce:
        try:
            state, changed = lifecycle.record(state, announce['id'], announce['mode'], announce['max_age'],
                                              announce['mx'], now, params['keep'])
        except lifecycle.LifecycleError as exc:
            module.fail_json(msg='Cannot record the announcement of %s: %s' % (domain, exc))
    result = dict(changed=changed, state=state, newest=lifecycle.newest(state), now=lifecycle.format_time(now),
                  recorded=changed)
    if changed:
        after_text = _dump(state)
        if module._diff:
            result['diff'] = {'before_header': path if before_text else '%s (absent)' % path, 'after_header': path,
                              'before': before_text, 'after': after_text}
        if not module.check_mode:
            _write(module, path, after_text)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
