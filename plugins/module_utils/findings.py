# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The catalog of finding codes: one place for every code the audit can report.

Pure Python, no Ansible imports. docs/docsite/rst/finding_codes.rst is generated from it
(``make finding-docs``; a unit test checks the page is current), and the reports take their titles,
remediation hints and links to that page from here.

Each code has an ``effect`` on the verdict of its domain:

* ``fail``    - the domain does not meet EDCA-TLS-025.
* ``unknown`` - a lookup the verdict needs got no authoritative answer.
* ``warn``    - the domain passes, with something to fix.
* ``info``    - evidence worth showing, no effect.
* ``skip``    - the domain accepts no mail; the control does not apply.
"""

import json

# code: (effect, short title, what to do)
CATALOG = {
    # Input
    'domain-invalid': ('fail', 'The input is not a valid domain name, or one too long for an _mta-sts record',
                       'Fix the entry in the list of accepted domains (labels of at most 63 octets, at most 244 '
                       'octets in all so that _mta-sts.<domain> fits in the 253 a DNS name can have).'),
    'domain-nxdomain': ('fail', 'The domain does not exist in DNS (NXDOMAIN)',
                        'Remove the domain from the list of accepted domains, or publish its zone.'),
    'audit-error': ('unknown', 'The audit of this domain stopped on an unexpected error',
                    'Rerun; if it persists, report the message as a bug of mailsec.mta_sts.'),
    'audit-timeout': ('unknown', 'The audit of this domain did not finish within its hard limit',
                      'A server held a connection open past every timeout; rerun, and check the domain\'s servers.'),
    # DNS: the _mta-sts TXT record (RFC 8461 section 3.1)
    'txt-missing': ('fail', 'No TXT record beginning with "v=STSv1;" at _mta-sts.<domain>',
                    'Publish "v=STSv1; id=<id>;" at _mta-sts.<domain>, after the policy is online; begin it with '
                    'exactly "v=STSv1;" (no space before the semicolon).'),
    'txt-multiple': ('fail', 'More than one v=STSv1 TXT record at _mta-sts.<domain>',
                     'Keep exactly one v=STSv1 record; senders ignore the domain otherwise.'),
    'txt-invalid': ('fail', 'The v=STSv1 TXT record does not follow the RFC 8461 grammar',
                    'Publish "v=STSv1; id=<1-32 letters or digits>;".'),
    'txt-field-duplicate': ('warn', 'A field of the v=STSv1 TXT record appears more than once; senders use the first',
                            'Keep one id (and one of each other field); senders ignore every repeat '
                            '(RFC 8461 section 3.2).'),
    'txt-lookup-failed': ('unknown', 'The _mta-sts TXT lookup got no authoritative answer',
                          'Check the domain\'s nameservers (SERVFAIL, REFUSED or timeout).'),
    'txt-inconsistent': ('warn', 'The domain\'s authoritative nameservers give different _mta-sts records',
                         'Bring every nameserver up to date; a stale one keeps some senders on the old policy id.'),
    'txt-consistency-unknown': ('info', 'The authoritative nameservers could not all be asked for _mta-sts',
                                'Check that every NS host of the zone resolves and answers.'),
    'ns-private-address': ('info', 'An NS host of the zone resolves to a private or special-purpose address',
                           'Publish public addresses for the zone\'s nameservers; the audit did not ask this one.'),
    'txt-ignored': ('info', 'TXT records at _mta-sts.<domain> that do not begin with "v=STSv1;" were ignored',
                    'Remove records that are not MTA-STS records from _mta-sts.<domain>; an MTA-STS record must '
                    'begin with exactly "v=STSv1;" (RFC 8461 section 3.1), so "v=STSv1 ;" or "v=STSv1" alone '
                    'is discarded by senders.'),
    # HTTPS: fetching the policy (RFC 8461 section 3.3)
    'policy-host-missing': ('fail', 'mta-sts.<domain> has no address record',
                            'Publish A/AAAA (or a CNAME) for mta-sts.<domain> pointing at the policy web server.'),
    'policy-host-lookup-failed': ('unknown', 'The address lookup of mta-sts.<domain> got no authoritative answer',
                                  'Check the domain\'s nameservers (SERVFAIL, REFUSED or timeout).'),
    'policy-host-private-address': ('fail', 'mta-sts.<domain> resolves to a private or special-purpose address',
                                    'Point mta-sts.<domain> at public addresses only; senders on the internet cannot '
                                    'reach loopback, private or link-local ones. The audit did not contact it '
                                    '(allow_private_addresses=true audits labs and split-horizon set-ups).'),
    'policy-connect-failed': ('fail', 'The policy host refused or dropped the HTTPS connection',
                              'Make the web server listen on port 443 of every address of mta-sts.<domain>.'),
    'policy-timeout': ('fail', 'The policy download did not finish within the timeout',
                       'Make the policy host answer quickly; senders give up as well.'),
    'policy-cert-expired': ('fail', 'The policy host\'s certificate has expired',
                            'Renew the certificate of mta-sts.<domain>.'),
    'policy-cert-name-mismatch': ('fail', 'The policy host\'s certificate is not valid for mta-sts.<domain>',
                                  'Serve a certificate whose subjectAltName covers mta-sts.<domain> (SNI).'),
    'policy-cert-untrusted': ('fail', 'The policy host\'s certificate does not chain to a trusted CA',
                              'Use a certificate from a public CA and serve the full chain.'),
    'policy-cert-expiring': ('warn', 'The policy host\'s certificate expires within cert_min_days',
                             'Renew the certificate of mta-sts.<domain> before senders fail to fetch the policy.'),
    'policy-tls-error': ('fail', 'The TLS handshake with the policy host failed',
                         'Offer TLS 1.2 or newer with a valid certificate on mta-sts.<domain>:443.'),
    'policy-redirect': ('fail', 'The policy URL answered with a redirect',
                        'Serve the policy directly with HTTP 200; senders do not follow redirects.'),
    'policy-http-status': ('fail', 'The policy URL did not answer HTTP 200',
                           'Serve /.well-known/mta-sts.txt with status 200.'),
    'policy-content-type': ('fail', 'The policy is not served as text/plain',
                            'Serve the policy with "Content-Type: text/plain".'),
    'policy-too-large': ('fail', 'The policy is larger than 64 KiB',
                         'Keep the policy small; senders stop reading at 64 KiB.'),
    'policy-content-encoding': ('fail', 'The policy was sent with a Content-Encoding the request did not offer',
                                'Serve the policy uncompressed, or gzip/deflate only when the request offers it.'),
    'policy-http-error': ('fail', 'The policy host sent an invalid HTTP response',
                          'Fix the web server serving mta-sts.<domain>.'),
    # Policy syntax (RFC 8461 section 3.2)
    'policy-syntax': ('fail', 'A policy line is not "key: value"',
                      'Write one "key: value" per line, the key at the start of the line and directly followed by '
                      '":", lines ended by LF or CRLF.'),
    'policy-blank-line': ('fail', 'The policy has an empty or whitespace-only line, or more than one line ending '
                                  'at its end',
                          'Remove the lines the message names; end the last line with at most one LF or CRLF. '
                          'Senders such as mox, go-mtasts and postfix-tlspol discard such a policy '
                          '(RFC 8461 section 3.2).'),
    'policy-encoding': ('fail', 'The policy is not valid UTF-8 text',
                        'Serve the policy as plain ASCII/UTF-8 text.'),
    'policy-version-invalid': ('fail', 'The policy has no "version: STSv1"',
                               'Begin the policy with "version: STSv1".'),
    'policy-mode-invalid': ('fail', 'The policy mode is missing or not one of enforce, testing, none',
                            'Set "mode: testing" (then "enforce" when reports are clean).'),
    'policy-max-age-invalid': ('fail', 'max_age is missing, not digits only, or above 31557600',
                               'Set "max_age:" to whole seconds between 86400 and 31557600.'),
    'policy-mx-missing': ('fail', 'The policy lists no mx pattern',
                          'Add one "mx:" line per MX host or pattern (*.example.org).'),
    'policy-mx-invalid': ('fail', 'An mx pattern is not a host name or a "*." wildcard',
                          'Write mx patterns as host names in A-labels (xn--...), or "*." followed by one '
                          '(RFC 8461 section 3.2 forbids U-labels).'),
    'policy-field-duplicate': ('warn', 'version, mode or max_age appears more than once; senders use the first',
                               'Keep one version, one mode and one max_age line; senders ignore every repeat '
                               '(RFC 8461 section 3.2), so the first value is the one in force.'),
    'policy-mode-none': ('fail', 'The policy mode is "none": MTA-STS is switched off',
                         'Publish mode testing, then enforce.'),
    'policy-mode-testing': ('warn', 'The policy is in testing mode: senders report but still deliver',
                            'Switch to "mode: enforce" once TLS-RPT shows no failures.'),
    'policy-max-age-short': ('warn', 'max_age is under one day',
                             'Raise max_age (one week or more) once the policy is stable.'),
    # MX hosts (RFC 8461 section 4.1)
    'mx-null': ('skip', 'The domain publishes a null MX (RFC 7505) and accepts no mail',
                'Nothing to do: the control does not apply to a domain that accepts no mail.'),
    'mx-implicit': ('info', 'The domain has no MX record; its own name is the implicit MX',
                    'Publish MX records for the domain.'),
    'mx-lookup-failed': ('unknown', 'The MX lookup got no authoritative answer',
                         'Check the domain\'s nameservers (SERVFAIL, REFUSED or timeout).'),
    'mx-not-covered': ('fail', 'An MX host matches no mx pattern of the policy',
                       'Add the MX host (or a matching "*." pattern) to the policy before enforcing.'),
    'mx-starttls-missing': ('fail', 'An MX host does not offer STARTTLS',
                            'Enable STARTTLS on every MX host.'),
    'mx-cert-invalid': ('fail', 'An MX host\'s certificate is not valid for its name (RFC 8461 section 4)',
                        'Serve a certificate from a trusted CA, valid for the MX host name.'),
    'mx-cert-expiring': ('warn', 'An MX host\'s certificate expires within cert_min_days',
                         'Renew the MX host\'s certificate before senders in enforce mode refuse it.'),
    'mx-dane-tlsa': ('info', 'An MX host publishes TLSA records (DANE, RFC 7672)',
                     'Nothing to do: senders that support DANE apply it before MTA-STS (RFC 8461 section 2).'),
    'mx-private-address': ('fail', 'An MX host resolves to a private or special-purpose address',
                           'Publish public addresses for every MX host; the audit did not contact this one '
                           '(allow_private_addresses=true audits labs and split-horizon set-ups).'),
    'mx-connect-failed': ('fail', 'An MX host could not be reached on the SMTP port',
                          'Make every MX host accept SMTP connections.'),
    'mx-tls-error': ('fail', 'The STARTTLS handshake with an MX host failed',
                     'Offer TLS 1.2 or newer on every MX host.'),
    'mx-host-missing': ('fail', 'An MX host name has no address record',
                        'Publish A/AAAA records for every MX host, or remove the MX record.'),
    # MX migration: planned MX hosts (audit option planned_mx; RFC 8461 sections 3.3, 4.1, 5.1)
    'mx-planned-not-covered': ('warn', 'A planned MX host matches no mx pattern of the published policy',
                               'Publish a policy that lists the current and the planned MX hosts, with a new id; switch '
                               'the MX records only max_age after it was announced.'),
    'mx-planned-wait': ('warn', 'The policy covers the planned MX hosts, but senders may still hold the previous policy',
                        'Wait until the time in the message (the policy\'s max_age after it was first served) before '
                        'switching the MX records.'),
    'mx-planned-since-unknown': ('warn', 'The policy covers the planned MX hosts; since when cannot be told',
                                 'Switch the MX records no earlier than max_age after the covering policy was '
                                 'announced (the deploy role records that time).'),
    'mx-planned-ready': ('info', 'The policy has covered the planned MX hosts for at least its max_age',
                         'Nothing to wait for: the MX records may be switched to the planned hosts.'),
    'mx-planned-unchecked': ('info', 'No valid policy in mode enforce or testing was read to judge the planned MX hosts',
                             'Fix the policy findings first; then audit the planned MX hosts again.'),
    # TLS reporting (RFC 8460)
    'tlsrpt-missing': ('warn', 'No TLS-RPT record at _smtp._tls.<domain>',
                       'Publish "v=TLSRPTv1; rua=mailto:..." to receive reports from senders.'),
    'tlsrpt-invalid': ('warn', 'The TLS-RPT record is outside the RFC 8460 grammar or there is more than one',
                       'Publish exactly one record beginning with "v=TLSRPTv1;", with rua=mailto:... or '
                       'rua=https://... ("," and "!" in URIs percent-encoded) and extensions as name=value.'),
    'tlsrpt-reported-failures': ('warn', 'TLS-RPT reports from senders show failed sessions for the domain',
                                 'Read the failure types in the reports and fix them before switching to enforce.'),
    'tlsrpt-lookup-failed': ('info', 'The TLS-RPT lookup got no authoritative answer',
                             'Check the domain\'s nameservers.'),
}

# The docs page groups the codes by what they check; DETAILS adds what a code's title and hint do not say
# (reStructuredText, shown only on that page).
SECTIONS = (
    {'title': 'Input and the audit itself', 'intro': '',
     'codes': ('domain-invalid', 'domain-nxdomain', 'audit-error', 'audit-timeout')},
    {'title': 'The _mta-sts TXT record', 'intro': 'The rules come from :RFC:`8461#section-3.1`.',
     'codes': ('txt-missing', 'txt-multiple', 'txt-invalid', 'txt-lookup-failed', 'txt-inconsistent',
               'txt-consistency-unknown', 'ns-private-address', 'txt-ignored', 'txt-field-duplicate')},
    {'title': 'Fetching the policy over HTTPS', 'intro': 'The rules come from :RFC:`8461#section-3.3`.',
     'codes': ('policy-host-missing', 'policy-host-lookup-failed', 'policy-host-private-address',
               'policy-connect-failed', 'policy-timeout',
               'policy-cert-expired', 'policy-cert-name-mismatch', 'policy-cert-untrusted', 'policy-cert-expiring',
               'policy-tls-error', 'policy-redirect', 'policy-http-status', 'policy-content-type',
               'policy-content-encoding', 'policy-too-large', 'policy-http-error')},
    {'title': 'The policy text', 'intro': 'The rules come from :RFC:`8461#section-3.2`.',
     'codes': ('policy-syntax', 'policy-blank-line', 'policy-encoding', 'policy-version-invalid', 'policy-mode-invalid',
               'policy-max-age-invalid', 'policy-mx-missing', 'policy-mx-invalid', 'policy-field-duplicate',
               'policy-mode-none', 'policy-mode-testing', 'policy-max-age-short')},
    {'title': 'MX hosts', 'intro': 'The rules come from :RFC:`8461#section-4` and, for null MX, :RFC:`7505`.',
     'codes': ('mx-null', 'mx-implicit', 'mx-lookup-failed', 'mx-not-covered', 'mx-starttls-missing',
               'mx-cert-invalid', 'mx-cert-expiring', 'mx-dane-tlsa', 'mx-connect-failed', 'mx-private-address',
               'mx-tls-error', 'mx-host-missing')},
    {'title': 'MX migration (planned MX hosts)',
     'intro': 'Only with the audit option ``planned_mx``. The rules come from :RFC:`8461#section-3.3` (senders cache a '
              'policy up to its max_age), :RFC:`8461#section-4.1` (pattern matching) and :RFC:`8461#section-5.1`. '
              'The guide ``docs/lifecycle-mx-migration.md`` gives the whole procedure.',
     'codes': ('mx-planned-not-covered', 'mx-planned-wait', 'mx-planned-since-unknown', 'mx-planned-ready',
               'mx-planned-unchecked')},
    {'title': 'TLS reporting', 'intro': 'The rules come from :RFC:`8460`.',
     'codes': ('tlsrpt-missing', 'tlsrpt-invalid', 'tlsrpt-reported-failures', 'tlsrpt-lookup-failed')},
)

DETAILS = {
    'domain-nxdomain': ('The domain itself is NXDOMAIN (RFC 8020: then no name below it exists either), so this one root '
                        'cause is reported instead of ``mx-implicit``, ``txt-missing`` and the rest; no host of the '
                        'domain is contacted. ``mx-implicit`` is reported only for a domain that exists and has no MX.'),
    'policy-host-private-address': ('The address is named in the message (loopback, link-local, RFC 1918, RFC 4193, '
                                    'unspecified, multicast or another RFC 6890 range, also as IPv4 inside an '
                                    'IPv4-mapped, NAT64 or 6to4 address). It is not contacted: DNS must not steer the '
                                    'audit at internal services. When another address of the host was fetched from, '
                                    'the finding is a warning. The module option ``allow_private_addresses`` lifts '
                                    'this for labs and split-horizon set-ups; see its risk in the module documentation.'),
    'mx-private-address': ('Only with ``check_mx_tls``: the address is not contacted for STARTTLS, as for '
                           '``policy-host-private-address``. Fails only a domain in mode ``enforce``, warns otherwise, '
                           'and makes the domain not ready for enforce.'),
    'ns-private-address': ('Only with ``check_consistency``: the nameserver address is not asked; it appears in the '
                           'consistency evidence as not asked.'),
    'domain-invalid': 'The entry is reported as given, with status fail, and no lookup is made; the other entries go on.',
    'audit-timeout': 'Each lookup and connection has its own deadline (``timeout``); this is the hard limit over the '
                     'whole domain, so one hostile server cannot hold the run.',
    'txt-missing': 'Without the record, senders never look for a policy: MTA-STS is off for the domain. NXDOMAIN and '
                   'NODATA are answers, so they fail rather than being unknown.',
    'txt-multiple': 'RFC 8461 section 3.1: when there is more than one ``v=STSv1`` record, senders treat the domain as '
                    'having none.',
    'txt-invalid': 'The ``id`` must be 1 to 32 letters and digits; change it every time the policy changes, because '
                   'senders only refetch the policy when the id changes.',
    'txt-lookup-failed': 'SERVFAIL, REFUSED or a timeout is not an answer: the domain is reported unknown, never pass '
                         'or fail, and the control is unknown unless another domain fails.',
    'txt-inconsistent': 'Only checked with ``check_consistency``: every authoritative nameserver of the zone is asked '
                        'directly.',
    'policy-host-missing': 'The policy host is always ``mta-sts.<domain>`` - it cannot be moved elsewhere with the TXT '
                           'record.',
    'policy-cert-expired': 'Senders must validate the policy host certificate (RFC 8461 section 3.3); an expired one '
                           'makes the policy unreachable and, once cached policies expire, switches MTA-STS off.',
    'policy-cert-name-mismatch': 'The certificate must be valid for ``mta-sts.<domain>`` through SNI; a wildcard for '
                                 '``*.<domain>`` is fine. Only subjectAltName DNS names count (DNS-ID, RFC 9525): a '
                                 'certificate that names the host only in its subject CN fails, as it does for senders '
                                 'built on Go\'s ``crypto/tls``; the message says so and the evidence lists the names.',
    'policy-cert-expiring': 'The threshold is the audit option ``cert_min_days`` (14 days by default). The domain still '
                            'passes but is not ready for enforce.',
    'policy-redirect': 'RFC 8461 section 3.3: senders must not follow redirects.',
    'policy-content-type': 'RFC 8461 section 3.2: the media type is ``text/plain``; a ``charset`` parameter is allowed.',
    'policy-too-large': 'Senders may stop reading at 64 KiB, so a larger policy is not read reliably.',
    'policy-content-encoding': 'The audit sends ``Accept-Encoding: gzip, deflate`` and decodes those (at most 64 KiB of '
                               'text, and a bounded compressed read); another encoding (``br``, ``zstd``, ...) is one '
                               'a sender may not decode (RFC 9110 section 8.4). The header is in the evidence.',
    'policy-http-error': 'Interim responses (``100 Continue``, ``103 Early Hints``, ...) before the final one are read '
                         'past as RFC 9110 section 15.2 requires, up to 8 of them. The message says what went wrong in '
                         'words; what the HTTP parser reported is in the evidence as ``error_detail``.',
    'policy-mode-none': 'Mode ``none`` tells senders to forget the policy; it is meant for withdrawing MTA-STS, not for '
                        'a deployed domain.',
    'policy-mode-testing': 'Passes with a warning by default. With ``require_mode: enforce`` '
                           '(``mailsec_mta_sts_require_mode``) it fails the domain.',
    'policy-max-age-short': 'A short ``max_age`` means the policy protects only briefly against a downgrade of DNS; '
                            'RFC 8461 suggests weeks.',
    'mx-null': 'RFC 7505 ``MX 0 .``: the domain accepts no mail, so EDCA-TLS-025 does not apply. The domain is skipped '
               'and left out of the score.',
    'mx-implicit': 'RFC 5321 section 5.1: with no MX record the domain itself receives mail, and the policy must list it.',
    'mx-not-covered': 'In mode ``enforce`` a sender refuses to deliver to an MX host no pattern matches, so this fails; '
                      'in mode ``testing`` it is a warning. ``*.example.org`` matches exactly one label '
                      '(``mx1.example.org``, not ``a.b.example.org`` nor ``example.org``).',
    'mx-starttls-missing': 'Only checked with ``check_mx_tls``; fails in mode ``enforce``, warns in mode ``testing``.',
    'mx-cert-invalid': 'Only checked with ``check_mx_tls``. It fails in mode ``enforce`` (senders refuse the host) and '
                       'warns in mode ``testing``. As for the policy host, only subjectAltName DNS names count, never '
                       'the subject CN.',
    'mx-cert-expiring': 'Only checked with ``check_mx_tls``; the threshold is ``cert_min_days``.',
    'mx-connect-failed': 'Only checked with ``check_mx_tls``; fails in mode ``enforce``, warns in mode ``testing``.',
    'mx-tls-error': 'Only checked with ``check_mx_tls``; fails in mode ``enforce``, warns in mode ``testing``.',
    'mx-host-missing': 'Only checked with ``check_mx_tls``.',
    'mx-planned-not-covered': (
        'A sender with a cached policy in mode ``enforce`` refuses to deliver to an MX host no pattern matches '
        '(RFC 8461 section 4.1: ``*.example.org`` matches exactly one label), until the cached policy expires. '
        'Planned hosts are judged against the policy served now, not against the live MX records; the domain\'s '
        'verdict does not change.'),
    'mx-planned-wait': (
        'The audit keeps no state: "covering since" is the ``Last-Modified`` header of the policy host (nginx and '
        'Apache send the file\'s modification time), and the wait is the current policy\'s ``max_age``, taken as '
        'the previous policy\'s. When the previous policy had a longer ``max_age``, or the web server sends another '
        'time, the real time is later. The deploy role knows the announcement times and the previous ``max_age`` '
        'from its state file and reports the exact time.'),
    'mx-planned-since-unknown': 'The policy host sent no ``Last-Modified`` header, or one that is not an HTTP-date.',
    'mx-planned-ready': 'Evidence in ``migration`` of the domain\'s result: ``covering_since``, ``safe_after``.',
    'tlsrpt-missing': 'TLS-RPT is not part of the verdict, but without it nobody hears about senders that cannot '
                      'deliver - which is how to know when ``enforce`` is safe.',
    'tlsrpt-reported-failures': 'Only when the audit is given a summary of received TLS-RPT reports (``tlsrpt_summary``).',
    'txt-field-duplicate': (
        'RFC 8461 section 3.2 asks parsers of the TXT record and of the policy to ignore every repeat of a '
        'field but the first; a second ``id`` does not make the record invalid, but senders that read it '
        'another way may disagree on the policy id, so keep one.'),
    'txt-ignored': (
        'Only a record beginning with exactly ``v=STSv1;`` counts (RFC 8461 section 3.1). The ABNF would '
        'allow a space before the semicolon, but senders apply the sentence "records that do not begin with '
        'v=STSv1; are discarded" (erratum 6285 reports the conflict), so ``v=STSv1 ; id=1``, ``v=STSv1`` '
        'alone and ``v=STSv10; id=1`` are discarded; the message names each record and what to change. When '
        'nothing else is left, ``txt-missing`` fails the domain.'),
    'policy-blank-line': (
        'The ABNF of RFC 8461 section 3.2 (``sts-policy-record = sts-policy-field *WSP *(sts-policy-term '
        'sts-policy-field *WSP) [sts-policy-term]``, ``sts-policy-term = LF / CRLF``) allows no empty or '
        'whitespace-only line and at most one line ending after the last field. mox, go-mtasts and '
        'postfix-tlspol discard such a policy, so the domain is not protected by them. The message gives the '
        'line numbers to remove.'),
    'policy-mx-invalid': (
        'RFC 8461 section 3.2: "the mx value MUST specify the Punycode-encoded A-label ... and not the '
        'Unicode-encoded U-label"; the message gives the A-label form to write. The deploy role\'s renderer '
        '(``mailsec.mta_sts.policy``) converts U-labels itself.'),
    'policy-field-duplicate': (
        'RFC 8461 section 3.2: "If any non-repeated field -- i.e., all fields excepting mx -- is duplicated, '
        'all entries except for the first SHALL be ignored." The policy stays valid and the first value is '
        'the one in force (``mode: none`` first means the policy is in mode none); the message names the '
        'lines senders ignore. A repeat whose value is itself invalid (``mode: strict``) fails with that '
        "field's code, because senders such as mox reject the policy then."),
    'tlsrpt-invalid': (
        'Checked against the ABNF of :RFC:`8460#section-3`: the record begins with exactly ``v=TLSRPTv1;``, '
        'fields are separated by ``;`` (spaces and tabs around it allowed, nowhere else), every ``rua`` URI '
        'is ``mailto:`` or ``https://`` without a raw ``,`` or ``!``, extension names are a letter or digit '
        'then up to 31 letters, digits, ``_``, ``-``, ``.``, and values are visible ASCII other than ``=`` '
        'and ``;``. The ABNF allows ``rua`` more than once; the URIs of every ``rua`` field count.'),
}

# Where each code is explained: the generated page, one anchor per code (GitHub renders the code's heading
# as #<code>). Reports link every finding code there.
DOCS_URL = 'https://github.com/mailsec/mta_sts/blob/main/docs/docsite/rst/finding_codes.rst'

EFFECT_SEVERITY = {'fail': 'error', 'unknown': 'error', 'warn': 'warning', 'info': 'info', 'skip': 'info'}
SEVERITY_ORDER = ('error', 'warning', 'info')


def effect(code):
    return CATALOG[code][0]


def severity(code):
    return EFFECT_SEVERITY[CATALOG[code][0]]


def title(code):
    """The code's title; '' for a code this version does not know (a report from another version)."""
    return CATALOG.get(code, ('', '', ''))[1]


