# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import threading
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.mailsec.mta_sts.plugins.module_utils.audit import control_summary
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.controls import load_control

display = Display()
# Seconds between two progress lines while the module runs (the task variable mailsec_mta_sts_progress_interval;
# 0 for none): a job log that stays silent for minutes looks hung.
PROGRESS_INTERVAL = 20


class ActionModule(ActionBase):
    """Runs the audit module, then adds the verdict of the control read from the collection's controls/."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            control = load_control()
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail('Cannot read the control definition from the collection: %s' % exc)
        result.update(self._execute_with_progress(task_vars))
        if result.get('failed') or 'domains' not in result:
            return result
        result['control'] = control_summary(control, result['domains'])
        # What came from DNS and HTTP stays data without a copy here: module results are never trusted as
        # templates (ansible-core 2.19 data tagging), and older cores mark a registered result unsafe.
        return result

    def _execute_with_progress(self, task_vars):
        """The module's result; while it runs, a line every few seconds that says it still runs (one call still)."""
        try:
            interval = float((task_vars or {}).get('mailsec_mta_sts_progress_interval', PROGRESS_INTERVAL))
        except (TypeError, ValueError):
            raise AnsibleActionFail('mailsec_mta_sts_progress_interval must be a number of seconds')
        if interval <= 0:
            return self._execute_module(module_name='mailsec.mta_sts.audit', task_vars=task_vars)
        outcome = {}

        def execute():
            try:
                outcome['result'] = self._execute_module(module_name='mailsec.mta_sts.audit', task_vars=task_vars)
            except Exception as exc:  # pylint: disable=broad-except  # re-raised below, in the task's thread
                outcome['error'] = exc

        worker = threading.Thread(target=execute, name='mailsec.mta_sts.audit')
        started = time.monotonic()
        worker.start()
        count = len(self._task.args.get('domains') or [])
        while True:
            worker.join(interval)
            if not worker.is_alive():
                break
            display.display('mailsec.mta_sts.audit: %d domains, still auditing after %d s' % (
                count, time.monotonic() - started))
        if 'error' in outcome:
            raise outcome['error']
        return outcome['result']
