# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit playbook on the lab writes JSON, JUnit, HTML, CSV and Markdown; the reports agree with each other,
escape what DNS served, and the HTML renders in headless Chromium with its chart and without running a TXT
record's <script>."""

import csv
import json
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET

import pytest

import scenarios as sc
from test_report_support import (FORMULA_INPUT, PLAYBOOKS, REPO_ROOT, XSS_IMG, XSS_INPUT, XSS_SCRIPT, HostileRecords,
                                 chromium, lab_vars, needs_chromium, playbook_json, report_paths, task_results,
                                 write_vars)


@pytest.fixture(scope='module')
def hostile(lab_info):
    records = HostileRecords(lab_info, sc.BY_ID['pass-enforce']['domain'])
    records.add()
    try:
        yield records
    finally:
        records.remove()


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('report-lab'))


@pytest.fixture(scope='module')
def domains(hostile):
    return [s['input'] for s in sc.by_group('default')] + [hostile.domain, XSS_INPUT, FORMULA_INPUT]


@pytest.fixture(scope='module')
def audit_run(lab_info, workdir, domains):
    """One playbook run with every report format; returns (report dir, json callback output)."""
    report_dir = os.path.join(workdir, 'reports')
    varfile = write_vars(workdir, 'vars.json', lab_vars(
        lab_info, mailsec_mta_sts_domains=domains, mailsec_mta_sts_report_dir=report_dir))
    output, dummy = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile])
    return report_dir, output


@pytest.fixture(scope='module')
def reports(audit_run):
    paths = report_paths(audit_run[0])
    with open(paths['json'], encoding='utf-8') as handle:
        report = json.load(handle)
    return paths, report


def test_audit_playbook_writes_all_five_reports(reports, domains):
    paths, report = reports
    for fmt, path in paths.items():
        assert os.path.getsize(path) > 0, fmt
    assert report['verdict']['total'] == len(domains)
    assert report['verdict']['status'] == 'fail'


def test_json_report_has_control_definition_version_options_and_time(reports, lab_info):
    paths, report = reports
    with open(os.path.join(REPO_ROOT, 'controls', 'EDCA-TLS-025.json'), encoding='utf-8') as handle:
        assert report['control'] == json.load(handle)
    with open(os.path.join(REPO_ROOT, 'galaxy.yml'), encoding='utf-8') as handle:
        version = re.search(r'^version:\s*(\S+)', handle.read(), re.M).group(1)
    assert report['tool'] == {'name': 'mailsec.mta_sts', 'version': version}
    assert report['options']['nameservers'] == [lab_info['nameserver']]
    assert report['options']['dns_port'] == lab_info['dns_port']
    assert report['options']['require_mode'] == 'testing'
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', report['generated'])
    assert report['score']['possible'] == 7 and report['score']['earned'] == 0


def test_json_statuses_match_the_lab_scenarios(reports):
    paths, report = reports
    by_domain = dict((d['domain'], d['status']) for d in report['domains'] if d['domain'])
    for scenario in sc.by_group('default'):
        if scenario['domain']:
            assert by_domain[scenario['domain']] == scenario['expect']['status'], scenario['id']


def test_junit_parses_and_its_counts_match_the_json(reports):
    paths, report = reports
    root = ET.parse(paths['junit']).getroot()
    suite = root.find('testsuite')
    counts = report['verdict']['counts']
    cases = suite.findall('testcase')
    assert len(cases) == int(suite.get('tests')) == report['verdict']['total']
    assert int(suite.get('failures')) == counts['fail'] == len([c for c in cases if c.find('failure') is not None])
    assert int(suite.get('errors')) == counts['unknown'] == len([c for c in cases if c.find('error') is not None])
    assert int(suite.get('skipped')) == counts['skipped'] == len([c for c in cases if c.find('skipped') is not None])
    names = set(c.get('name') for c in cases)
    assert XSS_INPUT in names and sc.BY_ID['mx-null']['domain'] in names


def test_csv_has_every_domain_and_defuses_formulas(reports):
    paths, report = reports
    with open(paths['csv'], encoding='utf-8', newline='') as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report['verdict']['total']
    assert sorted(r['status'] for r in rows) == sorted(d['status'] for d in report['domains'])
    assert [r['input'] for r in rows if 'HYPERLINK' in r['input']] == ["'" + FORMULA_INPUT]
    assert not [cell for row in rows for cell in row.values() if cell[:1] in ('=', '+', '-', '@', '\t', '\r')]


def test_markdown_keeps_markup_from_dns_as_text(reports, hostile):
    paths, report = reports
    with open(paths['markdown'], encoding='utf-8') as handle:
        text = handle.read()
    assert '<script' not in text and '<img' not in text and '<svg' not in text
    assert hostile.domain in text
    assert '**FAIL**' in text


def test_the_hostile_txt_records_are_in_the_evidence(reports, hostile):
    paths, report = reports
    item = [d for d in report['domains'] if d['domain'] == hostile.domain][0]
    assert sorted(item['record']['txt']) == sorted(['v=STSv1; id=%s;' % XSS_SCRIPT, XSS_IMG])
    assert item['status'] == 'fail'


