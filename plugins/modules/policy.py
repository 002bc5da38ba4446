# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: policy
short_description: Write an MTA-STS policy file (RFC 8461) and return its policy id
version_added: 0.1.0
description:
  - Renders an MTA-STS policy from O(policy_mode), O(mx) and O(max_age) in one canonical form (version, mode, the
    mx patterns sorted and lower case, max_age), validates it with the parser that M(mailsec.mta_sts.audit) uses,
    and writes it atomically to O(path) - the file a web server serves as C(/.well-known/mta-sts.txt).
  - Returns the policy text, its policy id and the C(_mta-sts) TXT record that announces it. The id is derived
    from the policy's content, so it stays the same when the policy does not change (a second run changes
    nothing) and is new whenever the policy changes (senders refetch it).
  - With O(mx_hosts), reports the MX hosts that no mx pattern covers (RFC 8461 section 4.1), so that a
    caller can refuse O(policy_mode=enforce) before anything is written.
author:
  - mailsec.mta_sts contributors (@mailsec)
extends_documentation_fragment:
  - ansible.builtin.files
  - mailsec.mta_sts.attributes
attributes:
  check_mode:
    support: full
    details: Returns the text, id and record the policy would have, and whether the file would change.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  path:
    description:
      - Where to write the policy, usually C(<document root>/.well-known/mta-sts.txt).
      - The directory must exist (in check mode, a missing directory means the file would be created).
      - A new file gets mode C(0644) unless O(mode) says otherwise, because the web server's workers must read it.
    type: path
    required: true
  policy_mode:
    description:
      - The policy mode. V(testing) asks senders to report failures but deliver anyway; V(enforce) asks them
        not to deliver without a valid TLS connection to a listed MX host; V(none) withdraws the policy.
      - Start with V(testing) and move to V(enforce) once TLS reports are clean (control EDCA-TLS-025).
    type: str
    choices: [testing, enforce, none]
    default: testing
  mx:
    description:
      - The mx patterns - MX host names or C(*.) wildcards of one label (V(*.example.org)).
      - Required (at least one) unless O(policy_mode=none). Case and a trailing dot do not matter.
      - Internationalized names may be given in U-labels; the policy lists them as A-labels (IDNA2008), as
        RFC 8461 section 3.2 requires.
    type: list
    elements: str
    default: []
  max_age:
    description:
      - How long senders may cache the policy, in seconds (at most 31557600).
      - A shorter max_age makes a rollback reach senders sooner; a longer one protects better against attacks
        on DNS. One week is a common start.
    type: int
    default: 604800
  mx_hosts:
    description:
      - The MX hosts the domain publishes now. The module returns in RV(uncovered) those that no pattern in O(mx)
        covers. The module itself does not fail for them.
    type: list
    elements: str
    default: []
  backup:
    description:
      - Keep a copy of the previous policy file, with a timestamp in its name, when the file changes.
    type: bool
    default: false
notes:
  - The file is written to a temporary file in the same directory and renamed over O(path), so a web server
    never serves half a policy.
seealso:
  - module: mailsec.mta_sts.audit
    description: Checks the published policy the way senders do.
  - module: mailsec.mta_sts.policy_fetch
    description: Fetches the policy back over HTTPS to check what the web server serves.
  - name: RFC 8461 section 3.2 - MTA-STS Policies
    description: The policy format.
    link: https://www.rfc-editor.org/rfc/rfc8461#section-3.2
'''

EXAMPLES = r'''
- name: Write the policy for example.org in testing mode
  mailsec.mta_sts.policy:
    path: /var/www/mta-sts/example.org/.well-known/mta-sts.txt
    policy_mode: testing
    mx: [mx1.example.org, mx2.example.org]
    max_age: 604800
    owner: root
    group: root
    mode: "0644"
    backup: true
  register: policy

- name: Publish the id of exactly this policy in DNS
  community.general.nsupdate:
    server: 192.0.2.53
    zone: example.org
    record: _mta-sts
    type: TXT
    value: "{{ policy.record | mailsec.mta_sts.txt_value('nsupdate') }}"

- name: Refuse enforce when a live MX host is not covered (changes nothing)
  mailsec.mta_sts.policy:
    path: /var/www/mta-sts/example.org/.well-known/mta-sts.txt
    policy_mode: enforce
    mx: [mx1.example.org]
    mx_hosts: [mx1.example.org, backup-mx.example.net]
  check_mode: true
  register: planned

- name: Stop before enforcing a policy that would bounce mail
  ansible.builtin.assert:
    that: planned.uncovered | length == 0
    fail_msg: "MX hosts not covered by the policy: {{ planned.uncovered | join(', ') }}"
'''

RETURN = r'''
path:
  description: The policy file.
  returned: always
  type: str
  sample: /var/www/mta-sts/example.org/.well-known/mta-sts.txt
