# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report action in-process: every format written, all or none, idempotent or recording every run."""

import json
import os
import time
import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleActionFail

from actions import make_action

from ansible_collections.mailsec.mta_sts.plugins.action import report as action
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils import report as R

RESULT = {'changed': False, 'control': {'id': 'EDCA-TLS-025'}, 'domains': [
    {'input': 'a.example', 'domain': 'a.example', 'status': 'pass', 'findings': [], 'record': None,
     'policy': None, 'mx': None, 'tlsrpt': None},
    {'input': 'b.example', 'domain': 'b.example', 'status': 'fail',
     'findings': [{'code': 'txt-missing', 'severity': 'error', 'message': 'no record'}], 'record': None,
     'policy': None, 'mx': None, 'tlsrpt': None}]}


def run(args, **kw):
    return make_action(action.ActionModule, args, **kw).run(task_vars={})


def contents(dest):
    out = {}
    for name in sorted(os.listdir(dest)):
        with open(os.path.join(dest, name), 'rb') as handle:
            out[name] = handle.read()
    return out


def test_every_format_is_written_and_a_second_run_changes_nothing(tmp_path):
    first = run({'results': RESULT, 'dest': str(tmp_path)})
    assert first['changed'] is True and first['status'] == 'fail' and first['failing'] == ['b.example']
    assert sorted(os.listdir(str(tmp_path))) == sorted('mta-sts-report' + ext for ext in R.EXTENSIONS.values())
    before = contents(str(tmp_path))
    time.sleep(1.1)
    second = run({'results': RESULT, 'dest': str(tmp_path)})
    assert second['changed'] is False and second['generated'] == first['generated']
    assert contents(str(tmp_path)) == before


def test_force_records_every_run_in_every_format_and_in_the_trend(tmp_path):
    first = run({'results': RESULT, 'dest': str(tmp_path)})
    time.sleep(1.1)
    second = run({'results': RESULT, 'dest': str(tmp_path), 'force': True})
    assert second['changed'] is True
    assert [entry['format'] for entry in second['files'] if not entry['changed']] == ['csv']  # it holds no time
    assert second['generated'] > first['generated']
    with open(str(tmp_path / 'mta-sts-report.json')) as handle:
        report = json.load(handle)
    assert [run_['generated'] for run_ in report['history']] == [first['generated']]
    with open(str(tmp_path / 'mta-sts-report.html')) as handle:
        assert 'Generated %s' % second['generated'] in handle.read()


def test_force_without_a_time_rewrites_nothing(tmp_path):
    run({'results': RESULT, 'dest': str(tmp_path), 'timestamp': False})
    again = run({'results': RESULT, 'dest': str(tmp_path), 'timestamp': False, 'force': True})
    assert again['changed'] is False


def test_a_report_that_cannot_be_rendered_leaves_every_file_as_it_was(tmp_path, monkeypatch):
    run({'results': RESULT, 'dest': str(tmp_path)})
    before = contents(str(tmp_path))

    def broken(report):
        raise ValueError('renderer bug')
    monkeypatch.setitem(R.RENDERERS, 'csv', broken)  # a renderer with a bug: the JSON must not be rewritten first
    changed = dict(RESULT, domains=RESULT['domains'][:1])
    with pytest.raises(AnsibleActionFail, match='Nothing was written: cannot render the csv report'):
        run({'results': changed, 'dest': str(tmp_path)})
    assert contents(str(tmp_path)) == before


def test_a_source_report_with_a_control_character_in_a_code_renders_every_format(tmp_path):
    hostile = json.loads(json.dumps(RESULT))
    hostile['domains'][1]['findings'][0]['code'] = 'txt-\x01missing'
    source = tmp_path / 'slice.json'
    source.write_text(R.render_json(R.build_report(R.merge_domains([hostile]), {'id': 'EDCA-TLS-025'})))
    dest = tmp_path / 'out'
    result = run({'src': [str(source)], 'dest': str(dest)})
    assert result['changed'] is True and len(result['files']) == 5
    ET.parse(str(dest / 'mta-sts-report.junit.xml'))  # valid XML


def test_check_mode_writes_nothing_and_diff_mode_shows_each_file(tmp_path):
    dest = tmp_path / 'new'
    result = run({'results': RESULT, 'dest': str(dest), 'formats': ['markdown', 'csv']}, check_mode=True, diff=True)
    assert result['changed'] is True and not dest.exists()
    assert [entry['after_header'] for entry in result['diff']] == [str(dest / 'mta-sts-report.md'),
                                                                   str(dest / 'mta-sts-report.csv')]


@pytest.mark.parametrize('args, message', [
    ({}, 'Nothing to report'),
    ({'results': 'text'}, 'results must be an audit result'),
    ({'results': RESULT, 'basename': '../x'}, 'basename must be a file name'),
    ({'results': RESULT, 'mode': 'rw'}, 'mode must be an octal string'),
    ({'results': {'domains': [{'domain': 'a.example', 'status': 'great'}]}}, "status 'great'"),
    ({'src': ['/nonexistent/*.json']}, 'matches no file'),
])
def test_bad_arguments_fail_with_a_message(tmp_path, args, message):
    with pytest.raises(AnsibleActionFail, match=message.replace('(', r'\(').replace('.', r'\.')):
        run(dict(args, dest=str(tmp_path)))


def test_write_all_leaves_no_temporary_file_behind(tmp_path):
    action.write_all({str(tmp_path / 'a'): b'1', str(tmp_path / 'b'): b'2'}, 0o600)
    assert sorted(os.listdir(str(tmp_path))) == ['a', 'b']
    assert os.stat(str(tmp_path / 'a')).st_mode & 0o777 == 0o600


def test_plain_unwraps_values_to_json_types():
    class Text(str):
        pass
    value = action.plain({Text('k'): [Text('v'), b'\xff', (1, 2.5, None, True)]})
    assert value == {'k': ['v', '\ufffd', [1, 2.5, None, True]]}
    assert not isinstance(list(value)[0], Text) and not isinstance(value['k'][0], Text)
