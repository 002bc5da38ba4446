# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes the collection runs end with the ansible-playbook that started them, also after SIGKILL.

Call ``end_with_parent()`` first thing in a long-running module's ``main()``, in an action plugin's ``run()``
and in every worker process the collection starts. Pure Python, no Ansible imports.

Why: Ansible starts each worker in a session of its own (``setsid``) and a module under ``/bin/sh -c`` in
the worker's session. SIGTERM to ansible-playbook reaches them (Ansible forwards it), SIGKILL does not: the
module keeps reading, the worker keeps waiting for it, both long after the run is gone.

What it does, in the calling process:

- Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (prctl(2)): the kernel sends SIGTERM when the parent ends. The
  "parent" is the thread that started the process, so start workers from a thread that lives as long as
  they should (the main thread).
- A watchdog thread checks once a second that every process from the parent up to the one that started
  this process's session (for a module: ``sh``, the Ansible worker, ansible-playbook) is still the same
  process (PID and start time from ``/proc``), and that the parent has not changed. When one is gone it
  sends SIGTERM to this process's main thread, and after ``grace`` seconds ends the process. A session
  led by an Ansible process that init (PID 1) has adopted counts as gone too: a worker whose
  ansible-playbook died before the module started.
- SIGTERM then raises SystemExit, so ``finally`` blocks run (a socket closed, a temp file removed), and
  arms ``alarm(GRACE_SECONDS)``, so the kernel ends a process whose cleanup blocks. A process that already
  has a SIGTERM handler keeps it (an Ansible worker has one: it forwards the signal to its process group
  and exits).

Processes outside the session's starter are never watched: a playbook started with ``nohup`` from a shell
that exits keeps running. Off Linux only the parent is watched (``os.getppid()``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
CHECK_INTERVAL = 1.0
GRACE_SECONDS = 10.0
_MAX_ANCESTORS = 16

_installed_in = None  # the PID end_with_parent() last ran in; a forked child must call it again


def proc_stat(pid):
    """(start time in clock ticks, parent PID) of ``pid`` from /proc, or None when it is gone or a zombie.

    Also the tests' process-tree walks use it (tests/integration/test_tlsrpt_hostile.py).
    """
    try:
        with open('/proc/%d/stat' % pid, 'rb') as handle:
            fields = handle.read().rsplit(b')', 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b'Z', b'X'):
        return None
    return int(fields[19]), int(fields[1])  # proc(5): field 22 starttime, field 4 ppid


def watched_ancestors():
    """[(pid, start time)] from the parent up to and including the process that started this session.

    The session leader's parent is the last one: for a module that is ansible-playbook itself (its workers
    are session leaders); nothing above it (the user's shell, ansible-runner) is watched.
    """
    chain = []
    if not os.path.isdir('/proc/self'):
        return chain
    session = os.getsid(0)
    pid = os.getppid()
    while pid > 1 and len(chain) < _MAX_ANCESTORS:
        stat = proc_stat(pid)
        if stat is None:
            break
        chain.append((pid, stat[0]))
        try:
            if os.getsid(pid) != session:
                break  # it started our session
        except OSError:
            break
        pid = stat[1]
    return chain


def _set_parent_death_signal(signum):
    if not sys.platform.startswith('linux'):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        return False


def _raise_exit(signum, frame):
    # The kernel ends the process after the grace period whatever Python is doing then (a blocked
    # cleanup, interpreter shutdown): SIGALRM's default action terminates (signal(7)).
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(int(GRACE_SECONDS))
    raise SystemExit(128 + signum)


def _is_ansible(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            argv = handle.read().split(b'\0')[:2]
    except OSError:
        return False
    return any(os.path.basename(arg).startswith(b'ansible') for arg in argv)


def _orphaned_session():
    """True when this session was started by an Ansible process that init has adopted: a worker whose
    ansible-playbook died before this process could watch it."""
    leader = os.getsid(0)
    stat = proc_stat(leader)
    return stat is not None and stat[1] == 1 and _is_ansible(leader)


def _gone(chain, parent):
    if os.getppid() != parent or _orphaned_session():
        return True
    for pid, started in chain:
        stat = proc_stat(pid)
        if stat is None or stat[0] != started:
            return True
    return False


def _watch(chain, parent, main_thread, interval, grace):
    while not _gone(chain, parent):
        time.sleep(interval)
    sys.stderr.write('mailsec.mta_sts: the process that started this one (PID %d) is gone; ending PID %d\n' % (
        chain[-1][0] if chain else parent, os.getpid()))
    try:
        signal.pthread_kill(main_thread, signal.SIGTERM)
    except (OSError, ValueError):
        os._exit(128 + signal.SIGTERM)
    time.sleep(grace)
    os._exit(128 + signal.SIGTERM)


def end_with_parent(interval=CHECK_INTERVAL, grace=GRACE_SECONDS):
    """Make this process end when the process that started it (or ansible-playbook above it) ends.

    Call it from the main thread, once per process (again after a fork). Returns the watched ancestors as
    [(pid, start time)]; safe to call where nothing can be watched (returns []).
    """
    global _installed_in
    if _installed_in == os.getpid():
        return watched_ancestors()
    _installed_in = os.getpid()
    parent = os.getppid()
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_exit)
    _set_parent_death_signal(signal.SIGTERM)
    chain = watched_ancestors()
    if os.getppid() != parent or _gone(chain, parent):  # it ended before the death signal was set
        os.kill(os.getpid(), signal.SIGTERM)
    arguments = (chain, parent, threading.main_thread().ident, interval, grace)
    watchdog = threading.Thread(target=_watch, name='mailsec-lifeline', args=arguments)
    watchdog.daemon = True
    watchdog.start()
    return chain