text:
  description: The policy text as written (LF line ends).
  returned: always
  type: str
  sample: "version: STSv1\nmode: testing\nmx: mx1.example.org\nmax_age: 604800\n"
id:
  description:
    - The policy id for the C(_mta-sts) TXT record, derived from RV(text) (20 hexadecimal digits).
    - It changes exactly when the policy text changes.
  returned: always
  type: str
  sample: 3f1c0b9a8e7d6c5b4a39
record:
  description: The C(_mta-sts) TXT record value that announces this policy, as plain text (not quoted).
  returned: always
  type: str
  sample: "v=STSv1; id=3f1c0b9a8e7d6c5b4a39;"
policy:
  description: The policy as the audit's parser reads it.
  returned: always
  type: dict
  contains:
    version:
      description: C(STSv1).
      type: str
      sample: STSv1
    mode:
      description: The policy mode.
      type: str
      sample: testing
    max_age:
      description: max_age in seconds.
      type: int
      sample: 604800
    mx:
      description: The mx patterns in the order written.
      type: list
      elements: str
      sample: [mx1.example.org]
    extensions:
      description: Fields RFC 8461 does not define (always empty for a rendered policy).
      type: dict
      sample: {}
    warnings:
      description: What senders would ignore, each with C(code) and C(message) (always empty for a rendered policy).
      type: list
      elements: dict
      sample: []
uncovered:
  description: The entries of O(mx_hosts) that no mx pattern covers.
  returned: always
  type: list
  elements: str
  sample: [backup-mx.example.net]
backup_file:
  description: The copy of the previous policy, when O(backup=true) and the file changed.
  returned: changed and a previous file existed
  type: str
  sample: /var/www/mta-sts/example.org/.well-known/mta-sts.txt.1234.2025-01-01@12:00:00~
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import (
    SHORT_MAX_AGE, PolicyError, matching_pattern, parse_policy, policy_id, render_policy)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import render_sts_record

NEW_FILE_MODE = '0644'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            policy_mode=dict(type='str', choices=['testing', 'enforce', 'none'], default='testing'),
            mx=dict(type='list', elements='str', default=[]),
            max_age=dict(type='int', default=604800),
            mx_hosts=dict(type='list', elements='str', default=[]),
            backup=dict(type='bool', default=False),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    try:
        text = render_policy(params['policy_mode'], params['mx'], params['max_age'])
        parsed = parse_policy(text)
    except PolicyError as exc:
        module.fail_json(msg='The policy would be invalid: %s' % exc, codes=[code for code, _m in exc.problems])
    if parsed['max_age'] < SHORT_MAX_AGE:
        module.warn('max_age %d is under one day: senders will refetch the policy very often' % parsed['max_age'])
    record_id = policy_id(text)
    result = dict(
        changed=False, path=path, text=text, id=record_id, record=render_sts_record(record_id), policy=parsed,
        uncovered=[host for host in params['mx_hosts'] if matching_pattern(parsed['mx'], host) is None])

    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory) and not module.check_mode:
        # In check mode a missing directory only means the file would be new: a play creates it first.
        module.fail_json(msg='The directory %s does not exist; create the document root (and its .well-known '
                             'directory) first' % directory, **result)
    if os.path.isdir(path):
        module.fail_json(msg='%s is a directory; path must name the policy file' % path, **result)
    new = to_bytes(text)
    exists = os.path.exists(path)
    before = b''
    if exists:
        try:
            with open(path, 'rb') as handle:
                before = handle.read()
        except (IOError, OSError) as exc:
            module.fail_json(msg='Cannot read %s: %s' % (path, to_native(exc)), **result)
    content_changed = before != new or not exists
    if module._diff:
        result['diff'] = [{'before_header': path if exists else '%s (absent)' % path, 'after_header': path,
                           'before': to_text(before, errors='surrogate_or_replace'), 'after': text}]

    if content_changed and not module.check_mode:
        if params['backup'] and exists:
            result['backup_file'] = module.backup_local(path)
        _write_atomically(module, path, new, result)
    result['changed'] = content_changed

    file_args = module.load_file_common_arguments(params)
    if not exists and file_args.get('mode') is None:
        file_args['mode'] = NEW_FILE_MODE
    if exists or not module.check_mode:
        # A new file in check mode does not exist yet: its attributes would be set when it is written.
        attr_diff = {} if module._diff else None
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'], diff=attr_diff)
    module.exit_json(**result)


def _write_atomically(module, path, data, result):
    directory = os.path.dirname(path) or '.'
    try:
        handle, temp = tempfile.mkstemp(prefix='.mta-sts.', suffix='.tmp', dir=directory)
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot write a temporary file in %s: %s' % (directory, to_native(exc)), **result)
    # atomic_move renames over the target (keeping its owner, group and mode when it exists).
    module.atomic_move(temp, path, unsafe_writes=module.params['unsafe_writes'])


if __name__ == '__main__':
    main()
