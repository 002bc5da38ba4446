# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: tlsrpt_info
short_description: Summarise TLS-RPT aggregate reports (RFC 8460) - what sending MTAs saw - per domain and MX host
version_added: 0.1.0
description:
  - Reads SMTP TLS reports (RFC 8460) that sending MTAs mail to the address of a domain's TLS-RPT record, from files
    and directories (O(path)) and from an IMAP folder (O(imap_host)), and sums them per policy domain and per MX host -
    successful and failed sessions, failure types, reporting organizations and the dates covered.
  - A report is JSON (RFC 8460 section 4.4), optionally gzip'd, either as a file of its own or attached to a mail with
    media type C(application/tlsrpt+json) or C(application/tlsrpt+gzip) (section 5.3). A file may hold one report, one
    mail (C(.eml), a Maildir message) or an mbox of mails; directories are read recursively, and of a Maildir only
    C(cur) and C(new) (and Maildir++ subfolders) are read.
  - A report that does not follow the schema is counted and named in RV(malformed) (file or message, and why), never
    fatal; so is one nested deeper than the reader follows. Mail and files that hold no report are listed in
    RV(non_reports).
  - Every read is bounded by what is actually read - O(max_sources), O(max_bytes), O(max_seconds) for the run, one mail
    or file at a time in memory, a directory or file reached twice through links read once. What was left unread is
    named in RV(incomplete), and then no domain is RV(domains.ready).
  - Answers "may this domain switch its MTA-STS policy to mode C(enforce)?" with evidence - RV(domains) gives per domain
    C(ready) and the C(reasons) against it, and is what O(mailsec.mta_sts.audit#module:tlsrpt_summary) takes.
  - Read-only; the IMAP folder is opened read-only (C(EXAMINE), C(BODY.PEEK)), so no message is marked as read.
author:
  - mailsec.mta_sts contributors (@mailsec)
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.READ_ONLY
options:
  path:
    description:
      - Files and directories to read reports from, on the host the module runs on.
      - A path that does not exist fails the module; files that hold no report are listed in RV(non_reports).
    type: list
    elements: path
    default: []
  imap_host:
    description:
      - Name (or address) of the IMAP server to read reports from. The server certificate must be valid for this name.
      - Needs O(imap_username) and O(imap_password).
      - The module fails when the server cannot be reached, the TLS handshake or certificate check fails, the login is
        refused or O(imap_folder) does not exist - never silently with fewer reports.
      - Once the folder is open, a server that times out, drops the connection or sends more than was asked for (an
        endless stream of responses, a literal larger than the message) ends the IMAP read. The reports read so far
        are kept and the rest is named in RV(incomplete).
    type: str
  imap_port:
    description:
      - IMAP port. Defaults to 993 with O(imap_security=tls) and 143 with O(imap_security=starttls).
    type: int
  imap_security:
    description:
      - V(tls) connects with TLS from the first byte (IMAPS); V(starttls) connects in clear and upgrades with C(STARTTLS)
        before logging in. There is no unencrypted option, and the certificate is always checked.
    type: str
    choices: [tls, starttls]
    default: tls
  imap_username:
    description:
      - IMAP login name.
      - Marked C(no_log) - Ansible masks this value wherever it appears in the output, so a login name that is also
        part of a report's text shows as C(********) there.
    type: str
  imap_password:
    description:
      - IMAP password. Sent only after TLS is up; never returned or logged.
    type: str
  imap_folder:
    description:
      - The IMAP folder (mailbox) that receives the reports.
    type: str
    default: INBOX
  ca_path:
    description:
      - PEM bundle of CA certificates to trust for the IMAP server instead of the system trust store.
        Certificate checks are never switched off.
    type: path
  timeout:
    description:
      - Timeout in seconds of each IMAP network operation.
    type: float
    default: 30
  domains:
    description:
      - Only summarise these policy domains (any case, with or without the trailing dot, Unicode names). Each is listed
        in RV(domains), also when no report names it.
      - When empty, every policy domain the reports name is summarised.
    type: list
    elements: str
    default: []
  since:
    description:
      - Start of the date window - a number of days before now (V(30)), a date (V(2024-05-01), from 00:00 UTC) or an
        RFC 3339 date-time (V(2024-05-01T12:00:00Z)).
      - A report counts when the period of its C(date-range) overlaps the window.
      - With O(imap_host), only mail that arrived from the day before O(since) on is fetched.
    type: raw
  until:
    description:
      - End of the date window, in the same forms as O(since); a date includes that whole day (UTC).
    type: raw
  max_sources:
    description:
      - At most this many report files and mails are read in the run (files, mbox mails and IMAP messages together).
        The rest is named in RV(incomplete).
    type: int
    default: 100000
  max_bytes:
    description:
      - At most this many bytes are read in the run, counted as they are read (files and IMAP together). The rest is
        named in RV(incomplete).
    type: int
    default: 4294967296
  max_seconds:
    description:
      - The run stops reading after this many seconds; what was read is summarised and the rest named in
        RV(incomplete). Bounds also an IMAP server that sends slowly.
    type: float
    default: 900
notes:
  - RFC 8460 gives successful sessions per policy only; per MX host RV(domains.mx_hosts) therefore counts failed
    sessions (from C(failure-details) with a C(receiving-mx-hostname)). Failures without an MX host, such as
    C(sts-policy-fetch-error), count for the domain only.
  - The same report (same C(organization-name) and C(report-id)) read twice, for example from a directory and from
    IMAP, counts once (RV(duplicates)).
  - Result types are counted under the name the sender used; RFC 8460 registers C(starttls-not-supported),
    C(certificate-host-mismatch), C(certificate-expired), C(certificate-not-trusted), C(validation-failure),
    C(tlsa-invalid), C(dnssec-invalid), C(dane-required), C(sts-policy-fetch-error), C(sts-policy-invalid) and
    C(sts-webpki-invalid).
  - Schema rules applied - C(organization-name), C(report-id), C(date-range) (RFC 3339 C(start-datetime),
    C(end-datetime)) and C(policies) are required; each policy needs C(policy-type) (C(sts), C(tlsa) or
    C(no-policy-found)), C(policy-domain) and a C(summary) with both session counts as whole numbers; each failure
    detail needs C(result-type) and C(failed-session-count). A missing C(policy-domain) is taken from the mail's
    C(TLS-Report-Domain) header when there is one. Other fields are optional.
  - Reports larger than 20 MiB decompressed, files or mails larger than 50 MiB, JSON nested deeper than 64 levels and
    mails with more than 64 C(multipart) or C(message) parts are counted as malformed.
  - Directories are walked at most 32 levels deep; sockets, FIFOs and devices are skipped.
  - The module process ends when the C(ansible-playbook) that started it dies, also by C(SIGKILL) (see the TLS-RPT
    guide, "Processes").
seealso:
  - name: RFC 8460 - SMTP TLS Reporting
    description: The report format and how reports are mailed.
    link: https://www.rfc-editor.org/rfc/rfc8460
  - name: IANA STARTTLS Validation Result Types
    description: The registered failure types.
    link: https://www.iana.org/assignments/starttls-validation-result-types/starttls-validation-result-types.xhtml
  - module: mailsec.mta_sts.audit
'''

EXAMPLES = r'''
- name: Summarise the reports of the last 14 days in the TLS-RPT mailbox
  mailsec.mta_sts.tlsrpt_info:
    imap_host: imap.example.org
    imap_username: tlsrpt@example.org
    imap_password: "{{ vault_tlsrpt_password }}"
    imap_folder: INBOX
    domains: [example.org, example.net]
    since: 14
  register: tlsrpt

- name: Show which domains senders saw failures for
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.failed_sessions }} failed ({{ item.value.failure_types }})"
  loop: "{{ tlsrpt.domains | dict2items | rejectattr('value.ready') }}"

