# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: audit
short_description: Audit accepted domains against MTA-STS (RFC 8461) for control EDCA-TLS-025
version_added: 0.1.0
description:
  - Checks every domain in O(domains) the way a sending MTA applies RFC 8461 - the C(_mta-sts) TXT record,
    the HTTPS policy at C(https://mta-sts.<domain>/.well-known/mta-sts.txt), the policy's syntax, its C(mx)
    patterns against the live MX hosts, optionally the MX hosts' STARTTLS certificates, and the TLS-RPT record.
  - Returns a verdict per domain (V(pass), V(fail), V(unknown), V(skipped)) with findings that carry stable
    codes, the evidence behind them, and the verdict of control EDCA-TLS-025 over all domains.
  - All domains of one call are checked concurrently inside this one module call.
  - A broken or hostile domain is reported in its own result and never fails the module; the module fails only
    for bad arguments or a missing Python library.
  - Read-only; never reports a change.
author:
  - mailsec.mta_sts contributors (@mailsec)
requirements:
  - dnspython >= 2.6
  - urllib3 >= 2.6 (installed with requests)
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.ACTION
  - mailsec.mta_sts.resolver
  - mailsec.mta_sts.attributes.ACTIONGROUP_MTA_STS
attributes:
  check_mode:
    support: full
    details: The audit only reads, so it runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  domains:
    description:
      - The accepted domains to audit, as people type them - any case, with or without a trailing dot,
        Unicode (IDN) names. Each is normalized to lowercase A-labels without the trailing dot.
      - An entry that is not a domain name gets status V(fail) with finding C(domain-invalid); the others go on.
      - Entries that normalize to the same domain are audited once.
    type: list
    elements: raw
    required: true
  concurrency:
    description:
      - How many domains are checked at the same time.
      - Results do not depend on it.
    type: int
    default: 64
  processes:
    description:
      - How many processes audit the domains, each with its own event loop over a contiguous slice of them; the
        results are joined in input order and do not depend on it. O(concurrency) is shared among them.
      - V(0) (the default) uses one process per CPU when there are at least 1,000 distinct domains per process,
        else one. The audit is CPU-bound (TLS handshakes, DNS message parsing) at thousands of domains.
      - The processes die with the module process (an AWX job cancelled mid-audit leaves none behind).
    type: int
    default: 0
  require_mode:
    description:
      - The policy mode a domain needs to pass.
      - With V(enforce), a policy in mode C(testing) fails (finding C(policy-mode-testing) with severity C(error)).
    type: str
    choices: [testing, enforce]
    default: testing
  check_mx_tls:
    description:
      - Connect to each MX host on O(smtp_port), issue STARTTLS and validate its certificate for the MX host name
        as RFC 8461 section 4 requires.
      - Problems fail the domain when its policy is in mode C(enforce) and are warnings otherwise.
    type: bool
    default: false
  smtp_port:
    description:
      - The SMTP port of the MX hosts for O(check_mx_tls).
    type: int
    default: 25
  cert_min_days:
    description:
      - Certificates of the policy host and (with O(check_mx_tls)) of the MX hosts that expire within this many days
        give a warning (C(policy-cert-expiring), C(mx-cert-expiring)) and make the domain not ready for enforce.
    type: int
    default: 14
  check_dane:
    description:
      - Look up TLSA records at C(_25._tcp.<mx host>) and note MX hosts that publish them (C(mx-dane-tlsa)).
        Senders that support DANE apply it before MTA-STS.
    type: bool
    default: true
  check_consistency:
    description:
      - Ask every authoritative nameserver of the zone holding C(_mta-sts.<domain>) directly, on O(dns_port), and report
        when they disagree (C(txt-inconsistent)) - a stale secondary keeps some senders on the old policy id.
    type: bool
    default: false
  allow_private_addresses:
    description:
      - Contact policy hosts, MX hosts and NS hosts that resolve to loopback, link-local, private (RFC 1918, RFC 4193),
        unspecified, multicast or other special-purpose addresses (RFC 6890).
      - By default they are not contacted and the domain gets C(policy-host-private-address), C(mx-private-address) or
        C(ns-private-address) naming the host and the address; senders on the internet cannot use such a host either.
      - B(Risk:) with V(true), whoever controls a domain's DNS can make the audit connect to internal services next to
        it (an AWX node's loopback, a cloud metadata address, internal web and mail servers) - a request-forgery channel
        and a way to map internal ports 443, 25 and 53. Set it only for test labs and split-horizon set-ups whose
        internal view is what you mean to audit.
    type: bool
    default: false
  tlsrpt_summary:
    description:
      - What senders reported (RFC 8460), per domain, as RV(mailsec.mta_sts.tlsrpt_info#module:domains) returns it
        - a dict keyed by domain whose values have C(failed_sessions) and C(failure_types).
      - A domain with failed sessions gets C(tlsrpt-reported-failures) and is not ready for enforce.
    type: dict
  planned_mx:
    description:
      - MX hosts a domain is about to switch to (an MX migration) - a list of host names (or C(*.) patterns) for every
        domain, or a dict of domain to such a list.
      - For each domain with planned hosts the audit says whether the served policy covers them (RFC 8461 section 4.1)
        and since when the switch is safe (senders cache a policy up to its max_age, sections 3.3 and 5.1), in
        RV(domains[].migration) and the findings C(mx-planned-not-covered), C(mx-planned-wait),
        C(mx-planned-since-unknown), C(mx-planned-ready) and C(mx-planned-unchecked). They do not change the verdict.
      - The audit keeps no state - "covering since" is the policy host's C(Last-Modified) header and the wait the
        current policy's max_age. The C(planned_mx) entry key of the deploy role (C(mailsec.mta_sts.deploy)) reports
        the exact time from its announcement state; see the guide C(docs/lifecycle-mx-migration.md).
      - A value that is not a host name fails the module with a message naming it.
    type: raw
notes:
  - The verdict follows RFC 8461. V(pass) needs exactly one valid C(v=STSv1) TXT record, a policy fetched over HTTPS
    with a certificate valid for C(mta-sts.<domain>), HTTP 200 without redirect, C(text/plain), at most 64 KiB, valid
    policy syntax, and in mode C(enforce) every MX host covered by an C(mx) pattern.
  - V(unknown) means a lookup the verdict needs got no authoritative answer (SERVFAIL, REFUSED, timeout).
    NXDOMAIN and NODATA are answers and fail.
  - V(skipped) means the domain publishes a null MX (RFC 7505) and accepts no mail.
  - Every value read from DNS or HTTP is returned as data and marked unsafe for templating.
seealso:
  - name: RFC 8461 - SMTP MTA Strict Transport Security (MTA-STS)
    description: The standard this module checks.
    link: https://www.rfc-editor.org/rfc/rfc8461
  - name: RFC 8460 - SMTP TLS Reporting
    description: The TLS-RPT record checked beside the policy.
    link: https://www.rfc-editor.org/rfc/rfc8460
  - module: mailsec.mta_sts.policy
'''

EXAMPLES = r'''
- name: Audit the accepted domains (EDCA-TLS-025)
  mailsec.mta_sts.audit:
    domains:
      - example.org
      - Bücher.example.
  register: mta_sts

- name: Show the control verdict
  ansible.builtin.debug:
    msg: "{{ mta_sts.control.status }}: {{ mta_sts.control.counts }}"

- name: Audit through a given resolver and CA, requiring enforce, with MX STARTTLS checks
  mailsec.mta_sts.audit:
    domains: "{{ accepted_domains }}"
    nameservers: [192.0.2.53]
    ca_path: /etc/pki/internal-ca.pem
    timeout: 5
    concurrency: 128
    require_mode: enforce
    check_mx_tls: true

- name: List the failing domains with their first finding
  ansible.builtin.debug:
    msg: "{{ mta_sts.domains | selectattr('status', 'equalto', 'fail') | map(attribute='domain') | list }}"
'''

RETURN = r'''
domains:
  description: One result per entry of O(domains), in input order.
  returned: always
  type: list
  elements: dict
  contains:
    input:
      description: The entry as given.
      type: raw
      sample: Bücher.example.
    domain:
      description: The normalized domain (lowercase A-labels, no trailing dot); V(null) when the input is not a domain.
      type: str
      sample: xn--bcher-kva.example
    status:
      description: The verdict for this domain.
      type: str
      choices: [pass, fail, unknown, skipped]
      sample: pass
    findings:
      description:
        - What the audit found, each with a stable code. Severity C(error) fails the domain (or makes it unknown
          for lookup failures), C(warning) and C(info) do not.
        - Every code - its effect on the verdict (fail, unknown, warn, info, skip), what it means and what to do -
          is in R(the finding reference,ansible_collections.mailsec.mta_sts.docsite.finding_codes), generated from
          the catalogue C(plugins/module_utils/findings.py) that the audit and the reports use.
      type: list
      elements: dict
      contains:
        code:
          description: Stable identifier of the finding.
          type: str
          sample: policy-mode-testing
        severity:
          description: How the finding weighs on the verdict in this context.
          type: str
          choices: [error, warning, info]
          sample: warning
        message:
          description: What was seen, for people.
          type: str
          sample: "mode testing: senders report TLS failures but deliver anyway"
    duration:
      description:
        - Seconds the audit of this domain took, from its first lookup to its verdict (the JUnit report's test case time).
        - Not there for an input that is not a domain name.
      type: float
      sample: 0.312
    enforce_ready:
      description:
        - Whether the domain may switch to mode C(enforce) now - a valid record and policy, every MX host covered,
          the checked MX hosts with valid STARTTLS, certificates valid for O(cert_min_days) more days, TLS-RPT published,
          no failures reported by senders, consistent nameservers.
        - V(null) for a domain that accepts no mail (null MX).
      type: bool
      sample: false
    enforce_blockers:
      description: Why the domain is not ready for enforce, as findings.
      type: list
      elements: dict
      sample: [{"code": "mx-not-covered", "message": "MX host mx2.example.org matches no mx pattern of the policy"}]
      contains:
        code:
          description: The finding code.
          type: str
        message:
          description: The finding's message.
          type: str
    record:
      description: The C(_mta-sts) TXT lookup. V(null) when the domain was not looked up.
      type: dict
      contains:
        name:
          description: The name looked up.
          type: str
          sample: _mta-sts.example.org
        outcome:
          description: V(answer), V(nxdomain), V(nodata) or V(error).
          type: str
          sample: answer
        error:
          description: Why the lookup failed, when RV(domains[].record.outcome=error).
          type: str
        txt:
          description: Every TXT record seen, each with its strings joined.
          type: list
          elements: str
          sample: ["v=STSv1; id=20240101;"]
        id:
          description: The policy id of the one valid record, else V(null).
          type: str
          sample: "20240101"
        extensions:
          description: Extension fields of the record.
          type: dict
        cname_chain:
          description: CNAME targets followed, if any.
          type: list
          elements: str
        consistency:
          description:
            - With O(check_consistency=true) - the zone, each authoritative server's answer (C(ns), C(address), C(outcome),
              C(txt)), and C(consistent).
          type: dict
    policy:
      description: The policy host lookup and HTTPS fetch, and the parsed policy.
      type: dict
      contains:
        host:
          description: The policy host.
          type: str
          sample: mta-sts.example.org
        url:
          description: The policy URL.
          type: str
          sample: https://mta-sts.example.org/.well-known/mta-sts.txt
        dns:
          description: The address lookups of the policy host and the addresses found.
          type: dict
        address:
          description: The address the policy was fetched from.
          type: str
          sample: 192.0.2.10
        http_status:
          description: The HTTP status code.
          type: int
          sample: 200
        content_type:
          description: The Content-Type header.
          type: str
          sample: text/plain
        size:
          description: Bytes of the body after content decoding (read up to 64 KiB plus one chunk).
          type: int
          sample: 88
        certificate:
          description: The policy host's certificate.
          type: dict
          contains:
            subject:
              description: Subject distinguished name.
              type: str
            issuer:
              description: Issuer distinguished name.
              type: str
            not_after:
              description: Expiry, UTC, ISO 8601.
              type: str
              sample: "2027-01-01T00:00:00Z"
            days_left:
              description: Whole days until expiry.
              type: int
            san:
              description: DNS names of the certificate.
              type: list
              elements: str
        elapsed:
          description: Seconds the fetch took.
          type: float
        location:
          description: The redirect target, when the server answered with one.
          type: str
        last_modified:
          description: The C(Last-Modified) header of the policy, when the server sent one (O(planned_mx) reads it).
          type: str
          sample: "Wed, 02 Dec 2026 01:40:00 GMT"
        error:
          description: Why the fetch failed.
          type: str
        text:
          description: The policy text as served.
          type: str
          sample: "version: STSv1\nmode: enforce\nmx: mail.example.org\nmax_age: 604800\n"
        version:
          description: The parsed version.
          type: str
          sample: STSv1
        mode:
          description: The parsed mode.
          type: str
          sample: enforce
        max_age:
          description: The parsed max_age in seconds.
          type: int
          sample: 604800
        mx:
          description: The parsed mx patterns.
          type: list
          elements: str
          sample: [mail.example.org, "*.mx.example.net"]
    mx:
      description: The MX lookup and each MX host.
      type: dict
      contains:
        outcome:
          description: V(answer), V(nxdomain), V(nodata) or V(error).
          type: str
        null_mx:
          description: Whether the domain publishes a null MX.
          type: bool
        implicit:
          description: Whether the domain has no MX record, making the domain itself the MX.
          type: bool
        hosts:
          description: The MX hosts by preference.
          type: list
          elements: dict
          contains:
            host:
              description: MX host name.
              type: str
              sample: mail.example.org
            preference:
              description: MX preference.
              type: int
              sample: 10
            pattern:
              description: The policy mx pattern that covers the host, V(null) when none does or no policy was read.
              type: str
              sample: "*.example.org"
            tlsa:
              description: TLSA records at C(_25._tcp.<host>) (with O(check_dane=true)).
              type: list
              elements: str
            tls:
              description:
                - STARTTLS facts when O(check_mx_tls=true) - C(address), C(port), C(starttls), C(tls_version),
                  C(certificate), C(problem), C(error), C(elapsed).
              type: dict
    migration:
      description: The planned MX hosts of O(planned_mx) against the served policy.
      returned: when O(planned_mx) names hosts for the domain
      type: dict
      contains:
        planned_mx:
          description: The planned hosts, lower-case A-labels.
          type: list
          elements: str
          sample: [mx1.new-provider.example]
        covered:
          description: The planned hosts an mx pattern of the policy covers.
          type: list
          elements: str
        uncovered:
          description: The planned hosts no mx pattern covers.
          type: list
          elements: str
        covering_since:
          description: The policy host's C(Last-Modified), UTC ISO 8601, when every planned host is covered; else V(null).
          type: str
          sample: "2026-12-02T01:40:00Z"
        safe_after:
          description: RV(domains[].migration.covering_since) plus the policy's max_age - the earliest switch, a lower
            bound when max_age was longer before.
          type: str
          sample: "2026-12-09T01:40:00Z"
        safe_now:
          description: Whether the MX records may be switched now; V(null) when it cannot be told.
          type: bool
        basis:
          description: V(last-modified) when the times come from that header, else V(null).
          type: str
    tlsrpt:
      description: The TLS-RPT record at C(_smtp._tls.<domain>) (RFC 8460).
      type: dict
      contains:
        name:
          description: The name looked up.
          type: str
          sample: _smtp._tls.example.org
        outcome:
          description: V(answer), V(nxdomain), V(nodata) or V(error).
          type: str
        txt:
          description: TXT records seen.
          type: list
          elements: str
        rua:
          description: Report destinations of the valid record.
          type: list
          elements: str
          sample: ["mailto:tlsrpt@example.org"]
        reports:
          description: The O(tlsrpt_summary) entry of this domain, when one was given.
          type: dict
counts:
  description: Number of domains per status, as in RV(control.counts).
  returned: always
  type: dict
  sample: {"pass": 10, "fail": 2, "unknown": 0, "skipped": 1}
options:
  description:
    - The options the audit ran with, for reports (O(tlsrpt_summary) only as whether one was given).
  returned: always
  type: dict
  sample: {"nameservers": [], "dns_port": 53, "timeout": 10.0, "concurrency": 64, "require_mode": "testing"}
control:
  description:
    - The verdict of control EDCA-TLS-025 over all domains, with the control's metadata read from
      the collection's C(controls/EDCA-TLS-025.json).
    - V(fail) if any domain fails, else V(unknown) if any is unknown, else V(pass); V(skipped) when every domain was skipped.
  returned: always
  type: dict
  contains:
    id:
      description: Control id.
      type: str
      sample: EDCA-TLS-025
    title:
      description: Control title.
      type: str
      sample: Accepted domains publish valid MTA-STS policies
    severity:
      description: Control severity.
      type: str
      sample: Medium
    severity_weight:
      description: The control's severity weight.
      type: int
      sample: 7
    frameworks:
      description: Frameworks the control maps to.
      type: list
      elements: str
      sample: [Best Practice, NIS2, CISA, ISM]
    status:
      description: The control's verdict.
      type: str
      choices: [pass, fail, unknown, skipped]
    counts:
      description: Number of domains per status.
      type: dict
      sample: {"pass": 10, "fail": 2, "unknown": 0, "skipped": 1}
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailsec.mta_sts.plugins.module_utils.argspec import create_resolver_argument_spec
from ansible_collections.mailsec.mta_sts.plugins.module_utils.audit import AuditOptions, Auditor, count_statuses
from ansible_collections.mailsec.mta_sts.plugins.module_utils.lifeline import end_with_parent
from ansible_collections.mailsec.mta_sts.plugins.module_utils.migration import MigrationError, normalize_planned
from ansible_collections.mailsec.mta_sts.plugins.module_utils.resolver import HAS_DNSPYTHON
from ansible_collections.mailsec.mta_sts.plugins.module_utils.fetch import HAS_URLLIB3


def main():
    end_with_parent()  # ends with ansible-playbook, also after SIGKILL
    module = AnsibleModule(
        argument_spec=dict(
            create_resolver_argument_spec(),
            domains=dict(type='list', elements='raw', required=True),
            concurrency=dict(type='int', default=64),
            require_mode=dict(type='str', choices=['testing', 'enforce'], default='testing'),
            check_mx_tls=dict(type='bool', default=False),
            smtp_port=dict(type='int', default=25),
            cert_min_days=dict(type='int', default=14),
            check_dane=dict(type='bool', default=True),
            check_consistency=dict(type='bool', default=False),
            tlsrpt_summary=dict(type='dict'),
            allow_private_addresses=dict(type='bool', default=False),
            processes=dict(type='int', default=0),
            planned_mx=dict(type='raw'),
        ),
        supports_check_mode=True,
    )
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib('dnspython'))
    if not HAS_URLLIB3:
        module.fail_json(msg=missing_required_lib('urllib3 (installed with requests)'))
    params = module.params
    if params['ca_path'] and not os.path.isfile(params['ca_path']):
        module.fail_json(msg='ca_path %s is not a readable file; give a PEM bundle of CA certificates' % params['ca_path'])
    if params['timeout'] <= 0 or params['concurrency'] < 1 or params['processes'] < 0:
        module.fail_json(msg='timeout must be above 0, concurrency at least 1 and processes 0 or more')
    for port_option in ('dns_port', 'smtp_port'):
        if not 0 < params[port_option] < 65536:
            module.fail_json(msg='%s must be a port number from 1 to 65535' % port_option)

    try:
        planned_mx = normalize_planned(params['planned_mx'])
    except MigrationError as exc:
        module.fail_json(msg='%s; give planned_mx as a list of MX host names or a dict of domain to such a list' % exc)

    options = AuditOptions(
        nameservers=params['nameservers'], dns_port=params['dns_port'], ca_path=params['ca_path'],
        timeout=params['timeout'], concurrency=params['concurrency'], require_mode=params['require_mode'],
        check_mx_tls=params['check_mx_tls'], smtp_port=params['smtp_port'], cert_min_days=params['cert_min_days'],
        check_dane=params['check_dane'], check_consistency=params['check_consistency'],
        tlsrpt_summary=params['tlsrpt_summary'], allow_private_addresses=params['allow_private_addresses'],
        processes=params['processes'], planned_mx=planned_mx)
    try:
        auditor = Auditor(options)
    except (OSError, ValueError) as exc:  # an unreadable CA bundle, a nameserver that is not an address
        module.fail_json(msg='Cannot set up the audit: %s; check nameservers= and ca_path=' % exc)
    results = auditor.audit_domains(params['domains'])
    ran_with = dict((key, params[key]) for key in (
        'nameservers', 'dns_port', 'ca_path', 'timeout', 'concurrency', 'require_mode', 'check_mx_tls', 'smtp_port',
        'cert_min_days', 'check_dane', 'check_consistency', 'allow_private_addresses', 'processes'))
    ran_with['tlsrpt_summary'] = params['tlsrpt_summary'] is not None
    ran_with['planned_mx'] = planned_mx
    module.exit_json(changed=False, domains=results, counts=count_statuses(results), options=ran_with)


if __name__ == '__main__':
    main()
