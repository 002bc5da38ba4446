# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tlsrpt_info against hostile input, through real ansible-playbook runs; wall time and peak RSS printed and bounded.

- a hostile IMAP server on loopback (tests/lab/hostile_imap.py, asyncio, IMAPS) beside the real Dovecot:
  endless untagged responses, a 2 GiB literal behind RFC822.SIZE 1000, a line without end, 50 mails of 20 MiB;
- deep JSON (100,000 levels; 5,000 levels gzip'd into a mail under 2 KiB) and MIME 2,000 levels deep, read
  from files, an mbox, a Maildir, the hostile server and Dovecot;
- a report directory with two links to itself;
- ansible-playbook killed (SIGKILL, SIGTERM) while modules run: no process it started stays.

Dovecot binds the fixed 127.0.0.143: run under ``flock /tmp/dovecot-lab.lock``.

Each module process runs under a measuring interpreter (tests/lab/hostile.py) that records its wall time and
peak RSS (ru_maxrss of the module process). The good reports of every run must be counted as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import json
import mailbox
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import dovecot as lab_dovecot
import hostile
import hostile_imap
from dovecot import report_mail, tls_policy, tls_report
from playbook_runner import ansible_env, ansible_playbook

from ansible_collections.mailsec.mta_sts.plugins.module_utils.lifeline import proc_stat

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOK = os.path.join(HERE, 'playbooks', 'tlsrpt_info.yml')
DAY = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)).date()
GOOD_PER_BOX = 5
HOSTILE_AT = 3                      # the hostile server misbehaves at this UID; UIDs 1 and 2 are honest
BIG_MAILS, BIG_MIB = 50, 20
# Bounds the module process must stay within (peak RSS of the module process, wall time of the module).
SMALL_RSS_MB, SMALL_WALL = 150, 60
BIG_RSS_MB, BIG_WALL = 200, 400
KILL_WAIT = 15.0
DEEP_JSON = ('[' * 100000 + ']' * 100000).encode('ascii')
DEEP_OBJECT_5000 = ('{"a":' * 5000 + '1' + '}' * 5000).encode('ascii')


def good_report(report_id, domain='good.example', successful=10):
    return tls_report('Org %s' % report_id, report_id, DAY, [tls_policy(domain, successful)])


def good_mail(report_id):
    return report_mail(good_report(report_id), message_id='<%s@good.example>' % report_id)


def deep_json_mail():
    mail = report_mail(good_report('deep', 'victim.example'), body=DEEP_OBJECT_5000, message_id='<deep@attacker.example>')
    assert len(mail) < 2048
    return mail


def deep_mime_mail(depth=2000):
    head, tail = b'', b''
    for level in range(depth):
        head += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
        tail = b'\r\n--b%d--\r\n' % level + tail
    return (b'From: attacker@example.net\r\nTo: tlsrpt@victim.example\r\nSubject: deep\r\n'
            b'Message-ID: <mime@attacker.example>\r\nTLS-Report-Domain: victim.example\r\n'
            + head + b'Content-Type: text/plain\r\n\r\nhello\r\n' + tail)


def deep_mails(prefix):
    """Good mails around the deep ones: what a mailbox that was attacked once holds."""
    return [good_mail('%s-1' % prefix), deep_json_mail(), good_mail('%s-2' % prefix), deep_mime_mail(),
            good_mail('%s-3' % prefix)]


# ---------------------------------------------------------------------------------------------------------------
# Running the module, measured


class Run(object):
    def __init__(self, result, measured, output):
        self.result = result
        self.measured = measured
        self.output = output

    @property
    def rss_mb(self):
        return self.measured['maxrss_kb'] / 1024.0

    @property
    def wall(self):
        return self.measured['wall']