- name: Read reports saved as files (JSON, .json.gz, .eml, mbox or a Maildir), May 2024 only
  mailsec.mta_sts.tlsrpt_info:
    path:
      - /srv/tlsrpt/Maildir
      - /srv/tlsrpt/archive
    since: 2024-05-01
    until: 2024-05-31

- name: Feed what senders saw into the audit (enforce readiness)
  mailsec.mta_sts.audit:
    domains: [example.org, example.net]
    tlsrpt_summary: "{{ tlsrpt.domains }}"

- name: Read over STARTTLS on port 143 with a private CA
  mailsec.mta_sts.tlsrpt_info:
    imap_host: mail.internal.example
    imap_security: starttls
    imap_username: reports
    imap_password: "{{ vault_reports_password }}"
    ca_path: /etc/pki/internal-ca.pem
'''

RETURN = r'''
domains:
  description:
    - One entry per policy domain, keyed by the domain (lowercase A-labels, no trailing dot) - the domains of
      O(domains), or every domain the reports name.
  returned: always
  type: dict
  sample:
    example.org:
      domain: example.org
      reports: 2
      successful_sessions: 5326
      failed_sessions: 303
      failure_types: {certificate-expired: 100, starttls-not-supported: 200, validation-failure: 3}
      policy_types: {sts: {successful_sessions: 5326, failed_sessions: 303}}
      organizations: [Company-X]
      date_range: {start: "2024-05-01T00:00:00Z", end: "2024-05-02T23:59:59Z"}
      mx_patterns: ["*.mail.example.org"]
      mx_hosts:
        mx1.mail.example.org:
          failed_sessions: 100
          failure_types: {certificate-expired: 100}
          receiving_ips: []
          pattern: "*.mail.example.org"
      mx_hosts_not_covered: []
      malformed_reports: 0
      ready: false
      reasons: [tlsrpt-failures]
  contains:
    domain:
      description: The policy domain.
      type: str
      sample: example.org
    reports:
      description: How many reports in the window name this domain.
      type: int
      sample: 2
    successful_sessions:
      description: Sum of C(total-successful-session-count) over the domain's policies in those reports.
      type: int
      sample: 5326
    failed_sessions:
      description: Sum of C(total-failure-session-count) over the domain's policies in those reports.
      type: int
      sample: 303
    failure_types:
      description: Failed sessions per C(result-type) (sum of C(failed-session-count) of the failure details).
      type: dict
      sample: {certificate-expired: 100, sts-policy-fetch-error: 3}
    policy_types:
      description: Successful and failed sessions per C(policy-type) (V(sts), V(tlsa), V(no-policy-found)).
      type: dict
      sample: {sts: {successful_sessions: 5326, failed_sessions: 303}}
    organizations:
      description: The reporting organizations (C(organization-name)).
      type: list
      elements: str
      sample: [Google Inc., Microsoft Corporation]
    date_range:
      description: Earliest C(start-datetime) and latest C(end-datetime) of those reports (UTC); V(null) without reports.
      type: dict
      sample: {start: "2024-05-01T00:00:00Z", end: "2024-05-02T23:59:59Z"}
    mx_patterns:
      description: The C(mx-host) patterns of the policies senders applied.
      type: list
      elements: str
      sample: ["*.mail.example.org"]
    mx_hosts:
      description:
        - Failed sessions per MX host (C(receiving-mx-hostname), lowercase), keyed by host, each with
          C(failed_sessions), C(failure_types), C(receiving_ips) (C(receiving-ip) values) and C(pattern) - the pattern
          of RV(domains.mx_patterns) that covers the host (RFC 8461 section 4.1), or V(null).
      type: dict
    mx_hosts_not_covered:
      description: MX hosts senders failed at that no pattern of RV(domains.mx_patterns) covers.
      type: list
      elements: str
      sample: [mx3.example.org]
    malformed_reports:
      description: Malformed reports that name this domain (RV(malformed)).
      type: int
      sample: 0
    ready:
      description:
        - True when reports in the window cover the domain, none reports a failed session and none naming the domain
          was malformed - the TLS-RPT part of "ready for mode C(enforce)".
      type: bool
      sample: false
    reasons:
      description:
        - Stable codes of what keeps RV(domains.ready) false.
        - C(tlsrpt-failures) - senders reported failed sessions. Read RV(domains.failure_types) and RV(domains.mx_hosts)
          and fix the MX hosts (certificate, STARTTLS) or the policy before enforcing.
        - C(tlsrpt-no-reports) - no report in the window names the domain. Check that the TLS-RPT record
          (C(_smtp._tls.<domain>)) is published and wait for reports, or widen O(since).
        - C(tlsrpt-malformed) - a report naming the domain could not be read (RV(malformed)). Look at it by hand.
        - C(tlsrpt-incomplete) - not every source was read (RV(incomplete)); held against every domain, since what was
          not read may report failures. Raise the bound named there or fix the source.
      type: list
      elements: str
      sample: [tlsrpt-failures]