@needs_chromium
def test_html_renders_in_chromium_with_the_chart_and_without_running_dns_markup(reports, workdir, hostile):
    paths, report = reports
    url = 'file://' + paths['html']
    shot = os.path.join(workdir, 'report.png')
    proc = chromium(['--screenshot=' + shot, '--window-size=1280,2000', url], workdir)
    assert os.path.getsize(shot) > 10000, proc.stderr[-2000:]
    dom = chromium(['--dump-dom', '--virtual-time-budget=3000', url], workdir).stdout
    assert '<svg id="status-chart"' in dom
    arcs = re.findall(r'<circle class="arc" data-status="(\w+)"', dom)
    assert sorted(arcs) == sorted(status for status, count in report['verdict']['counts'].items() if count)
    # the page's own script ran: it filled in the number of rows shown
    assert 'id="shown-count">%d<' % report['verdict']['total'] in dom
    # ... and none of the markup from DNS or from the input list did
    assert re.search(r'<title>MTA-STS audit EDCA-TLS-025: FAIL</title>', dom)
    assert 'data-xss' not in dom.split('<body', 1)[1].split('>', 1)[0]
    assert '&lt;script&gt;document.title="XSS"' in dom
    assert '&lt;img src=x onerror=' in dom
    assert not re.search(r'<img[^>]*onerror', dom) and not re.search(r'<svg[^>]*onload', dom)
    print('screenshot: %s' % shot)


@needs_chromium
def test_html_print_layout_opens_all_evidence(reports, workdir):
    paths, dummy = reports
    pdf = os.path.join(workdir, 'report.pdf')
    proc = chromium(['--print-to-pdf=' + pdf, '--no-pdf-header-footer', 'file://' + paths['html']], workdir)
    assert os.path.exists(pdf) and os.path.getsize(pdf) > 20000, proc.stderr[-2000:]


def test_set_stats_publishes_status_counts_and_failing_domains(audit_run, reports):
    output = audit_run[1]
    paths, report = reports
    stats = output['global_custom_stats']
    assert stats['mailsec_mta_sts_control'] == 'EDCA-TLS-025'
    assert stats['mailsec_mta_sts_status'] == report['verdict']['status']
    assert stats['mailsec_mta_sts_counts'] == report['verdict']['counts']
    assert sorted(stats['mailsec_mta_sts_failing_domains']) == sorted(report['verdict']['failing'])
    assert stats['mailsec_mta_sts_unknown_domains'] == report['verdict']['unknown']
    assert stats['mailsec_mta_sts_score']['possible'] == 7
    assert sorted(stats['mailsec_mta_sts_report_files']) == sorted(paths.values())


def test_second_run_with_the_same_findings_rewrites_nothing(lab_info, workdir, audit_run, reports, domains):
    paths, report = reports
    before = dict((fmt, os.stat(path).st_mtime_ns) for fmt, path in paths.items())
    varfile = write_vars(workdir, 'vars-again.json', lab_vars(
        lab_info, mailsec_mta_sts_domains=domains, mailsec_mta_sts_report_dir=audit_run[0],
        mailsec_mta_sts_report_refresh=False))
    output, dummy = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile])
    result = list(task_results(output, 'Write the reports').values())[0]
    assert result['changed'] is False, [f for f in result['files'] if f['changed']]
    assert dict((fmt, os.stat(path).st_mtime_ns) for fmt, path in paths.items()) == before


def test_by_default_every_run_records_its_time_and_the_trend(lab_info, workdir, domains):
    """A scheduled run says when it checked: the same findings again give a newer time and one more run in the trend."""
    report_dir = os.path.join(workdir, 'refresh')
    varfile = write_vars(workdir, 'vars-refresh.json', lab_vars(
        lab_info, mailsec_mta_sts_domains=domains[:4], mailsec_mta_sts_report_dir=report_dir,
        mailsec_mta_sts_report_formats=['json', 'html']))
    reports = []
    for dummy in range(2):
        output, dummy = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile])
        with open(report_paths(report_dir)['json'], encoding='utf-8') as handle:
            reports.append(json.load(handle))
        if not reports[1:]:
            time.sleep(1.1)  # the report's time has whole seconds
    result = list(task_results(output, 'Write the reports').values())[0]
    assert result['changed'] is True
    assert reports[1]['generated'] > reports[0]['generated']
    assert [run['generated'] for run in reports[1]['history']] == [reports[0]['generated']]
    assert reports[1]['history'][0]['counts'] == reports[0]['verdict']['counts']
    with open(report_paths(report_dir)['html'], encoding='utf-8') as handle:
        assert 'Generated %s' % reports[1]['generated'] in handle.read()


def test_check_mode_writes_nothing(lab_info, workdir, domains):
    report_dir = os.path.join(workdir, 'check-mode')
    varfile = write_vars(workdir, 'vars-check.json', lab_vars(
        lab_info, mailsec_mta_sts_domains=domains[:5], mailsec_mta_sts_report_dir=report_dir))
    output, dummy = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile, '--check'])
    result = list(task_results(output, 'Write the reports').values())[0]
    assert result['changed'] is True and all(f['changed'] for f in result['files'])
    assert not os.path.exists(report_dir)


