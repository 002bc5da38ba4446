# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy role's checks before and after it changes things, through real ansible-playbook runs (deploy lab).

- The DNS wait asks the server the records were written to, on its port: a BIND on a port other than 53
  (the only server of dl-port.test) answers within seconds; a wait pointed at a server that does not hold
  the zone fails at once, naming what to set.
- Domains inside one parent zone, without zone in their entries: the zone is found (SOA on the RFC 2136
  server) and every domain is deployed; a domain whose zone the server does not hold is refused in preflight.
- A certificate for another name is refused before the web server gets it, while a watcher polling the
  HTTPS endpoint the whole run never sees it served.
Uses the lab fixture of test_deploy.py (one lab for this module). Run under flock /tmp/deploy-lab.lock.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import socket
import ssl
import threading
import time

import test_deploy as base
from test_deploy import deploy_lab

lab = base.lab  # the lab fixture of test_deploy.py: this module gets a lab of its own


def _alt_dns(lab):
    """Role variables for dl-port.test: every lookup and the RFC 2136 updates go to the second BIND's port."""
    port = lab.info['alt_dns']['port']
    nsupdate = dict(lab.info['role_vars']['mailsec_mta_sts_nsupdate'], port=port)
    return {'mailsec_mta_sts_nameservers': [deploy_lab.DNS_IP], 'mailsec_mta_sts_dns_port': port,
            'mailsec_mta_sts_nsupdate': nsupdate, 'mailsec_mta_sts_dns_wait_timeout': 300}


def _txt(name, port, server=deploy_lab.DNS_IP):
    import dns.message
    import dns.query
    import dns.rdatatype
    reply = dns.query.udp(dns.message.make_query(name, 'TXT'), server, port=port, timeout=2)
    return sorted(b''.join(rdata.strings).decode() for rrset in reply.answer
                  if rrset.rdtype == dns.rdatatype.TXT for rdata in rrset)


def _wait_seconds(output):
    """The elapsed seconds of the txt_wait results in a -v run."""
    return [float(value) for value in re.findall(r'"elapsed": ([0-9.]+)[^\n]*"waiting": \[\]', output)] + \
        [float(value) for value in re.findall(r'"waiting": \[\][^\n]*"elapsed": ([0-9.]+)', output)]


# --- item 1: the DNS wait asks where the records were written ----------------------------------------------

PORT = {'domain': 'dl-port.test', 'tlsrpt_rua': ['mailto:tlsrpt@dl-port.test']}


def test_dns_wait_asks_the_rfc2136_server_on_its_port_and_finishes_in_seconds(lab):
    port = lab.info['alt_dns']['port']
    assert port != 53 and port != deploy_lab.DNS_PORT
    # The lab's first BIND knows nothing of dl-port.test: a wait there (or on port 53) could only time out.
    assert _txt('_mta-sts.dl-port.test', deploy_lab.DNS_PORT) == []
    run = lab.deploy([PORT], extra=_alt_dns(lab), verbosity=1)
    assert run.rc == 0, run
    assert 'Wait until the RFC 2136 server of mailsec_mta_sts_nsupdate answers the new TXT records of dl-port.test' in run.output
    waits = _wait_seconds(run.output)
    # The wait itself, not the whole run (which the machine's load decides).
    assert waits and max(waits) < 10, (waits, run)
    records = _txt('_mta-sts.dl-port.test', port)
    assert len(records) == 1 and records[0].startswith('v=STSv1; id=')
    assert _txt('_smtp._tls.dl-port.test', port) == ['v=TLSRPTv1; rua=mailto:tlsrpt@dl-port.test']


def test_dns_wait_against_servers_that_do_not_hold_the_zone_fails_at_once_naming_what_to_set(lab):
    # The wait is pointed at PowerDNS, which does not serve dl-port.test: no waiting for 300 s.
    extra = dict(_alt_dns(lab), mailsec_mta_sts_dns_wait_nameservers=[deploy_lab.PDNS_IP],
                 mailsec_mta_sts_dns_wait_port=deploy_lab.DNS_PORT)
    started = time.monotonic()
    run = lab.deploy([PORT], extra=extra)
    assert run.rc != 0, run
    assert time.monotonic() - started < 120, run
    line = base._failure_line(run, 'dl-port.test')
    assert line.startswith('dl-port.test (propagate, DNS announces the new policy id'), line
    assert '%s port %d answers REFUSED' % (deploy_lab.PDNS_IP, deploy_lab.DNS_PORT) in line, line
    assert 'mailsec_mta_sts_dns_wait_nameservers and mailsec_mta_sts_dns_wait_port' in line
    assert 'mailsec_mta_sts_dns_wait to false' in line


# --- item 2: domains inside a parent zone --------------------------------------------------------------------

PARENT = [{'domain': domain} for domain in ('one.dl-parent.test', 'two.dl-parent.test', 'three.dl-parent.test')]


def test_domains_inside_one_parent_zone_without_zone_are_deployed_into_it(lab):
    assert all(lab.info['domains'][entry['domain']]['zone'] == 'dl-parent.test' for entry in PARENT)
    run = lab.deploy(PARENT)
    assert run.rc == 0, run
    assert run.output.count('Use zone dl-parent.test for the records of') == 3, run
    audited = lab.audit([entry['domain'] for entry in PARENT])
    for entry in PARENT:
        domain = entry['domain']
        assert audited[domain]['status'] == 'pass', audited[domain]['findings']
        assert audited[domain]['record']['id'] == base._policy_id(lab.fetch(domain)[2])
    again = lab.deploy(PARENT)
    assert again.rc == 0 and again.changed == 0, again


