# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What auditors asked of the reports (score explained, code links, CSV for Excel, JUnit times, the trend), and
hostile values clipped and cleaned in every format."""

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import DOCS_URL, doc_url, finding
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils import report as R
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.controls import load_control


def dom(name, status='pass', codes=(), **more):
    item = {'input': name, 'domain': name, 'status': status, 'findings': [finding(code, 'seen %s' % code) for code in codes],
            'record': {'name': '_mta-sts.%s' % name, 'outcome': 'answer', 'txt': ['v=STSv1; id=1;'], 'id': '1'},
            'policy': None, 'mx': None, 'tlsrpt': None}
    item.update(more)
    return item


@pytest.fixture(scope='module')
def control():
    return load_control()


def build(control, domains, **kw):
    kw.setdefault('generated', '2026-02-01T02:00:00Z')
    return R.build_report(R.merge_domains([{'domains': domains}]), control, version='0.1.0', **kw)


def sample(control, **kw):
    return build(control, [dom('a.example'), dom('b.example'), dom('c.example', 'fail', ['txt-missing']),
                           dom('d.example', 'unknown', ['txt-lookup-failed'])], **kw)


# --- the weighted score beside the share of passing domains ---------------------------------------

def test_html_explains_why_the_score_is_zero_while_domains_pass(control):
    page = R.render_html(sample(control))
    assert 'id="score">0%<' in page
    explained = re.search(r'<p class="explain" id="score-explained">([^<]*)</p>', page).group(1)
    assert 'only when every judged domain passes' in explained and '2 of 4 judged domains pass (50%)' in explained


def test_markdown_explains_the_score_too(control):
    text = R.render_markdown(sample(control))
    assert 'only when every judged domain passes' in text and '| Weighted score | 0 / 7 (0%) |' in text


def test_a_passing_control_earns_its_full_weight_in_the_explanation(control):
    report = build(control, [dom('a.example')])
    assert 'full weight' in R.render_html(report) and report['score']['percent'] == 100.0


# --- finding codes link to their entry in the docs -------------------------------------------------

def test_html_links_every_finding_code_to_its_docs_entry(control):
    page = R.render_html(sample(control))
    for code in ('txt-missing', 'txt-lookup-failed'):
        assert page.count('href="%s"' % doc_url(code)) >= 2  # in the domain row and in "what to do"
    assert '<a href="%s">' % DOCS_URL in page


def test_markdown_links_finding_codes(control):
    assert '[`txt-missing`](%s#txt-missing)' % DOCS_URL in R.render_markdown(sample(control))


def test_a_code_that_is_not_a_code_is_shown_as_text_not_linked(control):
    odd = dom('odd.example', 'fail')
    odd['findings'] = [{'code': 'x"><script>1</script>', 'severity': 'error', 'message': 'm'}]
    page = R.render_html(build(control, [odd]))
    assert 'x&#34;&gt;&lt;script&gt;1&lt;/script&gt;' in page and '#x"' not in page


# --- CSV for Excel ---------------------------------------------------------------------------------

def test_csv_file_starts_with_a_utf8_bom_and_keeps_unicode_names(control):
    report = build(control, [dom('xn--bcher-kva.example', input='Bücher.example')])
    data = R.render_bytes(report, 'csv')
    assert data.startswith(b'\xef\xbb\xbf')
    rows = list(csv.DictReader(io.StringIO(data.decode('utf-8-sig'), newline='')))
    assert rows[0]['input'] == 'Bücher.example' and list(rows[0])[0] == 'domain'
    assert not R.render_bytes(report, 'json').startswith(b'\xef\xbb\xbf')


# --- JUnit times ---------------------------------------------------------------------------------

def test_junit_carries_each_domains_audit_time(control):
    report = build(control, [dom('a.example', duration=1.25), dom('b.example', 'fail', ['txt-missing'], elapsed=0.5),
                             dom('c.example')])
    suite = ET.fromstring(R.render_junit(report).encode('utf-8')).find('testsuite')
    times = dict((case.get('name'), case.get('time')) for case in suite.findall('testcase'))
    assert times == {'a.example': '1.250', 'b.example': '0.500', 'c.example': '0.000'}
    assert suite.get('time') == '1.750'


def test_audit_times_do_not_make_a_report_differ(control):
    assert R.comparable(build(control, [dom('a.example', duration=1.0)])) == \
        R.comparable(build(control, [dom('a.example', duration=2.0)]))


# --- the trend -----------------------------------------------------------------------------------

def _runs(control, statuses):
    previous = None
    for index, status in enumerate(statuses):
        previous = json.loads(R.render_json(build(control, [dom('a.example', status, ['txt-missing'] if status == 'fail' else [])],
                                                  generated='2026-02-%02dT02:00:00Z' % (index + 1), previous=previous)))
    return previous


def test_history_holds_the_counts_of_earlier_runs_oldest_first(control):
    report = _runs(control, ['fail', 'pass', 'pass'])
    assert [(run['generated'], run['status']) for run in report['history']] == [
        ('2026-02-01T02:00:00Z', 'fail'), ('2026-02-02T02:00:00Z', 'pass')]
    assert report['history'][0]['counts'] == {'pass': 0, 'fail': 1, 'unknown': 0, 'skipped': 0}
    assert [run['generated'] for run in R.trend(report)][-1] == report['generated']


def test_history_is_bounded(control):
    report = _runs(control, ['pass'] * (R.HISTORY_LIMIT + 5))
    assert len(report['history']) == R.HISTORY_LIMIT
    assert len(R.trend(report)) == R.HISTORY_LIMIT


def test_history_does_not_make_a_report_differ(control):
    once = build(control, [dom('a.example')])
    again = build(control, [dom('a.example')], previous=json.loads(R.render_json(once)))
    assert again['history'] and R.comparable(once) == R.comparable(again)


def test_html_draws_the_trend_and_lists_each_run(control):
    report = _runs(control, ['fail', 'pass', 'pass'])
    page = R.render_html(report)
    assert '<svg id="trend-chart"' in page
    bars = re.findall(r'<rect class="bar bar-(\w+)" data-run="(\d+)"', page)
    assert bars == [('fail', '0'), ('pass', '1'), ('pass', '2')]
    assert len(re.findall(r'<tr data-run="\d+">', page)) == 3
    assert 'Trend of the last 3 runs' in page
    assert '## Trend' in R.render_markdown(report)


# --- hostile values: clipped and cleaned in every format -------------------------------------------

def test_a_200_kb_input_is_clipped_in_every_format(control):
    huge = 'x' * 200000
    report = build(control, [{'input': huge, 'domain': None, 'status': 'fail',
                              'findings': [finding('domain-invalid', '%r is not a domain name' % huge[:200])],
                              'record': None, 'policy': None, 'mx': None, 'tlsrpt': None}])
    assert len(report['domains'][0]['input']) <= R.INPUT_LIMIT + 3
    for fmt in R.FORMATS:
        data = R.render_bytes(report, fmt)
        assert len(data) < 60000, (fmt, len(data))
        assert b'xxx...' in data, fmt


def test_junit_cleans_control_characters_in_every_field(control):
    bad = dom('ctl.example', 'fail')
    bad['findings'] = [{'code': 'txt-\x01invalid', 'severity': 'error', 'message': 'm\x03'}]
    root = ET.fromstring(R.render_junit(build(control, [bad])).encode('utf-8'))
    failure = root.find('testsuite/testcase/failure')
    assert failure.get('type') == 'txt-\\x01invalid' and '\x01' not in failure.text


def test_render_all_names_the_format_that_could_not_be_rendered(control, monkeypatch):
    def broken(report):
        raise ValueError('boom')
    monkeypatch.setitem(R.RENDERERS, 'html', broken)  # a renderer with a bug, to prove nothing is half written
    with pytest.raises(R.ReportError, match='cannot render the html report: ValueError: boom'):
        R.render_all(sample(control), R.FORMATS)


@pytest.mark.parametrize('field, value, message', [
    ('findings', 'not a list', 'findings that are not a list of findings'),
    ('findings', ['text'], 'findings that are not a list of findings'),
    ('policy', 'text', 'policy evidence that is not a mapping'),
    ('enforce_blockers', {'code': 1}, 'enforce_blockers that are not a list'),
])
def test_merge_rejects_domain_results_of_the_wrong_shape(field, value, message):
    with pytest.raises(R.ReportError, match=re.escape(message)):
        R.merge_domains([{'domains': [dom('a.example', **{field: value})]}])