def run_measured(workdir, name, args):
    """One ansible-playbook run of tlsrpt_info with ``args``; its result and the module process's wall time and RSS."""
    run_dir = os.path.join(workdir, name)
    os.makedirs(run_dir)
    interpreter, log = hostile.measuring_interpreter(run_dir)
    result_path = os.path.join(run_dir, 'result.json')
    vars_path = os.path.join(run_dir, 'vars.json')
    with open(vars_path, 'w') as handle:
        json.dump({'tlsrpt_args': args, 'tlsrpt_result_path': result_path}, handle)
    command = [ansible_playbook(), '-i', 'localhost,', PLAYBOOK, '-e', '@' + vars_path,
               '-e', 'ansible_python_interpreter=%s' % interpreter]
    proc = subprocess.run(command, env=ansible_env(run_dir), cwd=run_dir, capture_output=True, text=True, timeout=900,
                          check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or not os.path.exists(result_path):
        pytest.fail('ansible-playbook %s failed (rc=%d)\n%s' % (name, proc.returncode, output[-6000:]), pytrace=False)
    with open(result_path) as handle:
        result = json.load(handle)
    runs = hostile.module_measurements(log, 'tlsrpt_info')
    assert len(runs) == 1, runs
    run = Run(result, runs[0], output)
    print('\n%-28s module wall %6.2f s, peak RSS %6.1f MB, reports %d, malformed %d, incomplete %d' % (
        name, run.wall, run.rss_mb, result['reports'], result['malformed_count'], len(result['incomplete'])))
    return run


def assert_bounded(run, rss_mb=SMALL_RSS_MB, wall=SMALL_WALL):
    assert run.rss_mb < rss_mb, 'peak RSS %.1f MB of the module process, bound %d MB' % (run.rss_mb, rss_mb)
    assert run.wall < wall, 'module wall time %.1f s, bound %d s' % (run.wall, wall)


@pytest.fixture(scope='module')
def workdir():
    path = tempfile.mkdtemp(prefix='tlsrpt-hostile-')
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# The hostile IMAP server


# Keyed by mailbox; the login is 'login-<mailbox>'. imap_username is no_log, and Ansible masks the login
# wherever it appears in the result, so no report text contains it.
BOXES = {
    'flood-search': {'kind': 'flood-search'},
    'flood-fetch': {'kind': 'flood-fetch', 'at': HOSTILE_AT},
    'big-literal': {'kind': 'big-literal', 'at': HOSTILE_AT},
    'long-line': {'kind': 'long-line', 'at': HOSTILE_AT},
    'deep': {'kind': 'honest'},
    'big': {'kind': 'honest', 'pad_mb': BIG_MIB},
    'hold': {'kind': 'hold'},
}


@pytest.fixture(scope='module')
def imap(workdir):
    pytest.importorskip('trustme')
    root = os.path.join(workdir, 'hostile-imap')
    os.makedirs(root)
    boxes = {}
    for name, spec in BOXES.items():
        box = dict(spec)
        if name == 'deep':
            box['mails'] = deep_mails('imap')
        elif name == 'big':
            box['mails'] = [hostile_imap.padded(good_mail('big-%02d' % index)) for index in range(BIG_MAILS)]
        else:
            box['mails'] = [good_mail('%s-%d' % (name, uid)) for uid in range(1, GOOD_PER_BOX + 1)]
        boxes['login-' + name] = box
    hostile_imap.write_mailboxes(root, boxes)
    info = hostile_imap.start_process(root)
    yield info
    hostile_imap.stop_process(info)


def imap_args(info, name, **extra):
    args = {'imap_host': info['address'], 'imap_port': info['port'], 'imap_username': 'login-' + name,
            'imap_password': 'not-checked', 'ca_path': info['ca_path'], 'timeout': 10, 'since': 30}
    args.update(extra)
    return args


@pytest.fixture(scope='module')
def good_dir(workdir):
    """Good reports as files, read in the same run as the hostile server: they must all be counted."""
    root = os.path.join(workdir, 'good-files')
    os.makedirs(root)
    for index in range(3):
        with open(os.path.join(root, 'file-%d.json.gz' % index), 'wb') as handle:
            handle.write(gzip.compress(json.dumps(good_report('file-%d' % index)).encode('ascii')))
    return root


FILE_ORGS = ['Org file-0', 'Org file-1', 'Org file-2']


def honest_orgs(login):
    return ['Org %s-%d' % (login, uid) for uid in range(1, HOSTILE_AT)]


@pytest.mark.parametrize('login, reason', [
    ('flood-fetch', 'more than 1000 response lines in answer to one command; 3 of 5 message(s) were not read'),
    ('big-literal', 'announced a literal of 2147483648 bytes where at most'),
    ('long-line', 'a response line longer than 4194304 bytes; 3 of 5 message(s) were not read'),
])
def test_hostile_server_mid_mailbox_keeps_what_was_read(workdir, imap, good_dir, login, reason):
    run = run_measured(workdir, login, imap_args(imap, login, path=[good_dir]))
    result = run.result
    assert result['organizations'] == sorted(FILE_ORGS + honest_orgs(login))
    assert result['reports'] == 3 + HOSTILE_AT - 1
    [incomplete] = result['incomplete']
    assert incomplete['source'].endswith('/;UID=%d' % HOSTILE_AT) and reason in incomplete['reason'], incomplete
    assert result['domains']['good.example']['reasons'] == ['tlsrpt-incomplete']
    assert_bounded(run)


def test_endless_untagged_responses_to_search(workdir, imap, good_dir):
    run = run_measured(workdir, 'flood-search', imap_args(imap, 'flood-search', path=[good_dir]))
    assert run.result['organizations'] == FILE_ORGS
    assert 'more than 1000 response lines' in run.result['incomplete'][0]['reason']
    assert_bounded(run)


def test_fifty_mails_of_twenty_mib_in_bounded_memory(workdir, imap):
    run = run_measured(workdir, 'big', imap_args(imap, 'big', timeout=60))
    result = run.result
    assert result['reports'] == BIG_MAILS and result['incomplete'] == [] and result['malformed'] == []
    assert result['domains']['good.example']['successful_sessions'] == 10 * BIG_MAILS
    assert result['domains']['good.example']['ready'] is True
    assert_bounded(run, BIG_RSS_MB, BIG_WALL)


def test_deep_json_and_mime_over_imap(workdir, imap):
    run = run_measured(workdir, 'deep-imap', imap_args(imap, 'deep'))
    assert_deep_result(run.result, 'imap')
    assert_bounded(run)


def assert_deep_result(result, prefix):
    assert result['organizations'] == ['Org %s-%d' % (prefix, index) for index in (1, 2, 3)]
    reasons = dict((item['message_id'], item['reason']) for item in result['malformed'])
    assert reasons == {'<deep@attacker.example>': 'not JSON this reader accepts: arrays and objects nested deeper than 64 levels',
                       '<mime@attacker.example>': 'MIME parts nested deeper than 64 levels'}
    assert all(item['domains'] == ['victim.example'] for item in result['malformed'])
    assert result['domains']['victim.example']['reasons'] == ['tlsrpt-no-reports', 'tlsrpt-malformed']
    assert result['domains']['good.example']['ready'] is True


# ---------------------------------------------------------------------------------------------------------------
# Deep input from files, an mbox and a Maildir; a directory that links to itself


def test_deep_json_and_mime_from_files_mbox_and_maildir(workdir):
    root = os.path.join(workdir, 'deep-files-data')
    os.makedirs(root)
    with open(os.path.join(root, 'deep.json'), 'wb') as handle:
        handle.write(DEEP_JSON)
    with open(os.path.join(root, 'good.json'), 'w') as handle:
        json.dump(good_report('file-good'), handle)
    box = mailbox.mbox(os.path.join(root, 'attacked.mbox'))
    for mail in deep_mails('mbox'):
        box.add(mail)
    box.close()
    maildir = os.path.join(root, 'Maildir')
    for sub in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(maildir, sub))
    for index, mail in enumerate(deep_mails('maildir')):
        with open(os.path.join(maildir, 'cur', '17000000%02d.M1P1.lab:2,S' % index), 'wb') as handle:
            handle.write(mail)
    run = run_measured(workdir, 'deep-files', {'path': [root], 'since': 30})
    result = run.result
    assert result['organizations'] == sorted(['Org file-good'] + ['Org %s-%d' % (prefix, index)
                                                                  for prefix in ('mbox', 'maildir') for index in (1, 2, 3)])
    assert sorted(os.path.relpath(item['source'], root) for item in result['malformed']) == [
        'Maildir/cur/1700000001.M1P1.lab:2,S', 'Maildir/cur/1700000003.M1P1.lab:2,S', 'attacked.mbox[2]',
        'attacked.mbox[4]', 'deep.json']
    assert result['incomplete'] == []
    assert_bounded(run)


