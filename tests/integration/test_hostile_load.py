# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Load with a hostile share: many domains in ONE module call, 10 % of them slow, huge or silent.

The time the call may take is predicted from a calibration run of good domains on the same machine at
the same moment (their throughput R) plus what the hostile share costs at the given concurrency:

    predicted = N_good / R + sum(hostile durations) / concurrency + 2 * timeout (the last stragglers)
                + module start

where a hostile domain costs one timeout (drip, hang) or two (silent DNS: A, then the AAAA fallback)
and the huge ones almost nothing (cut at 64 KiB). The call must stay within LOAD_FACTOR x predicted,
give every domain its verdict, and keep the module's peak RSS bounded.

    normal suite:   300 domains (a few seconds)
    MTA_STS_SLOW=1: 10,000 domains, and the full-size floods of the core bugs (minutes)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import os
import sys

import pytest

import hostile
from hostile_runner import audit_hostile, hostile_servers

TIMEOUT = 2.0
CONCURRENCY = 64
LOAD_FACTOR = 1.5
LOAD_MARGIN = 5.0
MODULE_START = 1.5
# kind -> seconds it holds a worker, in timeouts
HOSTILE_SHARE = collections.OrderedDict([
    ('webdrip', 1), ('webdripbody', 1), ('webdriptls', 1), ('webhang', 1), ('dnssilent', 2), ('dnstcdrip', 2),
    ('webendless', 0), ('webgzip', 0), ('webgzip2', 0), ('webbigline', 0),
])
SLOW = bool(os.environ.get('MTA_STS_SLOW'))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the hostile servers listen on ports 53 and 443 (root)')
needs_slow = pytest.mark.skipif(not SLOW, reason='set MTA_STS_SLOW=1 to run the slow hostile tests')


@pytest.fixture(scope='module')
def servers(tmp_path_factory):
    with hostile_servers(tmp_path_factory, max_seconds=3600) as info:
        yield info