def remediation(code):
    """What to do about the code; '' for a code this version does not know."""
    return CATALOG.get(code, ('', '', ''))[2]


def doc_url(code, base=DOCS_URL):
    """The link to the code's entry in the finding reference."""
    return '%s#%s' % (base, code)


def main_finding(findings):
    """The finding that explains a verdict best: the first error, else the first warning, else the first info."""
    for level in SEVERITY_ORDER:
        for entry in findings or ():
            if entry.get('severity') == level:
                return entry
    return None


def quoted(text, limit=80):
    """``text`` for a message to people: in double quotes, control characters escaped, clipped to ``limit``.

    JSON string notation, never a Python repr: ``"mode:\\tenforce"``, ``"x\\u0000"``.
    """
    if not isinstance(text, str):
        text = str(text)
    clipped = len(text) > limit
    return json.dumps(text[:limit], ensure_ascii=False) + ('...' if clipped else '')


def finding(code, message, severity_override=None):
    """Build one finding dict; the severity comes from the catalog unless the context raises it."""
    if code not in CATALOG:
        raise KeyError('unknown finding code %r' % code)
    return {'code': code, 'severity': severity_override or severity(code), 'message': message}


def capped(problems, limit=20):
    """``(code, message)`` pairs, at most ``limit`` of each code, then one that counts the rest.

    A hostile policy or MX set must not make one domain's result megabytes.
    """
    shown = {}
    hidden = {}
    out = []
    for code, message in problems:
        if shown.get(code, 0) < limit:
            shown[code] = shown.get(code, 0) + 1
            out.append((code, message))
        else:
            hidden[code] = hidden.get(code, 0) + 1
    for code, count in sorted(hidden.items()):
        out.append((code, '%d more %s finding(s) not listed' % (count, code)))
    return out
