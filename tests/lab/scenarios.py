# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's scenarios: one place for what each domain publishes and what the audit must say.

Pure data plus small builders, stdlib only. ``lab.py`` renders BIND zones, nginx server blocks and
certificates from it; ``tests/integration`` asserts the audit's verdicts and checks the lab itself
against it.

A scenario is a dict:

``id``       short ASCII name, used as pytest id (``pass-enforce``).
``input``    what the audit is given (may be Unicode, upper case, with a trailing dot, or not a domain).
``domain``   the normalized name the audit must report (A-labels, lower case, no trailing dot), or None.
``group``    the option group (see ``GROUPS``): each group is one run of the audit module.
``zones``    zone names served by BIND for this scenario; ``broken`` the subset whose zone file is
             deliberately broken (BIND answers SERVFAIL for names in them).
``records``  ``(owner, type, value)`` with absolute owners; TXT values are tuples of strings
             (one tuple = one record, several strings = a multi-string record).
``web``      the policy host served for this scenario or None: ``host``, ``ip``, ``cert``
             (valid | expired | expiring | wrongname | rogue | cn-only), ``response`` (ok | charset | html | 404 | redirect | brotli)
             and ``body`` (bytes).
``expect``   ``status`` (pass | fail | unknown | skipped), ``codes`` that must be present, ``absent``
             codes that must not be, ``clean`` (no finding of severity warning or error),
             ``severity`` ({code: severity} where the context decides the severity) and, where given,
             ``ready`` (the expected ``enforce_ready``) with ``blockers`` (codes that must block it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

# Loopback addresses of the lab (never anything outside 127.0.0.0/8). MTA_STS_LAB_SLOT=N (1-250) moves a
# second lab to 127.0.N.x and DNS port 10053+N, so two labs can run on one machine; the default slot 0
# is 127.0.0.x and port 10053. Set it the same for lab.py and for the tests that use that lab.
SLOT = int(os.environ.get('MTA_STS_LAB_SLOT') or 0)
if not 0 <= SLOT <= 250:
    raise ValueError('MTA_STS_LAB_SLOT must be between 0 and 250, not %d' % SLOT)
NET = '127.0.%d.' % SLOT
DNS_IP = '127.0.0.1'           # BIND listens only on addresses of an interface: lo has 127.0.0.1 only
DNS_PORT = 10053 + SLOT
WEB_IP = NET + '10'            # nginx, HTTPS with SNI, one server block per policy host
SILENT_IP = NET + '11'         # accepts TCP on 443 and never answers (policy-timeout)
REFUSED_IP = NET + '12'        # nothing listens (policy-connect-failed)
GARBAGE_IP = NET + '13'        # TLS with a valid certificate, then a reply that is not HTTP
PLAIN_IP = NET + '14'          # nginx speaking plain HTTP on port 443 (TLS handshake fails)
SMTP_GOOD_IP = NET + '25'      # STARTTLS, certificate from the lab CA for every good MX name
SMTP_EXPIRED_IP = NET + '26'   # STARTTLS, expired certificate
SMTP_NOTLS_IP = NET + '27'     # no STARTTLS
SMTP_WRONGNAME_IP = NET + '28'  # STARTTLS, certificate for another name
SMTP_REFUSED_IP = NET + '29'   # nothing listens on 25
SMTP_ROGUE_IP = NET + '30'     # STARTTLS, certificate from a CA that is not in ca.pem
SMTP_TLSBROKEN_IP = NET + '31'  # announces STARTTLS, answers 220, then sends no TLS at all
SMTP_EXPIRING_IP = NET + '32'  # STARTTLS, valid certificate that expires within cert_min_days
SMTP_CNONLY_IP = NET + '33'    # STARTTLS, certificate naming the MX host in its subject CN only (no DNS-ID)
INTERIM_IP = NET + '15'        # HTTPS: "100 Continue" and "103 Early Hints" before the 200 (nginx cannot)
# Every address where an SMTP server of the lab listens.
SMTP_SERVER_IPS = (SMTP_GOOD_IP, SMTP_EXPIRED_IP, SMTP_NOTLS_IP, SMTP_WRONGNAME_IP, SMTP_ROGUE_IP,
                   SMTP_TLSBROKEN_IP, SMTP_EXPIRING_IP, SMTP_CNONLY_IP)
SMTP_PORT = 25
HTTPS_PORT = 443

# Codes no lab scenario can produce on purpose (they catch bugs of the audit itself).
NOT_PRODUCIBLE = frozenset(['audit-error'])
# Codes produced by other tests: audit-timeout (tests/unit test_audit_engine.py), the consistency codes
# (test_readiness.py, two BIND servers), tlsrpt-reported-failures (test_readiness.py, a TLS-RPT summary), the
# address policy's codes (test_hostile_private.py, test_audit_engine.py: this lab is on loopback and is
# audited with allow_private_addresses).
COVERED_ELSEWHERE = frozenset(['audit-timeout', 'txt-inconsistent', 'txt-consistency-unknown',
                               'tlsrpt-reported-failures', 'policy-host-private-address',
                               'mx-private-address', 'ns-private-address',
                               # planned_mx: tests/integration/test_deploy_migration.py, unit test_migration.py
                               'mx-planned-not-covered', 'mx-planned-wait', 'mx-planned-since-unknown',
                               'mx-planned-ready', 'mx-planned-unchecked'])

# name: (module options, what the group is for)
GROUPS = {
    'default': ({}, 'record, policy, MX coverage and TLS-RPT checks with the default options'),
    'require_enforce': ({'require_mode': 'enforce'}, 'testing mode is not enough'),
    'check_mx_tls': ({'check_mx_tls': True}, 'STARTTLS and certificates of the MX hosts'),
}

DEFAULT_ID = '20240501a'
DEFAULT_MAX_AGE = 604800
MAX_POLICY_SIZE = 65536


def a_label(name):
    """The normalized form the audit must report: lower case A-labels, no trailing dot."""
    name = name.rstrip('.').lower()
    return '.'.join(label.encode('idna').decode('ascii') if label else label for label in name.split('.'))


def policy_text(mode='enforce', mx=(), max_age=DEFAULT_MAX_AGE, version='STSv1', extra=(), eol='\n'):
    lines = ['version: %s' % version, 'mode: %s' % mode]
    lines += ['mx: %s' % pattern for pattern in mx]
    lines += ['max_age: %s' % max_age]
    lines += list(extra)
    return eol.join(lines) + eol


_DEFAULT = object()


def scenario(sid, summary, expect, group='default', domain=None, input=None,
             txt=_DEFAULT, mx=_DEFAULT, hosts=_DEFAULT, policy=_DEFAULT, web=_DEFAULT,
             policy_ip=WEB_IP, policy_cname=None, tlsrpt=_DEFAULT, extra=(), subzones=(), broken=(),
             zones=_DEFAULT):
    """A complete, passing domain unless an argument takes something away or breaks it.

    ``mx`` are MX rdata with targets relative to the domain (``'10 mx1'``) or absolute (ending in a dot);
    ``hosts`` maps relative names to A addresses; ``policy`` is the policy body (str or bytes), None for
    no policy file; ``web`` overrides parts of the policy host (cert, response, ip); ``subzones`` are
    relative names served as zones of their own, ``broken`` the relative zones whose file is broken.
    """
    domain = a_label(domain or '%s.test' % sid)
    if input is None:
        input = domain

    def fqdn(rel):
        if rel.endswith('.'):
            return rel.rstrip('.').lower()
        return domain if rel == '@' else '%s.%s' % (rel, domain)

    if txt is _DEFAULT:
        txt = ['v=STSv1; id=%s;' % DEFAULT_ID]
    if mx is _DEFAULT:
        mx = ['10 mx1']
    if hosts is _DEFAULT:
        hosts = {'mx1': SMTP_GOOD_IP}
    if tlsrpt is _DEFAULT:
        tlsrpt = ['v=TLSRPTv1; rua=mailto:tlsrpt@%s' % domain]

    records = []
    for value in txt:
        records.append(('_mta-sts.' + domain, 'TXT', tuple(value) if isinstance(value, (list, tuple)) else (value,)))
    mx_names = []
    for value in mx:
        pref, target = value.split()
        target = target if target == '.' else fqdn(target)
        if target != '.':
            mx_names.append(target)
        records.append((domain, 'MX', '%s %s.' % (pref, target.rstrip('.')) if target != '.' else '%s .' % pref))
    for rel, address in sorted(hosts.items()):
        records.append((fqdn(rel), 'A', address))
    policy_host = 'mta-sts.' + domain
    if policy_ip is not None:
        if policy_cname:
            records.append((policy_host, 'CNAME', fqdn(policy_cname) + '.'))
            records.append((fqdn(policy_cname), 'A', policy_ip))
        else:
            records.append((policy_host, 'A', policy_ip))
    for value in tlsrpt:
        records.append(('_smtp._tls.' + domain, 'TXT', tuple(value) if isinstance(value, (list, tuple)) else (value,)))
    for owner, rtype, value in extra:
        if rtype == 'TXT' and not isinstance(value, tuple):
            value = (value,)
        records.append((fqdn(owner), rtype, value))

    if policy is _DEFAULT:
        policy = policy_text(mx=list(mx_names) or [domain])
    if isinstance(policy, str):
        policy = policy.encode('utf-8')
    site = None
    if policy_ip is not None:
        site = {'host': policy_host, 'ip': policy_ip, 'cert': 'valid', 'response': 'ok', 'body': policy}
        if web is not _DEFAULT:
            site.update(web)
        if site['body'] is None and site['response'] in ('ok', 'charset', 'html'):
            site['response'] = '404'

    if zones is _DEFAULT:
        zones = [domain] + [fqdn(rel) for rel in subzones]
    expect = dict({'status': 'pass', 'codes': [], 'absent': [], 'clean': False, 'severity': {}}, **expect)
    if expect['status'] == 'pass' and not expect['codes'] and 'ready' not in expect:
        expect['ready'] = True
    if expect['status'] == 'pass' and not expect['codes']:
        expect['clean'] = True
    return {
        'id': sid,
        'summary': summary,
        'input': input,
        'domain': domain,
        'group': group,
        'zones': list(zones),
        'broken': [fqdn(rel) for rel in broken],
        'records': records,
        'web': site,
        'expect': expect,
    }


def passes(*codes, **kw):
    return dict({'status': 'pass', 'codes': list(codes)}, **kw)


def fails(*codes, **kw):
    return dict({'status': 'fail', 'codes': list(codes)}, **kw)


def unknown(*codes, **kw):
    return dict({'status': 'unknown', 'codes': list(codes)}, **kw)


def _big_policy(domain):
    head = policy_text(mx=['mx1.%s' % domain])
    pad = ''.join('mx: pad%05d.%s\n' % (i, domain) for i in range(4000))
    body = head + pad
    assert len(body) > MAX_POLICY_SIZE
    return body


def _build():
    S = scenario
    out = [
        # --- complete domains that pass without any warning -------------------------------------
        S('pass-enforce', 'complete: TXT, enforce policy, covered MX, TLS-RPT', passes()),
        S('pass-multi-mx', 'two MX hosts, each listed in the policy', passes(),
          mx=['10 mx1', '20 mx2'], hosts={'mx1': SMTP_GOOD_IP, 'mx2': SMTP_GOOD_IP}),
        S('pass-wildcard', 'mx pattern *.domain covers mx1 and mx2 (one label each)', passes(),
          mx=['10 mx1', '20 mx2'], hosts={'mx1': SMTP_GOOD_IP, 'mx2': SMTP_GOOD_IP},
          policy=policy_text(mx=['*.pass-wildcard.test'])),
        S('pass-mx-case', 'MX and mx pattern differ only in letter case', passes(),
          mx=['10 MX1'], hosts={'MX1': SMTP_GOOD_IP},
          policy=policy_text(mx=['Mx1.PASS-MX-CASE.test'])),
        S('pass-charset', 'policy served as "text/plain; charset=utf-8"', passes(),
          web={'response': 'charset'}),
        S('pass-crlf', 'policy lines end in CRLF', passes(),
          policy=policy_text(mx=['mx1.pass-crlf.test'], eol='\r\n')),
        S('pass-policy-ext', 'policy with an extension key (RFC 8461 section 3.2 allows them)', passes(),
          policy=policy_text(mx=['mx1.pass-policy-ext.test'], extra=['x-comment: lab'])),
        S('pass-txt-multistring', 'the TXT record is split into two strings', passes(),
          txt=[('v=STSv1; ', 'id=%s;' % DEFAULT_ID)]),
        S('pass-txt-cname', '_mta-sts is a CNAME to a TXT record in the same zone', passes(),
          txt=[], extra=[('_mta-sts', 'CNAME', 'sts-record.pass-txt-cname.test.'),
                         ('sts-record', 'TXT', 'v=STSv1; id=%s;' % DEFAULT_ID)]),
        S('pass-txt-ext', 'TXT record with an extension field and no trailing semicolon', passes(),
          txt=['v=STSv1; id=Ab12Cd34; lab-ext=yes']),
        S('pass-policy-cname', 'mta-sts.<domain> is a CNAME to the web server name', passes(),
          policy_cname='web'),
        S('pass-txt-ignored', 'a non-STS TXT record beside the v=STSv1 record', passes('txt-ignored'),
          txt=['v=STSv1; id=%s;' % DEFAULT_ID, 'site-verification=abc123']),
        S('pass-mx-implicit', 'no MX: the domain itself is the MX and is listed', passes('mx-implicit'),
          mx=[], hosts={'@': SMTP_GOOD_IP}, policy=policy_text(mx=['pass-mx-implicit.test'])),
        # IDN inputs, given in Unicode; the audit must report the A-label.
        S('idn-unicode', 'IDN given in Unicode', passes(), domain=u'b\u00fccher-idn.test',
          input=u'b\u00fccher-idn.test'),
        S('idn-upper-dot', 'IDN given in upper case with a trailing dot', passes(), domain=u'm\u00fcller-idn.test',
          input=u'M\u00dcLLER-IDN.TEST.'),
        S('idn-dot', 'IDN given with a trailing dot', passes(), domain=u'caf\u00e9-idn.test',
          input=u'caf\u00e9-idn.test.'),
        S('pass-upper-input', 'ASCII domain given in upper case with a trailing dot', passes(),
          input='PASS-UPPER-INPUT.Test.'),

        # --- passes, with something to fix ---------------------------------------------------
        S('mode-testing', 'policy in testing mode', passes('policy-mode-testing'),
          policy=policy_text(mode='testing', mx=['mx1.mode-testing.test'])),
        S('mx-not-covered-testing', 'testing mode and an MX host missing from the policy',
          passes('policy-mode-testing', 'mx-not-covered', severity={'mx-not-covered': 'warning'},
                 ready=False, blockers=['mx-not-covered']),
          mx=['10 mx1', '20 mx2'], hosts={'mx1': SMTP_GOOD_IP, 'mx2': SMTP_GOOD_IP},
          policy=policy_text(mode='testing', mx=['mx1.mx-not-covered-testing.test'])),
        S('ready-testing', 'testing mode, everything else in place: ready to enforce',
          passes('policy-mode-testing', ready=True),
          policy=policy_text(mode='testing', mx=['mx1.ready-testing.test'])),
        S('policy-cert-expiring', 'the policy host certificate expires in 5 days',
          passes('policy-cert-expiring', ready=False, blockers=['policy-cert-expiring']), web={'cert': 'expiring'}),
        S('mx-dane-tlsa', 'the MX host publishes a TLSA record (DANE)', passes('mx-dane-tlsa', ready=True),
          extra=[('_25._tcp.mx1', 'TLSA', '3 1 1 ' + 'ab' * 32)]),
        S('max-age-short', 'max_age of one hour', passes('policy-max-age-short'),
          policy=policy_text(mx=['mx1.max-age-short.test'], max_age=3600)),
        S('tlsrpt-missing', 'no TLS-RPT record', passes('tlsrpt-missing', ready=False, blockers=['tlsrpt-missing']),
          tlsrpt=[]),
        S('tlsrpt-invalid', 'TLS-RPT record without rua', passes('tlsrpt-invalid'),
          tlsrpt=['v=TLSRPTv1;']),
        S('tlsrpt-extension-invalid', 'a TLS-RPT extension name outside the RFC 8460 grammar', passes('tlsrpt-invalid'),
          tlsrpt=['v=TLSRPTv1; rua=mailto:a@tlsrpt-extension-invalid.test; _bad=1']),
        S('pass-tlsrpt-repeated-rua', 'rua twice, as the RFC 8460 grammar allows', passes(absent=['tlsrpt-invalid']),
          tlsrpt=['v=TLSRPTv1; rua=mailto:a@pass-tlsrpt-repeated-rua.test; rua=mailto:b@pass-tlsrpt-repeated-rua.test']),
        S('tlsrpt-multiple', 'two TLS-RPT records', passes('tlsrpt-invalid'),
          tlsrpt=['v=TLSRPTv1; rua=mailto:a@tlsrpt-multiple.test', 'v=TLSRPTv1; rua=mailto:b@tlsrpt-multiple.test']),
        S('tlsrpt-servfail', 'the _smtp._tls zone is broken (SERVFAIL)',
          passes('tlsrpt-lookup-failed', absent=['tlsrpt-missing']),
          subzones=['_smtp._tls'], broken=['_smtp._tls']),

        # --- the _mta-sts TXT record ---------------------------------------------------------
        S('txt-missing', 'no TXT record, everything else in place', fails('txt-missing'), txt=[]),
        S('txt-only-other', 'only a TXT record that is not v=STSv1', fails('txt-missing', 'txt-ignored'),
          txt=['v=spf1 -all']),
        S('txt-multiple', 'two v=STSv1 records', fails('txt-multiple'),
          txt=['v=STSv1; id=%s;' % DEFAULT_ID, 'v=STSv1; id=20240601b;']),
        S('txt-invalid', 'id with a dash', fails('txt-invalid'), txt=['v=STSv1; id=2024-05-01;']),
        # RFC 8461 section 3.1: records not beginning with exactly "v=STSv1;" are discarded.
        S('txt-space-before-semicolon', '"v=STSv1 ;" is discarded by senders', fails('txt-missing', 'txt-ignored'),
          txt=['v=STSv1 ; id=%s;' % DEFAULT_ID]),
        S('pass-txt-bare-version', '"v=STSv1" alone beside a valid record is not a second candidate',
          passes('txt-ignored', absent=['txt-multiple']), txt=['v=STSv1', 'v=STSv1; id=%s;' % DEFAULT_ID]),
        S('txt-field-duplicate', 'the TXT record repeats id: the first counts', passes('txt-field-duplicate'),
          txt=['v=STSv1; id=%s; id=other1;' % DEFAULT_ID]),
        S('txt-invalid-id-long', 'id of 33 characters', fails('txt-invalid'), txt=['v=STSv1; id=%s;' % ('a' * 33)]),
        S('txt-invalid-no-id', 'no id field', fails('txt-invalid'), txt=['v=STSv1;']),
        S('nxdomain', 'the domain does not exist: one root-cause finding (NXDOMAIN is an answer)',
          fails('domain-nxdomain', absent=['mx-implicit', 'txt-missing']),
          domain='gone.nxdomain.test', zones=['nxdomain.test'], txt=[], mx=[], hosts={}, policy_ip=None,
          tlsrpt=[]),

        # --- fetching the policy -------------------------------------------------------------
        S('policy-host-missing', 'no address record for mta-sts.<domain>', fails('policy-host-missing'),
          policy_ip=None),
        S('policy-connect-failed', 'mta-sts.<domain> points at an address where nothing listens',
          fails('policy-connect-failed'), policy_ip=REFUSED_IP),
        S('policy-timeout', 'the policy host accepts TCP and never answers', fails('policy-timeout'),
          policy_ip=SILENT_IP),
        S('policy-cert-expired', 'the policy host certificate has expired', fails('policy-cert-expired'),
          web={'cert': 'expired'}),
        S('policy-cert-name-mismatch', 'the policy host certificate is for another name',
          fails('policy-cert-name-mismatch'), web={'cert': 'wrongname'}),
        S('policy-cert-untrusted', 'the policy host certificate is from a CA not in ca.pem',
          fails('policy-cert-untrusted'), web={'cert': 'rogue'}),
        S('policy-tls-error', 'the policy host speaks plain HTTP on port 443', fails('policy-tls-error'),
          policy_ip=PLAIN_IP),
        S('policy-http-error', 'the policy host answers TLS with something that is not HTTP',
          fails('policy-http-error'), policy_ip=GARBAGE_IP),
        S('policy-redirect', 'the policy URL answers 301', fails('policy-redirect'),
          web={'response': 'redirect'}),
        S('policy-http-status', 'the policy URL answers 404', fails('policy-http-status'),
          web={'response': '404'}),
        S('policy-content-type', 'the policy is served as text/html', fails('policy-content-type'),
          web={'response': 'html'}),
        S('policy-too-large', 'the policy body is larger than 64 KiB', fails('policy-too-large'),
          policy=_big_policy('policy-too-large.test')),

        # --- policy syntax -------------------------------------------------------------------
        S('policy-syntax', 'a policy line without a colon', fails('policy-syntax'),
          policy=policy_text(mx=['mx1.policy-syntax.test'], extra=['this line has no colon'])),
        S('policy-encoding', 'the policy is not valid UTF-8', fails('policy-encoding'),
          policy=policy_text(mx=['mx1.policy-encoding.test']).encode('ascii') + b'x-note: \xff\xfe\xfa\n'),
        S('policy-version-invalid', 'version: STSv2', fails('policy-version-invalid'),
          policy=policy_text(mx=['mx1.policy-version-invalid.test'], version='STSv2')),
        S('policy-mode-invalid', 'mode: strict', fails('policy-mode-invalid'),
          policy=policy_text(mode='strict', mx=['mx1.policy-mode-invalid.test'])),
        S('policy-max-age-invalid', 'max_age above 31557600', fails('policy-max-age-invalid'),
          policy=policy_text(mx=['mx1.policy-max-age-invalid.test'], max_age=31557601)),
        S('policy-max-age-nondigit', 'max_age with a unit', fails('policy-max-age-invalid'),
          policy=policy_text(mx=['mx1.policy-max-age-nondigit.test'], max_age='1w')),
        S('policy-mx-missing', 'enforce mode without any mx line', fails('policy-mx-missing'),
          policy=policy_text(mx=[])),
        S('policy-mx-invalid', 'an mx pattern that is neither a host name nor *.name',
          fails('policy-mx-invalid'),
          policy=policy_text(mx=['mx1.policy-mx-invalid.test', 'mx*.policy-mx-invalid.test'])),
        # RFC 8461 section 3.2: a repeated field counts once, its first value; a warning names the repeat.
        S('policy-field-duplicate', 'mode appears twice: the first (enforce) counts', passes('policy-field-duplicate'),
          policy=policy_text(mx=['mx1.policy-field-duplicate.test'], extra=['mode: testing'])),
        S('policy-duplicate-none-first', 'mode none, then mode enforce: the policy is in mode none',
          fails('policy-mode-none', 'policy-field-duplicate', absent=['policy-mode-invalid']),
          policy=policy_text(mode='none', mx=['mx1.policy-duplicate-none-first.test'], extra=['mode: enforce'])),
        S('policy-blank-line', 'an empty line between two fields', fails('policy-blank-line'),
          policy=policy_text(mx=['mx1.policy-blank-line.test'], extra=['', 'x-note: after a blank line'])),
        S('policy-blank-end', 'two line endings after the last field', fails('policy-blank-line'),
          policy=policy_text(mx=['mx1.policy-blank-end.test']) + '\n'),
        S('policy-mx-u-label', 'an mx pattern written in U-labels', fails('policy-mx-invalid'),
          policy=policy_text(mx=['mx1.policy-mx-u-label.test', u'*.b\u00fccher.test'])),
        S('policy-mode-none', 'mode: none', fails('policy-mode-none'),
          policy=policy_text(mode='none', mx=['mx1.policy-mode-none.test'])),

        # --- MX coverage ---------------------------------------------------------------------
        S('mx-null', 'null MX (RFC 7505) and nothing else', {'status': 'skipped', 'codes': ['mx-null']},
          txt=[], mx=['0 .'], hosts={}, policy_ip=None, tlsrpt=[]),
        S('mx-not-covered', 'enforce mode and an MX host missing from the policy', fails('mx-not-covered'),
          mx=['10 mx1', '20 backup-mx'], hosts={'mx1': SMTP_GOOD_IP, 'backup-mx': SMTP_GOOD_IP},
          policy=policy_text(mx=['mx1.mx-not-covered.test'])),
        S('mx-wildcard-deep', '*.domain does not cover a.b.domain', fails('mx-not-covered'),
          mx=['10 a.b'], hosts={'a.b': SMTP_GOOD_IP}, policy=policy_text(mx=['*.mx-wildcard-deep.test'])),
        S('mx-wildcard-apex', '*.domain does not cover the domain itself', fails('mx-not-covered'),
          mx=['10 @'], hosts={'@': SMTP_GOOD_IP}, policy=policy_text(mx=['*.mx-wildcard-apex.test'])),

        # --- no authoritative answer ---------------------------------------------------------
        S('servfail', 'the whole zone is broken (SERVFAIL)', unknown('txt-lookup-failed'), broken=['@']),
        S('refused', 'the nameserver has no zone for the domain (REFUSED)', unknown('txt-lookup-failed'),
          zones=[], txt=[], mx=[], hosts={}, policy_ip=None, tlsrpt=[]),
        S('txt-servfail', 'only the _mta-sts zone is broken', unknown('txt-lookup-failed'),
          subzones=['_mta-sts'], broken=['_mta-sts']),
        S('mx-servfail', 'the domain zone is broken; _mta-sts, mta-sts and _smtp._tls are zones of their own',
          unknown('mx-lookup-failed', absent=['txt-lookup-failed', 'policy-host-lookup-failed']),
          subzones=['_mta-sts', 'mta-sts', '_smtp._tls'], broken=['@']),
        S('policy-host-servfail', 'the mta-sts.<domain> zone is broken',
          unknown('policy-host-lookup-failed', absent=['txt-lookup-failed', 'mx-lookup-failed']),
          subzones=['mta-sts'], broken=['mta-sts']),

        # --- require_mode: enforce -----------------------------------------------------------
        S('enforce-required-pass', 'enforce policy, enforce required', passes(), group='require_enforce'),
        S('enforce-required-testing', 'testing policy, enforce required',
          fails('policy-mode-testing', severity={'policy-mode-testing': 'error'}), group='require_enforce',
          policy=policy_text(mode='testing', mx=['mx1.enforce-required-testing.test'])),

        # --- check_mx_tls: true --------------------------------------------------------------
        S('mxtls-good', 'MX offers STARTTLS with a valid certificate', passes(), group='check_mx_tls'),
        S('mxtls-expiring', 'MX certificate expires in 5 days', passes('mx-cert-expiring', ready=False,
                                                                       blockers=['mx-cert-expiring']),
          group='check_mx_tls', hosts={'mx1': SMTP_EXPIRING_IP}),
        S('mxtls-expired', 'MX certificate expired', fails('mx-cert-invalid'), group='check_mx_tls',
          hosts={'mx1': SMTP_EXPIRED_IP}),
        S('mxtls-no-starttls', 'MX does not offer STARTTLS', fails('mx-starttls-missing'), group='check_mx_tls',
          hosts={'mx1': SMTP_NOTLS_IP}),
        S('mxtls-wrong-name', 'MX certificate for another name', fails('mx-cert-invalid'), group='check_mx_tls',
          hosts={'mx1': SMTP_WRONGNAME_IP}),
        S('mxtls-rogue', 'MX certificate from a CA not in ca.pem', fails('mx-cert-invalid'), group='check_mx_tls',
          hosts={'mx1': SMTP_ROGUE_IP}),
        S('mxtls-refused', 'nothing listens on port 25 of the MX', fails('mx-connect-failed'), group='check_mx_tls',
          hosts={'mx1': SMTP_REFUSED_IP}),
        S('mxtls-handshake', 'MX announces STARTTLS but the TLS handshake fails', fails('mx-tls-error'),
          group='check_mx_tls', hosts={'mx1': SMTP_TLSBROKEN_IP}),
        S('mxtls-host-missing', 'the MX host name has no address record', fails('mx-host-missing'),
          group='check_mx_tls', hosts={}),
        S('mxtls-testing-expired', 'testing mode: an expired MX certificate is a warning',
          passes('policy-mode-testing', 'mx-cert-invalid', severity={'mx-cert-invalid': 'warning'}),
          group='check_mx_tls', hosts={'mx1': SMTP_EXPIRED_IP},
          policy=policy_text(mode='testing', mx=['mx1.mxtls-testing-expired.test'])),
        # RFC 9110 section 15.2 / RFC 8461 section 3.3 (DNS-ID only): issue 11 items 6 and 7
        S('policy-interim-responses', 'the policy host sends 100 Continue and 103 Early Hints before the 200',
          passes(), policy_ip=INTERIM_IP),
        S('policy-cert-cn-only', 'the policy host certificate names it in the subject CN only (no subjectAltName)',
          fails('policy-cert-name-mismatch'), web={'cert': 'cn-only'}),
        S('policy-content-encoding', 'the policy comes with Content-Encoding br, which the request did not offer',
          fails('policy-content-encoding'), web={'response': 'brotli'}),
        S('mxtls-cn-only', 'the MX certificate names the MX host in the subject CN only (no subjectAltName)',
          fails('mx-cert-invalid'), group='check_mx_tls', hosts={'mx1': SMTP_CNONLY_IP}),
    ]
    # Inputs that are not domain names: no DNS, no web.
    for sid, text in (('invalid-double-dot', 'a..b'), ('invalid-url', 'https://x'),
                      ('invalid-label-too-long', 'x' * 64 + '.test'),
                      # RFC 8461 section 3.1: _mta-sts.<domain> would pass 253 characters (255 octets).
                      ('invalid-name-too-long', '.'.join(['x' * 60] * 4) + '.test')):
        out.append({'id': sid, 'summary': 'input %r is not a domain name' % text, 'input': text, 'domain': None,
                    'group': 'default', 'zones': [], 'broken': [], 'records': [], 'web': None,
                    'expect': {'status': 'fail', 'codes': ['domain-invalid'], 'absent': [], 'clean': False,
                               'severity': {}}})
    return out


SCENARIOS = _build()
BY_ID = dict((s['id'], s) for s in SCENARIOS)
assert len(BY_ID) == len(SCENARIOS), 'scenario ids must be unique'


def by_group(group):
    return [s for s in SCENARIOS if s['group'] == group]


def mx_names_at(address):
    """Every host name that points at ``address`` (lower case): the SANs of that SMTP server's certificate."""
    return sorted(set(owner.lower() for s in SCENARIOS for owner, rtype, value in s['records']
                      if rtype == 'A' and value == address))


def good_mx_names():
    return mx_names_at(SMTP_GOOD_IP)


def table():
    """The scenario table as text (python scenarios.py)."""
    rows = [('id', 'input', 'group', 'status', 'codes')]
    for s in SCENARIOS:
        rows.append((s['id'], s['input'], s['group'], s['expect']['status'], ' '.join(s['expect']['codes'])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


if __name__ == '__main__':
    print(table())
