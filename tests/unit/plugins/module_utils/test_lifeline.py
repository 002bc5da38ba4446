# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lifeline.end_with_parent with real processes: a chain like Ansible's (ansible-playbook -> worker, a session
leader -> sh -> module); killing the top with SIGKILL ends the module, cleanup included; what lies above
the session's starter is never watched."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils import lifeline

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')

CHAIN = r'''
import os, subprocess, sys, time
role, out = sys.argv[1], sys.argv[2]
if role == 'playbook':      # like ansible-playbook: starts a worker in a session of its own
    subprocess.Popen([sys.executable, __file__, 'worker', out], start_new_session=True)
    time.sleep(600)
elif role == 'worker':      # like an Ansible worker: runs the module under /bin/sh
    subprocess.call(['/bin/sh', '-c', '%s %s module %s; true' % (sys.executable, __file__, out)])
    time.sleep(600)
else:
    from ansible_collections.mailsec.mta_sts.plugins.module_utils import lifeline
    chain = lifeline.end_with_parent(interval=0.2)
    with open(out + '.chain', 'w') as handle:
        handle.write(' '.join(str(pid) for pid, _start in chain))
    try:
        time.sleep(600)
    finally:
        with open(out + '.cleanup', 'w') as handle:
            handle.write('finally ran')
'''


def start_chain(tmp_path):
    script = tmp_path / 'chain.py'
    script.write_text(CHAIN)
    out = str(tmp_path / 'module')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    top = subprocess.Popen([sys.executable, str(script), 'playbook', out], env=env)
    deadline = time.monotonic() + 30
    while not os.path.exists(out + '.chain') and time.monotonic() < deadline:
        time.sleep(0.1)
    with open(out + '.chain') as handle:
        chain = [int(pid) for pid in handle.read().split()]
    return top, chain, out


def test_module_ends_when_the_top_of_the_chain_is_killed(tmp_path):
    top, chain, out = start_chain(tmp_path)
    try:
        assert chain[-1] == top.pid and len(chain) == 3  # sh, worker (session leader), "playbook"
        top.kill()
        top.wait()
        killed = time.monotonic()
        while not os.path.exists(out + '.cleanup') and time.monotonic() - killed < 10:
            time.sleep(0.1)
        print('module ended %.2f s after SIGKILL of the top' % (time.monotonic() - killed))
        assert os.path.exists(out + '.cleanup'), 'the module is still running 10 s after its playbook died'
    finally:
        for pid in chain[:-1]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_watched_ancestors_stop_at_the_session_starter():
    chain = lifeline.watched_ancestors()
    pids = [pid for pid, _start in chain]
    assert pids and pids[0] == os.getppid()
    assert all(os.getsid(pid) == os.getsid(0) for pid in pids[:-1])
    assert 1 not in pids
