# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Enforce readiness beyond the lab's scenarios: nameservers that disagree, and what senders reported.

Two real BIND servers serve the same zones, one with a newer _mta-sts id (a stale secondary), on
loopback addresses added to lo for the test and removed after it (BIND only listens on addresses
that an interface carries).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import scenarios as sc
from playbook_runner import read_json, run_playbook

PRIMARY = '127.0.%d.153' % sc.SLOT
SECONDARY = '127.0.%d.154' % sc.SLOT
SILENT_NS = '127.0.%d.155' % sc.SLOT       # an NS host where no server listens
PORT = 10153 + sc.SLOT

ZONES = {
    # zone: (records on the primary, records on the secondary)
    'split.test': ('"v=STSv1; id=new2;"', '"v=STSv1; id=old1;"'),
    'same.test': ('"v=STSv1; id=same;"', '"v=STSv1; id=same;"'),
    'lame.test': ('"v=STSv1; id=lame;"', '"v=STSv1; id=lame;"'),
}


def _zone(zone, txt, serial):
    lines = ['$TTL 300',
             '@ IN SOA ns1.%s. hostmaster.%s. ( %d 3600 600 86400 300 )' % (zone, zone, serial),
             '@ IN NS ns1', '@ IN NS ns2', 'ns1 IN A %s' % PRIMARY, 'ns2 IN A %s' % SECONDARY,
             '_mta-sts IN TXT %s' % txt, '@ IN MX 10 mx1', 'mx1 IN A 127.0.0.25']
    if zone == 'lame.test':
        lines += ['@ IN NS ns3', 'ns3 IN A %s' % SILENT_NS]
    return '\n'.join(lines) + '\n'


def _named(root, name, address, which):
    directory = os.path.join(root, name)
    os.makedirs(directory)
    zones = []
    for zone, records in ZONES.items():
        path = os.path.join(directory, zone + '.zone')
        with open(path, 'w') as handle:
            handle.write(_zone(zone, records[which], 2 - which))
        zones.append('zone "%s" { type primary; file "%s"; };' % (zone, path))
    conf = os.path.join(directory, 'named.conf')
    with open(conf, 'w') as handle:
        handle.write('''options {
  directory "%(d)s"; pid-file "%(d)s/named.pid"; session-keyfile "%(d)s/session.key";
  managed-keys-directory "%(d)s"; listen-on port %(port)d { %(ip)s; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no;
};
controls { };
%(zones)s
''' % {'d': directory, 'port': PORT, 'ip': address, 'zones': '\n'.join(zones)})
    log = open(os.path.join(directory, 'named.log'), 'w')
    return subprocess.Popen(['named', '-g', '-c', conf], stdout=log, stderr=subprocess.STDOUT)


def _answers(address):
    try:
        with socket.create_connection((address, PORT), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope='module')
def two_nameservers():
    if os.geteuid() != 0 or not shutil.which('named') or not shutil.which('ip'):
        pytest.skip('needs root, named and ip')
    added = []
    root = tempfile.mkdtemp(prefix='mta-sts-ns-')
    procs = []
    try:
        for address in (PRIMARY, SECONDARY):
            if subprocess.run(['ip', 'addr', 'add', '%s/32' % address, 'dev', 'lo'], capture_output=True,
                              check=False).returncode == 0:
                added.append(address)
        procs = [_named(root, 'primary', PRIMARY, 0), _named(root, 'secondary', SECONDARY, 1)]
        deadline = time.monotonic() + 15
        while not (_answers(PRIMARY) and _answers(SECONDARY)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                pytest.fail('BIND did not start: %s' % open(os.path.join(root, 'primary', 'named.log')).read()[-2000:])
            time.sleep(0.1)
        yield
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for address in added:
            subprocess.run(['ip', 'addr', 'del', '%s/32' % address, 'dev', 'lo'], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _audit(tmp_path, domains, nameserver, port, options, ca_path=None):
    result_path = str(tmp_path / 'result.json')
    extra = {'audit_domains': domains, 'audit_nameservers': [nameserver], 'audit_dns_port': port,
             'audit_options': options, 'audit_result_path': result_path}
    if ca_path:
        extra['audit_ca_path'] = ca_path
    run_playbook('audit_options.yml', extra, str(tmp_path))
    return dict((entry['domain'], entry) for entry in read_json(result_path)['domains'])


def _codes(entry):
    return [item['code'] for item in entry['findings']]


def test_nameservers_that_disagree_are_reported(two_nameservers, tmp_path):
    results = _audit(tmp_path, ['split.test', 'same.test', 'lame.test'], PRIMARY, PORT,
                     {'check_consistency': True, 'timeout': 2})
    split = results['split.test']
    assert 'txt-inconsistent' in _codes(split)
    assert split['record']['consistency']['consistent'] is False
    seen = dict((server['address'], server['txt']) for server in split['record']['consistency']['servers'])
    assert seen == {PRIMARY: ['v=STSv1; id=new2;'], SECONDARY: ['v=STSv1; id=old1;']}
    assert 'txt-inconsistent' in [b['code'] for b in split['enforce_blockers']]
    same = results['same.test']
    assert 'txt-inconsistent' not in _codes(same) and 'txt-consistency-unknown' not in _codes(same)
    assert same['record']['consistency']['consistent'] is True
    lame = results['lame.test']
    assert 'txt-consistency-unknown' in _codes(lame) and 'txt-inconsistent' not in _codes(lame)


def test_consistency_is_not_checked_unless_asked(two_nameservers, tmp_path):
    results = _audit(tmp_path, ['split.test'], PRIMARY, PORT, {'timeout': 2})
    assert 'txt-inconsistent' not in _codes(results['split.test'])
    assert 'consistency' not in results['split.test']['record']


def test_reported_failures_make_a_passing_domain_not_ready(lab_info, tmp_path):
    domain = sc.BY_ID['pass-enforce']['domain']
    other = sc.BY_ID['pass-multi-mx']['domain']
    summary = {domain: {'failed_sessions': 3, 'successful_sessions': 100,
                        'failure_types': {'certificate-expired': 2, 'starttls-not-supported': 1}},
               other: {'failed_sessions': 0, 'successful_sessions': 50, 'failure_types': {}}}
    results = _audit(tmp_path, [domain, other], lab_info['nameserver'], lab_info['dns_port'],
                     {'tlsrpt_summary': summary}, ca_path=lab_info['ca_path'])
    reported = results[domain]
    assert reported['status'] == 'pass'
    assert 'tlsrpt-reported-failures' in _codes(reported)
    assert reported['enforce_ready'] is False
    message = [f['message'] for f in reported['findings'] if f['code'] == 'tlsrpt-reported-failures'][0]
    assert '3 failed session' in message and '2 certificate-expired' in message
    assert reported['tlsrpt']['reports']['failed_sessions'] == 3
    clean = results[other]
    assert clean['enforce_ready'] is True and 'tlsrpt-reported-failures' not in _codes(clean)
