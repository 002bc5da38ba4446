# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The catalog of finding codes: one place for every code the audit can report.

Pure Python, no Ansible imports. The module documentation, docs/docsite/rst/finding_codes.rst and
the report's remediation hints are checked against this catalog by the unit tests.

Each code has an ``effect`` on the verdict of its domain:

* ``fail``    - the domain does not meet EDCA-TLS-025.
* ``unknown`` - a lookup the verdict needs got no authoritative answer.
* ``warn``    - the domain passes, with something to fix.
* ``info``    - evidence worth showing, no effect.
* ``skip``    - the domain accepts no mail; the control does not apply.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# code: (effect, short title, what to do)
CATALOG = {
    # Input
    'domain-invalid': ('fail', 'The input is not a valid domain name',
                       'Fix the entry in the list of accepted domains.'),
    'audit-error': ('unknown', 'The audit of this domain stopped on an unexpected error',
                    'Rerun; if it persists, report the message as a bug of mailsec.mta_sts.'),
    'audit-timeout': ('unknown', 'The audit of this domain did not finish within its hard limit',
                      'A server held a connection open past every timeout; rerun, and check the domain\'s servers.'),
    # DNS: the _mta-sts TXT record (RFC 8461 section 3.1)
    'txt-missing': ('fail', 'No v=STSv1 TXT record at _mta-sts.<domain>',
                    'Publish "v=STSv1; id=<id>;" at _mta-sts.<domain>, after the policy is online.'),
    'txt-multiple': ('fail', 'More than one v=STSv1 TXT record at _mta-sts.<domain>',
                     'Keep exactly one v=STSv1 record; senders ignore the domain otherwise.'),
    'txt-invalid': ('fail', 'The v=STSv1 TXT record does not follow the RFC 8461 grammar',
                    'Publish "v=STSv1; id=<1-32 letters or digits>;".'),
    'txt-lookup-failed': ('unknown', 'The _mta-sts TXT lookup got no authoritative answer',
                          'Check the domain\'s nameservers (SERVFAIL, REFUSED or timeout).'),
    'txt-inconsistent': ('warn', 'The domain\'s authoritative nameservers give different _mta-sts records',
                         'Bring every nameserver up to date; a stale one keeps some senders on the old policy id.'),
    'txt-consistency-unknown': ('info', 'The authoritative nameservers could not all be asked for _mta-sts',
                                'Check that every NS host of the zone resolves and answers.'),
    'txt-ignored': ('info', 'TXT records at _mta-sts.<domain> that do not begin with v=STSv1 were ignored',
                    'Remove records that are not MTA-STS records from _mta-sts.<domain>.'),
    # HTTPS: fetching the policy (RFC 8461 section 3.3)
    'policy-host-missing': ('fail', 'mta-sts.<domain> has no address record',
                            'Publish A/AAAA (or a CNAME) for mta-sts.<domain> pointing at the policy web server.'),
    'policy-host-lookup-failed': ('unknown', 'The address lookup of mta-sts.<domain> got no authoritative answer',
                                  'Check the domain\'s nameservers (SERVFAIL, REFUSED or timeout).'),
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
    'policy-http-error': ('fail', 'The policy host sent an invalid HTTP response',
                          'Fix the web server serving mta-sts.<domain>.'),
    # Policy syntax (RFC 8461 section 3.2)
    'policy-syntax': ('fail', 'A policy line is not "key: value"',
                      'Write one "key: value" per line, separated by LF or CRLF.'),
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
                          'Write mx patterns as host names, or "*." followed by a host name.'),
    'policy-field-duplicate': ('fail', 'version, mode or max_age appears more than once',
                               'Keep one version, one mode and one max_age line.'),
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
    'mx-connect-failed': ('fail', 'An MX host could not be reached on the SMTP port',
                          'Make every MX host accept SMTP connections.'),
    'mx-tls-error': ('fail', 'The STARTTLS handshake with an MX host failed',
                     'Offer TLS 1.2 or newer on every MX host.'),
    'mx-host-missing': ('fail', 'An MX host name has no address record',
                        'Publish A/AAAA records for every MX host, or remove the MX record.'),
    # TLS reporting (RFC 8460)
    'tlsrpt-missing': ('warn', 'No TLS-RPT record at _smtp._tls.<domain>',
                       'Publish "v=TLSRPTv1; rua=mailto:..." to receive reports from senders.'),
    'tlsrpt-invalid': ('warn', 'The TLS-RPT record is malformed or there is more than one',
                       'Publish exactly one "v=TLSRPTv1; rua=mailto:...;" record.'),
    'tlsrpt-reported-failures': ('warn', 'TLS-RPT reports from senders show failed sessions for the domain',
                                 'Read the failure types in the reports and fix them before switching to enforce.'),
    'tlsrpt-lookup-failed': ('info', 'The TLS-RPT lookup got no authoritative answer',
                             'Check the domain\'s nameservers.'),
}

EFFECT_SEVERITY = {'fail': 'error', 'unknown': 'error', 'warn': 'warning', 'info': 'info', 'skip': 'info'}


def effect(code):
    return CATALOG[code][0]


def severity(code):
    return EFFECT_SEVERITY[CATALOG[code][0]]


def remediation(code):
    return CATALOG[code][2]


def finding(code, message, severity_override=None):
    """Build one finding dict; the severity comes from the catalog unless the context raises it."""
    if code not in CATALOG:
        raise KeyError('unknown finding code %r' % code)
    return {'code': code, 'severity': severity_override or severity(code), 'message': message}