successful_sessions:
  description: Successful sessions over every counted report (after the O(domains) filter).
  returned: always
  type: int
  sample: 5326
failed_sessions:
  description: Failed sessions over every counted report (after the O(domains) filter).
  returned: always
  type: int
  sample: 303
failure_types:
  description: Failed sessions per result type over every counted report.
  returned: always
  type: dict
  sample: {certificate-expired: 100}
reports:
  description: How many distinct reports were counted (in the window and naming a wanted domain).
  returned: always
  type: int
  sample: 12
duplicates:
  description: Reports read more than once (same C(organization-name) and C(report-id)), counted once.
  returned: always
  type: int
  sample: 0
outside_window:
  description: Reports whose C(date-range) lies outside the O(since) / O(until) window.
  returned: always
  type: int
  sample: 3
organizations:
  description: The reporting organizations of the counted reports.
  returned: always
  type: list
  elements: str
  sample: [Google Inc.]
date_range:
  description: Earliest start and latest end of the counted reports (UTC); V(null) without reports.
  returned: always
  type: dict
  sample: {start: "2024-05-01T00:00:00Z", end: "2024-05-14T23:59:59Z"}
window:
  description: The date window applied, as UTC date-times; V(null) for an open end.
  returned: always
  type: dict
  sample: {since: "2024-05-01T00:00:00Z", until: null}