def test_directory_with_two_links_to_itself(workdir):
    root = os.path.join(workdir, 'cycle-data')
    os.makedirs(os.path.join(root, 'sub'))
    for index in range(3):
        with open(os.path.join(root, 'sub' if index else '', 'r%d.json' % index), 'w') as handle:
            json.dump(good_report('cycle-%d' % index), handle)
    os.symlink(root, os.path.join(root, 'self-a'))
    os.symlink(root, os.path.join(root, 'self-b'))
    os.symlink('..', os.path.join(root, 'sub', 'up'))
    run = run_measured(workdir, 'cycle', {'path': [root], 'since': 30})
    assert run.result['organizations'] == ['Org cycle-0', 'Org cycle-1', 'Org cycle-2']
    assert run.result['sources_read'] == 3 and run.result['duplicates'] == 0 and run.result['incomplete'] == []
    assert_bounded(run, wall=20)


# ---------------------------------------------------------------------------------------------------------------
# The same deep mails in the real Dovecot


@pytest.fixture(scope='module')
def dovecot_with_deep_mail(workdir):
    reason = lab_dovecot.available()
    if reason:
        pytest.skip(reason)
    trustme = pytest.importorskip('trustme')
    root = tempfile.mkdtemp(prefix='tlsrpt-dovecot-hostile-')
    server = lab_dovecot.Dovecot(root, trustme.CA(), {'hostile-reader': 'Pw-hostile-1'})
    try:
        try:
            server.start()
        except lab_dovecot.DovecotError as exc:
            pytest.fail('Dovecot did not start: %s' % exc, pytrace=False)
        for mail in deep_mails('dovecot'):
            server.append('hostile-reader', mail)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_deep_json_and_mime_in_dovecot(workdir, dovecot_with_deep_mail):
    server = dovecot_with_deep_mail
    args = {'imap_host': server.address, 'imap_port': server.imaps_port, 'imap_username': 'hostile-reader',
            'imap_password': 'Pw-hostile-1', 'ca_path': server.ca_path, 'since': 30, 'timeout': 10}
    run = run_measured(workdir, 'deep-dovecot', args)
    assert_deep_result(run.result, 'dovecot')
    assert 'Pw-hostile-1' not in run.output
    assert_bounded(run)


