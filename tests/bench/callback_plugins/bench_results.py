# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark helper, not part of the collection: writes each audit task's per-domain verdicts to a file.

Enabled only by tests/bench/run.py (ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED). One JSON line per
host result to $MAILSEC_BENCH_RESULTS: host, task duration, and per domain its status and finding codes
(or, with MAILSEC_BENCH_FULL=1, the whole domain result, for the concurrency comparison).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: bench_results
type: aggregate
short_description: Write audit verdicts for the benchmark (tests/bench only)
description:
  - Writes one JSON line per host result of a C(mailsec.mta_sts.audit) task to the file named by
    E(MAILSEC_BENCH_RESULTS).
requirements:
  - enabled in callbacks_enabled
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


def _plain(value):
    """Ansible's tagged/unsafe values as plain Python, for json."""
    if isinstance(value, dict):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get('MAILSEC_BENCH_RESULTS')
        self._full = os.environ.get('MAILSEC_BENCH_FULL') == '1'
        self._started = {}
        self._task_started = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started = time.monotonic()

    def v2_runner_on_start(self, host, task):
        self._started[host.get_name()] = time.monotonic()

    def _write(self, result, failed):
        if not self._path:
            return
        data = result._result
        host = result._host.get_name()
        started = self._started.pop(host, None)
        now = time.monotonic()  # CLOCK_MONOTONIC: comparable with the benchmark's own clock
        line = {'host': host, 'failed': bool(failed), 'msg': str(data.get('msg', ''))[:500],
                'host_s': round(now - started, 3) if started else None,
                'task_started': self._task_started, 'at': now, 'domains': []}
        for item in data.get('domains') or []:
            if self._full:
                line['domains'].append(_plain(item))
            else:
                line['domains'].append({'domain': str(item.get('domain')), 'status': str(item.get('status')),
                                        'codes': sorted(str(f.get('code')) for f in item.get('findings') or [])})
        with open(self._path, 'a') as handle:
            handle.write(json.dumps(line) + '\n')

    def v2_runner_on_ok(self, result):
        self._write(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, True)

    def v2_runner_on_unreachable(self, result):
        self._write(result, True)
