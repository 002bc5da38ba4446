# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit action in-process: the real audit module runs (its main(), no network needed for invalid
entries), then the action adds the control's verdict; what came from outside stays untrusted (module results
never are trusted as templates; ansible-core before 2.19 marks registered results unsafe itself)."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, is_trusted_as_template

from actions import make_action

pytest.importorskip('dns')

from ansible_collections.mailsec.mta_sts.plugins.action import audit as action  # noqa: E402
from ansible_collections.mailsec.mta_sts.plugins.modules import audit as module  # noqa: E402


class InProcessAudit(action.ActionModule):
    """The action with the module run in this process instead of over a connection."""

    def __init__(self, capsys, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.capsys = capsys

    def _execute_module(self, module_name=None, module_args=None, task_vars=None, **kwargs):
        assert module_name == 'mailsec.mta_sts.audit'
        with patch_module_args(dict(self._task.args)):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(self.capsys.readouterr().out)


def run(capsys, args):
    plain = make_action(action.ActionModule, args)
    audit = InProcessAudit(capsys, plain._task, plain._connection, plain._play_context, plain._loader, plain._templar)
    return audit.run(task_vars={})


def test_the_action_adds_the_control_verdict_read_from_controls(capsys):
    result = run(capsys, {'domains': ['a..b', '{{ lookup("pipe", "id") }}']})
    assert result['control']['id'] == 'EDCA-TLS-025'
    assert result['control']['status'] == 'fail'
    assert result['control']['counts'] == {'pass': 0, 'fail': 2, 'unknown': 0, 'skipped': 0}


def test_what_came_from_outside_is_never_rendered_as_a_template(capsys):
    given = '{{ lookup("pipe", "echo ran") }}'
    result = run(capsys, {'domains': [given]})
    value = result['domains'][0]['input']
    assert not is_trusted_as_template(value)
    assert Templar(loader=DataLoader()).template(value) == given


def test_a_failed_module_result_is_returned_as_it_is(capsys):
    result = run(capsys, {'domains': ['example.org'], 'timeout': 0})
    assert result['failed'] is True and 'control' not in result
