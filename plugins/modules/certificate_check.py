# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: certificate_check
short_description: Check a policy host's certificate and key files before a web server serves them
version_added: 0.2.0
description:
  - Reads a PEM certificate file (the leaf first, then the intermediates, as a web server sends them) and its
    private key file, and checks what senders check when they fetch a policy (RFC 8461 section 3.3) - that a
    DNS name of the certificate's subjectAltName covers O(name) (RFC 6125 wildcard rules), that it is valid now
    (and O(min_days) more days), that the chain leads to a CA of O(ca_path) (or the system's store) - and that
    the private key belongs to the certificate.
  - Read-only. The problems are returned in RV(problems) and RV(valid) is false; the module fails only for bad
    arguments, unreadable files or a missing Python library. The key is never returned.
author:
  - mailsec.mta_sts contributors (@mailsec)
requirements:
  - cryptography >= 40
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.READ_ONLY
options:
  name:
    description:
      - The host name the certificate must be valid for, for example C(mta-sts.example.org).
    type: str
    required: true
  cert_path:
    description:
      - The certificate file (PEM, full chain).
    type: path
    required: true
  key_path:
    description:
      - The private key file (PEM, not encrypted).
    type: path
    required: true
  ca_path:
    description:
      - PEM bundle of the CA certificates the chain must lead to. When not set, the system trust store.
    type: path
  min_days:
    description:
      - The certificate must stay valid this many more days.
    type: int
    default: 0
seealso:
  - module: community.crypto.x509_certificate_info
'''

EXAMPLES = r'''
- name: Check the certificate of mta-sts.example.org before nginx gets it
  mailsec.mta_sts.certificate_check:
    name: mta-sts.example.org
    cert_path: /etc/ssl/mta-sts/mta-sts.example.org.crt
    key_path: /etc/ssl/mta-sts/mta-sts.example.org.key
  register: cert

- name: Refuse a certificate senders would refuse
  ansible.builtin.assert:
    that: cert.valid
    fail_msg: "{{ cert.problems | join('; ') }}"
'''

RETURN = r'''
valid:
  description: Whether there is no problem.
  returned: always
  type: bool
  sample: false
problems:
  description: What is wrong, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["it is for mta-sts.elsewhere.test, not mta-sts.example.org"]
certificate:
  description: What the leaf certificate says.
  returned: always
  type: dict
  contains:
    subject:
      description: Subject (RFC 4514).
      type: str
      sample: CN=mta-sts.example.org
    issuer:
      description: Issuer (RFC 4514).
      type: str
      sample: CN=R11,O=Let's Encrypt,C=US
    dns_names:
      description: The DNS names of its subjectAltName.
      type: list
      elements: str
      sample: [mta-sts.example.org]
    not_before:
      description: Start of validity (ISO 8601, UTC).
      type: str
      sample: "2026-11-01T00:00:00+00:00"
    not_after:
      description: End of validity (ISO 8601, UTC).
      type: str
      sample: "2027-01-30T00:00:00+00:00"
    chain_length:
      description: Certificates in the file.
      type: int
      sample: 2
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailsec.mta_sts.plugins.module_utils import certificate


def _read(module, path, what):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read the %s file %s: %s' % (what, path, exc.strerror or exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            cert_path=dict(type='path', required=True),
            key_path=dict(type='path', required=True, no_log=False),
            ca_path=dict(type='path'),
            min_days=dict(type='int', default=0),
        ),
        supports_check_mode=True,
    )
    if not certificate.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'))
    params = module.params
    cert_pem = _read(module, params['cert_path'], 'certificate')
    key_pem = _read(module, params['key_path'], 'key')
    try:
        roots = certificate.trust_store_certs(params['ca_path'])
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read ca_path %s: %s' % (params['ca_path'], exc))
    problems, seen = certificate.check(params['name'], cert_pem, key_pem, roots, min_days=params['min_days'])
    module.exit_json(changed=False, valid=not problems, problems=problems, certificate=seen)


if __name__ == '__main__':
    main()
