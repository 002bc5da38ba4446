# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.mailsec.mta_sts.plugins.module_utils.audit import control_summary
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.controls import load_control


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
        result.update(self._execute_module(module_name='mailsec.mta_sts.audit', task_vars=task_vars))
        if result.get('failed') or 'domains' not in result:
            return result
        result['control'] = control_summary(control, result['domains'])
        # What came from DNS and HTTP is data: a later task must never render it as a template.
        result['domains'] = wrap_var(result['domains'])
        return result