def load_domains(total, hostile_share=0.1):
    """``total`` domains, every tenth one hostile (the kinds in turn), the rest good."""
    kinds = list(HOSTILE_SHARE)
    step = int(round(1 / hostile_share))
    domains = []
    for index in range(total):
        if index % step == step - 1:
            domains.append(hostile.domain_name(kinds[(index // step) % len(kinds)], index))
        else:
            domains.append(hostile.domain_name('good', index))
    return domains


def calibrate(servers, workdir, count):
    """Good domains per second of the audit core on this machine now (a process of its own)."""
    domains = [hostile.domain_name('good', 900000 + n) for n in range(count)]
    report = hostile.run_audit_process(domains, servers, workdir, timeout=TIMEOUT, concurrency=CONCURRENCY,
                                       name='calibrate')
    assert [r['status'] for r in report['results']] == ['pass'] * count
    return count / report['wall']


def predict(domains, rate):
    hostile_seconds = 0.0
    good = 0
    for domain in domains:
        kind = hostile.kind_of(domain)
        if kind == 'good':
            good += 1
        else:
            hostile_seconds += HOSTILE_SHARE[kind] * TIMEOUT
    return good / rate + hostile_seconds / CONCURRENCY + 2 * TIMEOUT + MODULE_START


def run_load(servers, workdir, total, calibration):
    rate = calibrate(servers, workdir, calibration)
    domains = load_domains(total)
    run = audit_hostile(servers, workdir, domains, TIMEOUT, measure=True, concurrency=CONCURRENCY)
    module = run['module']
    # The machine may be busier during the run than before it: the slower of two calibrations counts.
    rate = min(rate, calibrate(servers, workdir, calibration))
    predicted = predict(domains, rate)
    result = run['result']
    wrong = []
    for domain, entry in zip(domains, result['domains']):
        status, codes = hostile.expected(domain)
        found = set(f['code'] for f in entry['findings'])
        if entry['input'] != domain or entry['status'] != status or not set(codes) <= found:
            wrong.append((domain, entry['status'], sorted(found)))
    figures = {'domains': total, 'hostile': sum(1 for d in domains if hostile.kind_of(d) != 'good'),
               'calibrated_rate': round(rate, 1), 'predicted_s': round(predicted, 1),
               'module_wall_s': round(module['wall'], 1), 'module_maxrss_mb': round(module['maxrss_kb'] / 1024.0),
               'wrong_verdicts': len(wrong)}
    sys.stdout.write('\nhostile load: %s\n' % json.dumps(figures))
    with open(os.path.join(workdir, 'figures.json'), 'w') as handle:
        json.dump(figures, handle)
    return figures, wrong


def _check(figures, wrong, rss_limit_mb):
    assert not wrong, '%d wrong verdicts, first: %r' % (len(wrong), wrong[:10])
    limit = LOAD_FACTOR * figures['predicted_s'] + LOAD_MARGIN
    assert figures['module_wall_s'] <= limit, 'the module ran %.1fs, predicted %.1fs (limit %.1fs): %r' % (
        figures['module_wall_s'], figures['predicted_s'], limit, figures)
    assert figures['module_maxrss_mb'] < rss_limit_mb, figures


def test_load_300_domains_with_a_hostile_tenth(servers, tmp_path_factory):
    figures, wrong = run_load(servers, str(tmp_path_factory.mktemp('load-300')), 300, calibration=100)
    _check(figures, wrong, rss_limit_mb=200)


@pytest.mark.slow
@needs_slow
def test_load_10000_domains_with_a_hostile_tenth(servers, tmp_path_factory):
    figures, wrong = run_load(servers, str(tmp_path_factory.mktemp('load-10000')), 10000, calibration=500)
    _check(figures, wrong, rss_limit_mb=400)


# -- the core bugs at full size (see test_hostile_servers.py for the small versions in the normal suite) -----

def _audit_module(servers, workdir, domains, timeout=TIMEOUT):
    run = audit_hostile(servers, workdir, domains, timeout, measure=True)
    return run['result'], run['module']


def _wrong(domains, entries):
    wrong = []
    for domain, entry in zip(domains, entries):
        status, codes = hostile.expected(domain)
        found = set(f['code'] for f in entry['findings'])
        if entry['status'] != status or not set(codes) <= found:
            wrong.append((domain, entry['status'], sorted(found)))
    return wrong


@pytest.mark.slow
@needs_slow
def test_full_size_mx_and_policy_floods(servers, tmp_path_factory):
    domains = [hostile.domain_name('mxflood'), hostile.domain_name('manylines', 1)] + [
        hostile.domain_name('good', n) for n in range(20)]
    report = hostile.run_audit_process(domains, servers, str(tmp_path_factory.mktemp('full-floods')), timeout=TIMEOUT)
    sys.stdout.write('\nfull-size floods: wall %.1fs, process %.1fs, RSS %d MB, result bytes %r\n' % (
        report['wall'], report['process_wall'], report['maxrss_kb'] // 1024,
        dict((r['domain'], r['json_bytes']) for r in report['results'][:2])))
    assert not _wrong(domains, [dict(r, findings=[{'code': c} for c in r['codes']]) for r in report['results']])
    assert max(r['json_bytes'] for r in report['results']) < 1 << 20
    assert report['maxrss_kb'] / 1024.0 < 200
    assert report['process_wall'] <= 3 * TIMEOUT + LOAD_MARGIN


@pytest.mark.slow
@needs_slow
def test_full_size_tlsa_flood_beside_600_good_domains(servers, tmp_path_factory):
    domains = [hostile.domain_name('mxtlsa', 2900 + n) for n in range(4)] + [
        hostile.domain_name('good', n) for n in range(600)]
    result, module = _audit_module(servers, str(tmp_path_factory.mktemp('full-tlsa')), domains)
    wrong = _wrong(domains, result['domains'])
    sys.stdout.write('\nfull-size TLSA flood: module %.1fs, RSS %d MB, %d wrong verdicts (%d of 600 good)\n' % (
        module['wall'], module['maxrss_kb'] // 1024, len(wrong),
        sum(1 for w in wrong if hostile.kind_of(w[0]) == 'good')))
    assert not wrong, wrong[:10]
    assert module['wall'] <= 3 * TIMEOUT + 600 / 100.0 + LOAD_MARGIN


@pytest.mark.slow
@needs_slow
def test_slow_cname_chains_in_one_module_call(servers, tmp_path_factory):
    domains = [hostile.domain_name('dnsslowchain', n) for n in range(3)] + [
        hostile.domain_name('good', n) for n in range(20)]
    result, module = _audit_module(servers, str(tmp_path_factory.mktemp('slow-chain')), domains)
    sys.stdout.write('\nslow CNAME chains: module %.1fs\n' % module['wall'])
    assert not _wrong(domains, result['domains'])
    assert module['wall'] <= 3 * TIMEOUT + MODULE_START + 2.0