# ---------------------------------------------------------------------------------------------------------------
# Killing ansible-playbook: nothing it started stays


def descendants(root_pid):
    """{pid: (start time, command line)} of every living descendant of ``root_pid``."""
    children = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat:
                children.setdefault(stat[1], []).append((int(name), stat[0]))
    found = {}
    stack = [root_pid]
    while stack:
        for pid, started in children.get(stack.pop(), []):
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                    command = handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')[:160]
            except OSError:
                command = '?'
            found[pid] = (started, command)
            stack.append(pid)
    return found


def alive(processes):
    living = {}
    for pid, (started, command) in processes.items():
        stat = proc_stat(pid)
        if stat and stat[0] == started:
            living[pid] = command
    return living


HOSTS = ['reader%d' % index for index in range(4)]


def kill_run(run_dir, playbook, extra_vars, running, signum):
    """Run ``playbook`` on four local hosts, wait until ``running(descendants)``, send ``signum`` to
    ansible-playbook and assert that every process under it ends within KILL_WAIT seconds."""
    inventory = os.path.join(run_dir, 'inventory.ini')
    with open(inventory, 'w') as handle:
        handle.write('\n'.join('%s ansible_connection=local ansible_python_interpreter=%s' % (host, sys.executable)
                               for host in HOSTS) + '\n')
    with open(os.path.join(run_dir, 'vars.json'), 'w') as handle:
        json.dump(extra_vars, handle)
    command = [ansible_playbook(), '-i', inventory, '-f', str(len(HOSTS)), playbook, '-e', '@vars.json']
    proc = subprocess.Popen(command, env=ansible_env(run_dir), cwd=run_dir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    started = {}  # pid -> (start time, command line)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = descendants(proc.pid)
            if running(started):
                break
            assert proc.poll() is None, 'ansible-playbook ended before the tasks were under way'
            time.sleep(0.5)
        else:
            pytest.fail('the tasks did not start: %r' % started)
        time.sleep(2)  # let them settle into their work
        started = descendants(proc.pid)
        os.kill(proc.pid, signum)
        killed_at = time.monotonic()
        proc.wait(30)
        living = alive(started)
        while living and time.monotonic() - killed_at < KILL_WAIT:
            time.sleep(0.2)
            living = alive(started)
        if not living:
            print('\n%s %s: %d processes under ansible-playbook; all gone %.1f s after the signal' % (
                os.path.basename(playbook), signal.Signals(signum).name, len(started), time.monotonic() - killed_at))
        assert not living, 'still alive %.0f s after %s to ansible-playbook: %s' % (
            KILL_WAIT, signal.Signals(signum).name, json.dumps(living, indent=1))
    finally:
        for pid in alive(started):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize('signum', [signal.SIGKILL, signal.SIGTERM], ids=['SIGKILL', 'SIGTERM'])
def test_killing_ansible_playbook_during_tlsrpt_info_reads(workdir, imap, signum):
    run_dir = os.path.join(workdir, 'kill-%d' % signum)
    os.makedirs(run_dir)

    def modules_running(processes):
        return len([pid for pid, (_start, cmd) in processes.items()
                    if 'AnsiballZ_tlsrpt_info' in cmd and not cmd.startswith('/bin/sh')]) >= len(HOSTS)

    kill_run(run_dir, PLAYBOOK, {'tlsrpt_args': imap_args(imap, 'hold', timeout=300, max_seconds=600),
                                 'tlsrpt_result_path': os.path.join(run_dir, 'result.json'), 'tlsrpt_hosts': 'all'},
             modules_running, signum)


REPORT_PLAYBOOK = """---
- name: Write a large report on every host (a long write in each Ansible worker)
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the report
      mailsec.mta_sts.report:
        src: "{{ report_src }}"
        dest: "{{ report_dest }}/{{ inventory_hostname }}"
"""
REPORT_DOMAINS = 60000


def test_killing_ansible_playbook_during_a_long_report_write(workdir):
    run_dir = os.path.join(workdir, 'kill-report')
    os.makedirs(run_dir)
    playbook = os.path.join(run_dir, 'report.yml')
    with open(playbook, 'w') as handle:
        handle.write(REPORT_PLAYBOOK)
    domains = [{'input': 'd%d.example' % index, 'domain': 'd%d.example' % index, 'status': 'fail',
                'findings': [{'code': 'txt-missing', 'severity': 'error', 'message': 'no _mta-sts record'}],
                'record': None, 'policy': None, 'mx': None, 'tlsrpt': None} for index in range(REPORT_DOMAINS)]
    src = os.path.join(run_dir, 'audit.json')
    with open(src, 'w') as handle:
        json.dump({'changed': False, 'control': {'id': 'EDCA-TLS-025'}, 'domains': domains}, handle)

    def workers_running(processes):
        return len([cmd for _start, cmd in processes.values() if 'ansible-playbook' in cmd]) >= len(HOSTS)

    kill_run(run_dir, playbook, {'report_src': [src], 'report_dest': os.path.join(run_dir, 'out')}, workers_running,
             signal.SIGKILL)
