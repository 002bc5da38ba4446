# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hostile servers of tests/lab/hostile.py in a process of their own, and one audit of their domains
through a real ansible-playbook run (playbooks/hostile_audit.yml), as the hostile integration tests use them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os

import hostile
from playbook_runner import read_json, run_playbook


@contextlib.contextmanager
def hostile_servers(tmp_path_factory, max_seconds):
    """The hostile servers' info (hostile.start_process) for the with block; they must stop cleanly on SIGTERM."""
    info = hostile.start_process(str(tmp_path_factory.mktemp('hostile-servers')), max_seconds=max_seconds)
    try:
        yield info
    finally:
        returncode = hostile.stop_process(info)
    assert returncode == 0, 'the hostile servers did not stop cleanly on SIGTERM (exit %s)' % returncode


def audit_hostile(servers, workdir, domains, timeout, measure=False, **options):
    """Audit ``domains`` in one call of the audit module against ``servers``; the registered result.

    ``options`` are the playbook's other ``hostile_*`` variables without the prefix (``concurrency``,
    ``check_mx_tls``, ``allow_private_addresses``). With ``measure`` the module runs under
    hostile.measuring_interpreter and the answer also holds ``module`` (its one run: wall time, peak RSS) and
    ``startup`` (the wall time of the slowest module that does nothing, stat or copy, on this machine now).
    """
    result_path = os.path.join(workdir, 'result.json')
    extra_vars = {
        'hostile_domains': domains, 'hostile_nameservers': [servers['nameserver']],
        'hostile_dns_port': servers['dns_port'], 'hostile_ca_path': servers['ca_path'],
        'hostile_timeout': timeout, 'hostile_result_path': result_path,
    }
    extra_vars.update(('hostile_' + name, value) for name, value in options.items())
    args = []
    if measure:
        interpreter, log = hostile.measuring_interpreter(workdir)
        args = ['-e', 'ansible_python_interpreter=%s' % interpreter]
    run_playbook('hostile_audit.yml', extra_vars, workdir, args=args)
    answer = {'domains': domains, 'result': read_json(result_path)}
    if measure:
        runs = hostile.module_measurements(log, 'audit')
        assert len(runs) == 1, 'expected one run of the audit module, the interpreter log says %r' % runs
        answer['module'] = runs[0]
        answer['startup'] = max([run['wall'] for name in ('stat', 'copy')
                                 for run in hostile.module_measurements(log, name)] or [0])
    return answer
