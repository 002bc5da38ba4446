# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin mailsec.mta_sts.report through ansible-playbook, with hand-made audit results (no lab):
idempotence, check and diff mode, merging results and JSON reports, modes, errors."""

import glob
import json
import os
import stat
import time

import pytest

from test_report_support import FORMATS, playbook_json, report_paths, task_results, write_vars


def dom(name, status='pass', code=None):
    findings = [{'code': code, 'severity': 'error' if status in ('fail', 'unknown') else 'info',
                 'message': 'seen %s' % code}] if code else []
    return {'input': name, 'domain': name, 'status': status, 'findings': findings,
            'record': {'name': '_mta-sts.' + name, 'outcome': 'answer', 'txt': ['v=STSv1; id=1;'], 'id': '1'},
            'policy': {'host': 'mta-sts.' + name, 'text': 'version: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 86400\n' % name,
                       'mode': 'enforce', 'max_age': 86400, 'mx': ['mx.' + name], 'elapsed': 0.01},
            'mx': {'hosts': [{'host': 'mx.' + name, 'preference': 10, 'pattern': 'mx.' + name}]}, 'tlsrpt': None}


RESULT_A = {'changed': False, 'control': {'id': 'EDCA-TLS-025'}, 'domains': [dom('a.example'), dom('b.example', 'fail', 'txt-missing')]}
RESULT_B = {'changed': False, 'control': {'id': 'EDCA-TLS-025'}, 'domains': [dom('c.example', 'unknown', 'txt-lookup-failed'), dom('b.example')]}

PLAYBOOK = '''---
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Report
      mailsec.mta_sts.report: "{{ report_args }}"
      register: report
'''


@pytest.fixture
def workdir(tmp_path):
    path = str(tmp_path)
    with open(os.path.join(path, 'report.yml'), 'w') as handle:
        handle.write(PLAYBOOK)
    return path


def report(workdir, args, extra=(), expect_rc=0):
    varfile = write_vars(workdir, 'args-%d.json' % time.monotonic_ns(), {'report_args': args})
    output, proc = playbook_json(workdir, [os.path.join(workdir, 'report.yml'), '-e', '@' + varfile] + list(extra),
                                 expect_rc=expect_rc)
    return list(task_results(output, 'Report').values())[0]


def test_results_merge_and_all_files_are_written(workdir):
    dest = os.path.join(workdir, 'out')
    result = report(workdir, {'results': [RESULT_A, RESULT_B], 'dest': dest})
    assert result['changed'] is True and result['merged'] == 2
    assert result['status'] == 'fail' and result['counts'] == {'pass': 1, 'fail': 1, 'unknown': 1, 'skipped': 0}
    assert result['failing'] == ['b.example'] and result['unknown'] == ['c.example']
    assert sorted(f['format'] for f in result['files']) == sorted(FORMATS)
    for path in report_paths(dest).values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert not glob.glob(os.path.join(dest, '.*'))  # no temporary file left behind


def test_second_run_is_unchanged_and_force_rewrites(workdir):
    dest = os.path.join(workdir, 'out')
    first = report(workdir, {'results': RESULT_A, 'dest': dest})
    second = report(workdir, {'results': RESULT_A, 'dest': dest})
    assert second['changed'] is False and second['generated'] == first['generated']
    time.sleep(1.1)
    forced = report(workdir, {'results': RESULT_A, 'dest': dest, 'force': True})
    assert forced['changed'] is True and forced['generated'] != first['generated']


def test_check_mode_writes_nothing_and_diff_mode_shows_the_files(workdir):
    dest = os.path.join(workdir, 'out')
    result = report(workdir, {'results': RESULT_A, 'dest': dest, 'formats': ['markdown', 'csv']},
                    ['--check', '--diff'])
    assert result['changed'] is True and not os.path.exists(dest)
    assert sorted(d['after_header'] for d in result['diff']) == sorted(
        os.path.join(dest, 'mta-sts-report' + ext) for ext in ('.md', '.csv'))
    assert all(d['before'] == '' and d['after'] for d in result['diff'])
    report(workdir, {'results': RESULT_A, 'dest': dest, 'formats': ['markdown', 'csv']})
    time.sleep(1.1)  # a new run time alone changes nothing, even without the JSON report beside
    result = report(workdir, {'results': RESULT_A, 'dest': dest, 'formats': ['markdown', 'csv']}, ['--check'])
    assert result['changed'] is False


def test_reports_written_earlier_merge_with_new_results(workdir):
    slices = os.path.join(workdir, 'slices')
    report(workdir, {'results': RESULT_A, 'dest': slices, 'basename': 'slice-1', 'formats': ['json'], 'timestamp': False})
    report(workdir, {'results': RESULT_B, 'dest': slices, 'basename': 'slice-2', 'formats': ['json'], 'timestamp': False})
    merged = report(workdir, {'src': [os.path.join(slices, 'slice-*.json')], 'dest': os.path.join(workdir, 'merged'),
                              'formats': ['json'], 'timestamp': False})
    whole = report(workdir, {'results': [RESULT_B, RESULT_A], 'dest': os.path.join(workdir, 'whole'),
                             'formats': ['json'], 'timestamp': False})
    assert merged['sources'] == sorted(glob.glob(os.path.join(slices, 'slice-*.json')))
    with open(report_paths(os.path.join(workdir, 'merged'))['json'], 'rb') as one:
        with open(report_paths(os.path.join(workdir, 'whole'))['json'], 'rb') as two:
            assert one.read() == two.read()
    assert merged['counts'] == whole['counts']


def test_previous_report_gives_the_diff_and_a_missing_one_is_no_error(workdir):
    first = os.path.join(workdir, 'first')
    report(workdir, {'results': RESULT_A, 'dest': first, 'formats': ['json']})
    result = report(workdir, {'results': RESULT_B, 'dest': os.path.join(workdir, 'second'), 'formats': ['json'],
                              'previous': report_paths(first)['json']})
    summary = result['diff_summary']
    assert summary['fixed_domains'] == ['b.example']
    assert summary['added'] == 1 and summary['removed'] == 1 and summary['empty'] is False
    none = report(workdir, {'results': RESULT_B, 'dest': os.path.join(workdir, 'third'), 'formats': ['json'],
                            'previous': os.path.join(workdir, 'nothing.json')})
    assert none['diff_summary'] is None


def test_mode_and_timestamp_options(workdir):
    dest = os.path.join(workdir, 'private')
    result = report(workdir, {'results': RESULT_A, 'dest': dest, 'mode': '0600', 'timestamp': False,
                              'formats': ['json']})
    assert result['generated'] is None
    assert stat.S_IMODE(os.stat(report_paths(dest)['json']).st_mode) == 0o600
    again = report(workdir, {'results': RESULT_A, 'dest': dest, 'mode': '0640', 'formats': ['json'], 'timestamp': False})
    assert again['changed'] is True and stat.S_IMODE(os.stat(report_paths(dest)['json']).st_mode) == 0o640


@pytest.mark.parametrize('args, message', [
    ({'results': ['not a result']}, 'not an audit result'),
    ({'results': [{'failed': True, 'msg': 'boom'}]}, 'failed task result: boom'),
    ({'src': ['/nonexistent/*.json']}, 'matches no file'),
    ({}, 'Nothing to report'),
    ({'results': RESULT_A, 'formats': ['pdf']}, 'formats'),
    ({'results': RESULT_A, 'basename': '../x'}, 'basename'),
])
def test_bad_arguments_fail_with_a_message(workdir, args, message):
    args = dict(args, dest=os.path.join(workdir, 'out'))
    result = report(workdir, args, expect_rc=2)
    assert result['failed'] is True and message in result['msg']


def test_a_file_at_dest_that_is_not_a_report_is_not_overwritten(workdir):
    dest = os.path.join(workdir, 'out')
    os.makedirs(dest)
    with open(os.path.join(dest, 'mta-sts-report.json'), 'w') as handle:
        handle.write('{"important": true}')
    result = report(workdir, {'results': RESULT_A, 'dest': dest}, expect_rc=2)
    assert 'is not a report' in result['msg']
    with open(os.path.join(dest, 'mta-sts-report.json')) as handle:
        assert json.load(handle) == {'important': True}