def test_a_domain_whose_zone_the_server_does_not_hold_is_refused_in_preflight(lab):
    # The RFC 2136 server only refers dl-pdns.test to PowerDNS: updates there would fail with NOTAUTH.
    entry = {'domain': 'dl-pdns.test', 'mx': ['mx1.dl-pdns.test']}
    run = lab.deploy([entry])
    assert run.rc != 0, run
    line = base._failure_line(run, 'dl-pdns.test')
    assert line.startswith('dl-pdns.test (preflight, nothing was changed)'), line
    assert 'is not authoritative for dl-pdns.test' in line and 'Set zone in the entry of dl-pdns.test' in line
    assert run.changed == 0, run
    assert not os.path.exists(lab.vhost('dl-pdns.test'))
    assert not os.path.exists(lab.policy_file('dl-pdns.test'))


def test_a_given_zone_that_does_not_hold_the_domain_is_refused_in_preflight(lab):
    run = lab.deploy([{'domain': 'two.dl-parent.test', 'zone': 'dl-nothing.test', 'max_age': 86400}])
    assert run.rc != 0, run
    line = base._failure_line(run, 'two.dl-parent.test')
    assert 'zone dl-nothing.test does not hold two.dl-parent.test; set zone' in line, line
    assert run.changed == 0, run


# --- item 3: certificates checked before they are served ----------------------------------------------------

class Watcher(object):
    """Polls https://mta-sts.<domain> on the web server (SNI, no verification) and records each certificate seen."""

    def __init__(self, domain, address=deploy_lab.WEB_IP):
        self.host = 'mta-sts.' + domain
        self.address = address
        self.seen = []
        self.polls = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the watcher records what is served, valid or not
        while not self.stopped.is_set():
            try:
                with socket.create_connection((self.address, 443), timeout=2) as raw:
                    with context.wrap_socket(raw, server_hostname=self.host) as tls:
                        self.seen.append(tls.getpeercert(binary_form=True))
            except (OSError, ssl.SSLError):
                pass
            self.polls += 1
            self.stopped.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(5)


def _der(path):
    with open(path) as handle:
        return ssl.PEM_cert_to_DER_cert(handle.read().split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n')


def test_a_certificate_for_another_name_is_refused_before_install_and_never_served(lab):
    wrong = lab.info['wrong_name_cert']
    entry = {'domain': 'dl-badcert.test', 'cert_path': wrong['cert'], 'key_path': wrong['key']}
    with Watcher('dl-badcert.test') as watcher:
        run = lab.deploy([entry])
        time.sleep(0.5)
    assert run.rc != 0, run
    line = base._failure_line(run, 'dl-badcert.test')
    assert line.startswith('dl-badcert.test (preflight, nothing was changed)'), line
    assert 'it is for mta-sts.elsewhere.test, not mta-sts.dl-badcert.test' in line, line
    assert run.changed == 0, run
    assert not os.path.exists(lab.vhost('dl-badcert.test'))
    assert watcher.polls > 20, watcher.polls
    assert _der(wrong['cert']) not in watcher.seen
    assert set(watcher.seen) == {_der(os.path.join(lab.dir, 'certs', 'deploy-lab-default.crt'))}
    # With its own certificate the same domain deploys, and the watcher sees that one served.
    with Watcher('dl-badcert.test') as watcher:
        run = lab.deploy([{'domain': 'dl-badcert.test'}])
        time.sleep(0.5)
    assert run.rc == 0, run
    assert _der(os.path.join(lab.dir, 'certs', 'mta-sts.dl-badcert.test.crt')) in watcher.seen


# --- item 5: tags per stage -----------------------------------------------------------------------------------

def test_tag_preflight_runs_the_checks_only(lab):
    entry = {'domain': 'dl-enforce.test', 'mx': ['mx1.dl-enforce.test', 'mx2.dl-enforce.test']}
    run = lab.deploy([entry], env={'ANSIBLE_RUN_TAGS': 'preflight'})
    assert run.rc == 0, run
    assert run.changed == 0, run
    assert 'Render and validate the policy of dl-enforce.test' in run.output
    assert 'Find the zone of dl-enforce.test' in run.output
    assert 'Check the certificate of mta-sts.dl-enforce.test (names, dates, chain, key)' in run.output
    assert 'Publish the DNS records of dl-enforce.test' not in run.output
    assert not os.path.exists(lab.vhost('dl-enforce.test'))
    assert not os.path.exists(lab.policy_file('dl-enforce.test'))
    # The checks still refuse under the tag: a certificate for another name.
    wrong = lab.info['wrong_name_cert']
    run = lab.deploy([dict(entry, cert_path=wrong['cert'], key_path=wrong['key'])], env={'ANSIBLE_RUN_TAGS': 'preflight'})
    assert run.rc != 0, run
    assert 'it is for mta-sts.elsewhere.test' in base._failure_line(run, 'dl-enforce.test')