malformed_count:
  description: How many reports could not be read.
  returned: always
  type: int
  sample: 1
malformed:
  description: The reports that could not be read.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description:
        - Where the report came from - a file path, C(path[n]) for the n-th mail of an mbox, or
          C(imap://host:port/folder;UIDVALIDITY=v/;UID=u) (RFC 5092) for a message on the IMAP server, with
          C((part n)) when a mail carries several reports.
      type: str
      sample: /srv/tlsrpt/Maildir/cur/1715000000.M1.host:2,S
    message_id:
      description: The Message-ID of the mail, when the report came in a mail.
      type: str
      sample: <735ff.e317+bf22029@mail.sender.example>
    reason:
      description: Why the report is malformed, naming the field.
      type: str
      sample: "policies[0].summary.total-failure-session-count is missing or not a whole number >= 0"
    domains:
      description: Policy domains the report names, as far as they could be read.
      type: list
      elements: str
      sample: [example.org]
incomplete:
  description:
    - What was not read, and why - a bound (O(max_sources), O(max_bytes), O(max_seconds)) was reached, a directory
      could not be listed, or the IMAP server timed out, dropped the connection or sent more than was asked for.
    - Empty when every source was read in full.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: Where reading stopped, in the form of RV(malformed[].source).
      type: str
      sample: imap://imap.example.org:993/INBOX;UIDVALIDITY=1715000000/;UID=212
    reason:
      description: Why, and how much was left unread.
      type: str
      sample: the server sent more than 16777216 bytes in answer to one command; 3 of 40 message(s) were not read
non_reports:
  description: Files and mails read that hold no report (for example other mail in the mailbox).
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: Where, in the form of RV(malformed[].source).
      type: str
    message_id:
      description: The Message-ID of the mail, if any.
      type: str
    reason:
      description: Why it holds no report.
      type: str
      sample: mail without a TLS-RPT report (no application/tlsrpt+json or application/tlsrpt+gzip part)
sources_read:
  description: How many report files and mails were read.
  returned: always
  type: int
  sample: 14
'''

import datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailsec.mta_sts.plugins.module_utils.fetch import tls_client_context
from ansible_collections.mailsec.mta_sts.plugins.module_utils.lifeline import end_with_parent
from ansible_collections.mailsec.mta_sts.plugins.module_utils.tlsrpt import (
    IMAP_SECURITY, MAX_RUN_BYTES, MAX_RUN_SECONDS, MAX_SOURCES, ReadBudget, TlsrptSourceError, load_reports,
    normalize_domains, read_imap, summarize_reports, window_bound)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='list', elements='path', default=[]),
            imap_host=dict(type='str'),
            imap_port=dict(type='int'),
            imap_security=dict(type='str', choices=list(IMAP_SECURITY), default='tls'),
            imap_username=dict(type='str', no_log=True),
            imap_password=dict(type='str', no_log=True),
            imap_folder=dict(type='str', default='INBOX'),
            ca_path=dict(type='path'),
            timeout=dict(type='float', default=30.0),
            domains=dict(type='list', elements='str', default=[]),
            since=dict(type='raw'),
            until=dict(type='raw'),
            max_sources=dict(type='int', default=MAX_SOURCES),
            max_bytes=dict(type='int', default=MAX_RUN_BYTES),
            max_seconds=dict(type='float', default=MAX_RUN_SECONDS),
        ),
        required_by=dict(imap_host=['imap_username', 'imap_password']),
        supports_check_mode=True,
    )
    end_with_parent()
    params = module.params
    if not params['path'] and not params['imap_host']:
        module.fail_json(msg='Nothing to read: give path (files or directories), imap_host, or both')
    if params['timeout'] <= 0 or params['imap_port'] is not None and not 0 < params['imap_port'] < 65536:
        module.fail_json(msg='timeout must be above 0 and imap_port from 1 to 65535')
    if params['max_sources'] < 1 or params['max_bytes'] < 1 or params['max_seconds'] <= 0:
        module.fail_json(msg='max_sources, max_bytes and max_seconds must be above 0')
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        since = window_bound(params['since'], now)
        until = window_bound(params['until'], now, end_of_day=True)
    except ValueError as exc:
        module.fail_json(msg='since/until: %s; give a number of days, a date YYYY-MM-DD or an RFC 3339 date-time' % exc)
    try:
        domains = normalize_domains(params['domains']) or None
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    context = None
    if params['imap_host']:
        try:
            context = tls_client_context(params['ca_path'])
        except (OSError, ValueError) as exc:
            module.fail_json(msg='Cannot load ca_path %s: %s; give a PEM bundle of CA certificates' % (params['ca_path'], exc))

    budget = ReadBudget(params['max_sources'], params['max_bytes'], params['max_seconds'])
    try:
        found = load_reports(params['path'], budget)
        if params['imap_host']:
            found.extend(read_imap(
                params['imap_host'], params['imap_username'], params['imap_password'], port=params['imap_port'],
                security=params['imap_security'], folder=params['imap_folder'], timeout=params['timeout'],
                since=since, ssl_context=context, budget=budget))
    except TlsrptSourceError as exc:
        module.fail_json(msg=str(exc))
    summary = summarize_reports(found.reports, domains=domains, since=since, until=until, malformed=found.malformed,
                                now=now, incomplete=found.incomplete)
    module.exit_json(changed=False, non_reports=found.non_reports, sources_read=found.sources_read, **summary)


if __name__ == '__main__':
    main()