@pytest.mark.parametrize('fail_on, expect_rc', [('never', 0), ('fail', 2), ('unknown', 2)])
def test_fail_on_fails_the_job_only_when_asked_and_after_the_reports(lab_info, workdir, fail_on, expect_rc):
    report_dir = os.path.join(workdir, 'fail-on-%s' % fail_on)
    failing = sc.BY_ID['txt-missing']['input']
    varfile = write_vars(workdir, 'vars-%s.json' % fail_on, lab_vars(
        lab_info, mailsec_mta_sts_domains=[sc.BY_ID['pass-enforce']['input'], failing],
        mailsec_mta_sts_report_dir=report_dir, mailsec_mta_sts_fail_on=fail_on, mailsec_mta_sts_report_formats=['json']))
    output, proc = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile],
                                 expect_rc=expect_rc)
    assert os.path.exists(report_paths(report_dir)['json'])
    failed = task_results(output, 'Fail the job')
    assert bool([r for r in failed.values() if r.get('failed')]) == (expect_rc != 0)


def test_a_passing_control_does_not_fail_with_fail_on_unknown(lab_info, workdir):
    varfile = write_vars(workdir, 'vars-pass.json', lab_vars(
        lab_info, mailsec_mta_sts_domains=[sc.BY_ID['pass-enforce']['input'], sc.BY_ID['mx-null']['input']],
        mailsec_mta_sts_fail_on='unknown'))
    output, dummy = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile])
    assert output['global_custom_stats']['mailsec_mta_sts_status'] == 'pass'


def test_later_runs_report_what_changed(lab_info, workdir):
    """Each run compares with the report already in the directory: a policy edited without a new id, a domain
    that newly fails, the same domain fixed, and a changed id - made on the lab between runs, then undone."""
    scenario = sc.BY_ID['pass-crlf']
    domain = scenario['domain']
    records = HostileRecords(lab_info, domain)
    txt_owner = '_mta-sts.' + domain
    original_txt = [''.join(value) for owner, rtype, value in scenario['records'] if owner == txt_owner]
    policy_file = os.path.join(lab_info['nginx']['docroot'], 'mta-sts.' + domain, '.well-known', 'mta-sts.txt')
    with open(policy_file, 'rb') as handle:
        original_policy = handle.read()
    report_dir = os.path.join(workdir, 'diff')
    varfile = write_vars(workdir, 'vars-diff.json', lab_vars(
        lab_info, mailsec_mta_sts_domains=[sc.BY_ID['pass-enforce']['input'], scenario['input']],
        mailsec_mta_sts_report_dir=report_dir, mailsec_mta_sts_report_formats=['json', 'markdown'],
        mailsec_mta_sts_report_refresh=False))

    def audit():
        output, dummy = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile])
        with open(report_paths(report_dir)['json'], encoding='utf-8') as handle:
            return json.load(handle)['diff'], list(task_results(output, 'Write the reports').values())[0]

    def write_policy(data):
        with open(policy_file, 'wb') as handle:
            handle.write(data)

    try:
        diff, dummy = audit()
        assert diff is None  # nothing to compare with yet
        write_policy(original_policy.replace(b'max_age: 604800', b'max_age: 1209600'))
        diff, result = audit()
        assert [(e['domain'], e['fields']) for e in diff['policy_changed_same_id']] == [(domain, ['max_age'])]
        assert result['diff_summary']['policy_changed_same_id'] == 1
        records.set_txt(txt_owner, [])
        diff, result = audit()
        assert diff['newly_failing'] == [{'domain': domain, 'before': 'pass', 'after': 'fail'}]
        assert result['diff_summary']['newly_failing_domains'] == [domain]
        records.set_txt(txt_owner, ['v=STSv1; id=changed2;'])
        diff, result = audit()
        assert diff['fixed'] == [{'domain': domain, 'before': 'fail', 'after': 'pass'}]
        write_policy(original_policy)
        records.set_txt(txt_owner, original_txt)
        diff, result = audit()
        assert diff['policy_id_changed'] == [{'domain': domain, 'before': 'changed2', 'after': original_txt[0].split(
            'id=')[1].rstrip(';'), 'policy_changed': True}]
        diff, result = audit()
        assert result['changed'] is False  # nothing new: the report stays as it is, diff included
    finally:
        write_policy(original_policy)
        records.set_txt(txt_owner, original_txt)


def test_unsliced_run_keeps_input_order_out_of_the_report(reports):
    """The JSON report sorts domains by name, so sliced and unsliced runs give the same file."""
    paths, report = reports
    keys = [(d['domain'] and 'domain:' + d['domain']) or 'input:' + json.dumps(d['input']) for d in report['domains']]
    assert keys == sorted(keys)


def teardown_module(module):
    shutil.rmtree(os.path.join(os.path.dirname(__file__), '__pycache__'), ignore_errors=True)
