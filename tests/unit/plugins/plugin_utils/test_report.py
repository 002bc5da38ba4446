# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report renderers, merge, diff and score: built from hand-made audit results."""

import copy
import csv
import html.parser
import io
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mailsec.mta_sts.plugins.plugin_utils import report as R
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.controls import load_control
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import CATALOG, finding

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
XSS_TXT = '<script>document.title="XSS";document.body.setAttribute("data-xss","1")</script>'
XSS_INPUT = '"><img src=x onerror="document.title=1">'


def dom(name, status='pass', codes=(), record_id='20240101', text=None, mode='enforce', txt=None, severity=None,
        given=None, max_age=604800):
    """One domain result shaped like mailsec.mta_sts.audit returns it."""
    findings = [finding(code, 'seen: %s' % code, severity) for code in codes]
    if text is None:
        text = 'version: STSv1\nmode: %s\nmx: mx1.%s\nmax_age: %d\n' % (mode, name, max_age)
    if name is None:
        return {'input': given, 'domain': None, 'status': status, 'findings': findings, 'record': None,
                'policy': None, 'mx': None, 'tlsrpt': None}
    return {
        'input': given or name, 'domain': name, 'status': status, 'findings': findings,
        'record': {'name': '_mta-sts.' + name, 'outcome': 'answer', 'type': 'TXT',
                   'txt': txt if txt is not None else ['v=STSv1; id=%s;' % record_id], 'id': record_id,
                   'extensions': {}},
        'policy': {'host': 'mta-sts.' + name, 'url': 'https://mta-sts.%s/.well-known/mta-sts.txt' % name,
                   'address': '192.0.2.10', 'http_status': 200, 'content_type': 'text/plain', 'size': len(text),
                   'elapsed': 0.02, 'text': text, 'version': 'STSv1', 'mode': mode, 'max_age': max_age,
                   'mx': ['mx1.' + name], 'dns': {'addresses': ['192.0.2.10'], 'lookups': []},
                   'certificate': {'subject': 'CN=mta-sts.' + name, 'issuer': 'CN=CA', 'not_after': '2030-01-01T00:00:00Z',
                                   'days_left': 1000, 'san': ['mta-sts.' + name]}},
        'mx': {'name': name, 'type': 'MX', 'outcome': 'answer', 'null_mx': False, 'implicit': False,
               'hosts': [{'host': 'mx1.' + name, 'preference': 10, 'pattern': 'mx1.' + name}]},
        'tlsrpt': {'name': '_smtp._tls.' + name, 'outcome': 'answer', 'type': 'TXT',
                   'txt': ['v=TLSRPTv1; rua=mailto:tls@' + name], 'rua': ['mailto:tls@' + name]},
    }


def audit_result(domains):
    return {'changed': False, 'domains': domains, 'control': {'id': 'EDCA-TLS-025'}}


@pytest.fixture(scope='module')
def control():
    return load_control()


def sample_domains():
    return [
        dom('good.example'),
        dom('testing.example', codes=['policy-mode-testing', 'tlsrpt-missing'], mode='testing'),
        dom('no-txt.example', 'fail', ['txt-missing'], record_id=None, txt=[]),
        dom('xss.example', 'fail', ['txt-invalid', 'txt-ignored'], record_id=None, txt=[XSS_TXT, 'v=STSv1; id=<b>;']),
        dom('broken.example', 'unknown', ['txt-lookup-failed']),
        dom('nullmx.example', 'skipped', ['mx-null']),
        dom(None, 'fail', ['domain-invalid'], given=XSS_INPUT),
        dom(None, 'fail', ['domain-invalid'], given='=HYPERLINK("http://evil")'),
    ]


def build(control, domains=None, **kw):
    domains = sample_domains() if domains is None else domains
    kw.setdefault('generated', '2026-01-31T02:00:00Z')
    kw.setdefault('version', '0.1.0')
    return R.build_report(R.merge_domains([audit_result(domains)]), control, **kw)


# --- merge -------------------------------------------------------------------------------------

def test_merge_two_slices_equals_unsliced(control):
    domains = sample_domains()
    whole = build(control, domains)
    first = audit_result([d for i, d in enumerate(domains) if i % 2 == 0])
    second = audit_result([d for i, d in enumerate(domains) if i % 2 == 1])
    sliced = R.build_report(R.merge_domains([second, first]), control, generated='2026-01-31T02:00:00Z',
                            version='0.1.0')
    assert R.render_json(sliced) == R.render_json(whole)


def test_merge_of_a_report_and_a_result_equals_the_whole(control):
    domains = sample_domains()
    earlier = json.loads(R.render_json(build(control, domains[:3])))
    merged = R.merge_domains([earlier, audit_result(domains[3:])])
    assert merged == R.merge_domains([audit_result(domains)])


def test_merge_deduplicates_by_domain_keeping_the_most_severe_status():
    passing = dom('dup.example')
    failing = dom('dup.example', 'fail', ['txt-missing'])
    unknown = dom('dup.example', 'unknown', ['txt-lookup-failed'])
    assert R.merge_domains([audit_result([passing]), audit_result([failing])]) == [failing]
    assert R.merge_domains([audit_result([failing, unknown, passing])]) == [failing]
    assert R.merge_domains([audit_result([passing, unknown])]) == [unknown]


def test_merge_keeps_the_first_of_equal_statuses():
    first = dom('same.example', given='SAME.example.')
    second = dom('same.example')
    assert R.merge_domains([audit_result([first]), audit_result([second])]) == [first]


def test_merge_deduplicates_invalid_entries_by_input():
    a = dom(None, 'fail', ['domain-invalid'], given='a..b')
    b = dom(None, 'fail', ['domain-invalid'], given='a..b')
    c = dom(None, 'fail', ['domain-invalid'], given=42)
    assert R.merge_domains([audit_result([a, c]), audit_result([b])]) == [c, a] or \
        R.merge_domains([audit_result([a, c]), audit_result([b])]) == [a, c]
    assert len(R.merge_domains([audit_result([a, c]), audit_result([b])])) == 2


def test_merge_sorts_by_domain():
    merged = R.merge_domains([audit_result([dom('b.example'), dom('a.example'), dom('c.example')])])
    assert [d['domain'] for d in merged] == ['a.example', 'b.example', 'c.example']


@pytest.mark.parametrize('value, message', [
    ('text', 'not an audit result'),
    ({'failed': True, 'msg': 'boom'}, 'failed task result: boom'),
    ({'changed': False}, 'no list of domain results'),
    ({'domains': [{'domain': 'x.example', 'status': 'great'}]}, "status 'great'"),
])
def test_merge_rejects_what_is_not_an_audit_result(value, message):
    with pytest.raises(R.ReportError, match=re.escape(message)):
        R.merge_domains([value])


# --- score -------------------------------------------------------------------------------------

@pytest.mark.parametrize('status, earned, possible, percent', [
    ('pass', 7, 7, 100.0),
    ('fail', 0, 7, 0.0),
    ('unknown', 0, 7, 0.0),
    ('skipped', 0, 0, None),
])
def test_score_of_one_control(status, earned, possible, percent):
    score = R.weighted_score([{'weight': 7, 'status': status, 'verify': True}])
    assert (score['earned'], score['possible'], score['percent']) == (earned, possible, percent)


def test_score_leaves_out_controls_that_are_not_verified():
    score = R.weighted_score([{'weight': 7, 'status': 'pass', 'verify': False}])
    assert score == {'earned': 0, 'possible': 0, 'ratio': None, 'percent': None}


def test_score_weights_several_controls():
    score = R.weighted_score([{'weight': 7, 'status': 'pass'}, {'weight': 3, 'status': 'fail'},
                              {'weight': 5, 'status': 'skipped'}, {'weight': 10, 'status': 'unknown'}])
    assert (score['earned'], score['possible']) == (7, 20)
    assert score['percent'] == 35.0


def test_report_score_uses_the_control_weight_and_counts_judged_domains(control):
    report = build(control)
    assert report['score']['possible'] == control['severityWeight']
    assert report['score']['earned'] == 0
    assert report['score']['domains_judged'] == 7  # every domain but the skipped one
    assert report['score']['domains_passing'] == 2
    assert build(control, [dom('a.example'), dom('b.example', 'skipped', ['mx-null'])])['score']['percent'] == 100.0
    assert build(control, [dom('b.example', 'skipped', ['mx-null'])])['score']['ratio'] is None


# --- the report and JSON -------------------------------------------------------------------------

def test_report_holds_control_definition_verdict_and_counts(control):
    report = build(control, options={'timeout': 5.0})
    assert report['schema'] == R.SCHEMA
    assert report['control'] == control
    assert report['verdict']['status'] == 'fail'
    assert report['verdict']['counts'] == {'pass': 2, 'fail': 4, 'unknown': 1, 'skipped': 1}
    assert report['verdict']['total'] == 8
    assert report['verdict']['unknown'] == ['broken.example']
    assert 'no-txt.example' in report['verdict']['failing'] and XSS_INPUT in report['verdict']['failing']
    assert report['options'] == {'timeout': 5.0}
    assert report['tool'] == {'name': 'mailsec.mta_sts', 'version': '0.1.0'}


def test_finding_summary_has_the_catalog_hint_of_each_code(control):
    report = build(control)
    by_code = dict((entry['code'], entry) for entry in report['findings'])
    for code, entry in by_code.items():
        assert entry['remediation'] == CATALOG[code][2]
        assert entry['effect'] == CATALOG[code][0]
    assert by_code['domain-invalid']['domains'] == 2
    assert [entry['effect'] for entry in report['findings']] == sorted(
        (entry['effect'] for entry in report['findings']), key=lambda e: R.EFFECT_RANK[e])


def test_json_is_stable_and_round_trips(control):
    report = build(control)
    text = R.render_json(report)
    assert text.endswith('}\n')
    assert json.loads(text) == json.loads(R.render_json(json.loads(text)))
    assert R.render_json(json.loads(text)) == text


def test_comparable_ignores_time_diff_and_timings(control):
    one = build(control)
    two = build(control, generated='2027-01-01T00:00:00Z')
    two['domains'] = copy.deepcopy(two['domains'])
    two['domains'][0]['policy']['elapsed'] = 9.9
    two['domains'][0]['policy']['certificate']['days_left'] = 1
    two['diff'] = {'newly_failing': []}
    two['domains'][3]['record']['txt'].reverse()  # resolvers rotate the records of an RRset
    assert R.comparable(one) == R.comparable(two)
    two['domains'][0]['status'] = 'fail'
    assert R.comparable(one) != R.comparable(two)


def test_collection_version_from_galaxy_yml_and_manifest(tmp_path):
    assert R.collection_version(ROOT) == re.search(r'^version:\s*(\S+)', open(os.path.join(ROOT, 'galaxy.yml')).read(),
                                                   re.M).group(1)
    (tmp_path / 'MANIFEST.json').write_text(json.dumps({'collection_info': {'version': '9.8.7'}}))
    assert R.collection_version(str(tmp_path)) == '9.8.7'
    assert R.collection_version(str(tmp_path / 'nothing')) is None


# --- diff --------------------------------------------------------------------------------------

def test_diff_reports_newly_failing_fixed_and_policy_changes(control):
    before = build(control, [
        dom('stays.example'),
        dom('breaks.example'),
        dom('fixed.example', 'fail', ['txt-missing']),
        dom('same-id.example', mode='testing', max_age=86400),
        dom('new-id.example', record_id='old1'),
        dom('flaky.example'),
        dom('gone.example'),
    ])
    after = build(control, [
        dom('stays.example'),
        dom('breaks.example', 'fail', ['policy-cert-expired']),
        dom('fixed.example'),
        dom('same-id.example'),
        dom('new-id.example', record_id='new2'),
        dom('flaky.example', 'unknown', ['txt-lookup-failed']),
        dom('added.example', 'fail', ['txt-missing']),
    ], previous=json.loads(R.render_json(before)))
    diff = after['diff']
    assert [e['domain'] for e in diff['newly_failing']] == ['added.example', 'breaks.example']
    assert diff['newly_failing'][0]['before'] is None
    assert diff['fixed'] == [{'domain': 'fixed.example', 'before': 'fail', 'after': 'pass'}]
    assert diff['status_changed'] == [{'domain': 'flaky.example', 'before': 'pass', 'after': 'unknown'}]
    assert [(e['domain'], e['id'], e['fields']) for e in diff['policy_changed_same_id']] == [
        ('same-id.example', '20240101', ['max_age', 'mode'])]
    assert diff['policy_id_changed'] == [{'domain': 'new-id.example', 'before': 'old1', 'after': 'new2',
                                          'policy_changed': False}]
    assert diff['added'] == ['added.example'] and diff['removed'] == ['gone.example']
    assert diff['previous_generated'] == '2026-01-31T02:00:00Z'
    assert not R.diff_is_empty(diff)
    # and every format shows it
    assert 'Policy changed without a new id' in R.render_html(after)
    assert 'Policy changed without a new id: same-id.example' in R.render_markdown(after)


def test_diff_of_identical_reports_is_empty(control):
    report = build(control)
    again = build(control, previous=json.loads(R.render_json(report)))
    assert R.diff_is_empty(again['diff'])
    assert 'No change.' in R.render_markdown(again)


# --- JUnit -------------------------------------------------------------------------------------

def test_junit_counts_equal_the_json_counts(control):
    report = build(control)
    root = ET.fromstring(R.render_junit(report).encode('utf-8'))
    suite = root.find('testsuite')
    counts = json.loads(R.render_json(report))['verdict']['counts']
    cases = suite.findall('testcase')
    assert int(suite.get('tests')) == len(cases) == sum(counts.values())
    assert int(suite.get('failures')) == len([c for c in cases if c.find('failure') is not None]) == counts['fail']
    assert int(suite.get('errors')) == len([c for c in cases if c.find('error') is not None]) == counts['unknown']
    assert int(suite.get('skipped')) == len([c for c in cases if c.find('skipped') is not None]) == counts['skipped']
    for name in ('tests', 'failures', 'errors', 'skipped'):
        assert root.get(name) == suite.get(name)


def test_junit_failure_names_the_main_finding_and_what_to_do(control):
    root = ET.fromstring(R.render_junit(build(control)).encode('utf-8'))
    case = [c for c in root.iter('testcase') if c.get('name') == 'no-txt.example'][0]
    failure = case.find('failure')
    assert failure.get('type') == 'txt-missing'
    assert failure.get('message').startswith('txt-missing: ')
    assert CATALOG['txt-missing'][2] in failure.text
    assert case.get('classname') == 'EDCA-TLS-025'


def test_junit_carries_markup_and_control_characters_from_dns(control):
    nasty = dom('ctl.example', 'fail', ['txt-invalid'], txt=['a\x00b\x1b[31m' + XSS_TXT])
    nasty['findings'][0]['message'] = 'bad record \x01\x02 ' + XSS_TXT + ' ]]> &amp;'
    root = ET.fromstring(R.render_junit(build(control, [nasty])).encode('utf-8'))  # parses: valid XML
    failure = root.find('testsuite/testcase/failure')
    assert XSS_TXT in failure.text and ']]> &amp;' in failure.text
    assert '\\x01\\x02' in failure.text and '\x01' not in failure.text


# --- HTML --------------------------------------------------------------------------------------

class _Collector(html.parser.HTMLParser):
    def __init__(self):
        html.parser.HTMLParser.__init__(self, convert_charrefs=True)
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text):
    collector = _Collector()
    collector.feed(text)
    return collector


def test_html_escapes_values_from_dns_and_inputs(control):
    page = R.render_html(build(control))
    parsed = parse_html(page)
    assert [tag for tag, attrs in parsed.tags if tag == 'script'] == ['script']  # only the page's own
    assert not [tag for tag, attrs in parsed.tags if tag == 'img']
    assert not [(tag, attrs) for tag, attrs in parsed.tags if any(name.startswith('on') for name in attrs)]
    text = ''.join(parsed.text)
    assert XSS_TXT in text  # shown as text
    assert XSS_INPUT in text
    assert '&lt;script&gt;document.title' in page


def test_html_is_self_contained_with_a_csp_for_its_one_script(control):
    page = R.render_html(build(control))
    parsed = parse_html(page)
    assert not [attrs for tag, attrs in parsed.tags if 'src' in attrs or tag in ('link', 'iframe', 'object')]
    script = page.split('<script>', 1)[1].split('</script>', 1)[0]
    assert script == R.SCRIPT
    assert "script-src '%s'" % R.script_hash() in page
    assert "default-src 'none'" in page


def test_html_summary_chart_counts_and_score(control):
    report = build(control)
    page = R.render_html(report)
    parsed = parse_html(page)
    arcs = [attrs for tag, attrs in parsed.tags if tag == 'circle' and attrs.get('class') == 'arc']
    assert sorted(a['data-status'] for a in arcs) == sorted(s for s, n in report['verdict']['counts'].items() if n)
    lengths = dict((a['data-status'], float(a['stroke-dasharray'].split()[0])) for a in arcs)
    assert lengths['fail'] == pytest.approx(4 * lengths['unknown'], rel=1e-3)
    assert 'id="verdict">FAIL<' in page
    assert 'id="score">0%<' in page
    rows = [attrs for tag, attrs in parsed.tags if tag == 'tr' and 'data-status' in attrs]
    assert len(rows) == report['verdict']['total']
    assert [r['data-status'] for r in rows] == sorted((r['data-status'] for r in rows), key=R.STATUS_ORDER.index)


def test_html_shows_the_remediation_hint_of_each_finding(control):
    page = R.render_html(build(control))
    for code in ('txt-missing', 'txt-invalid', 'txt-lookup-failed', 'domain-invalid'):
        assert R.h(CATALOG[code][2]) in page


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_html_never_lets_a_value_become_markup(control, value):
    item = dom('fuzz.example', 'fail', ['txt-invalid'], txt=[value])
    item['findings'][0]['message'] = value
    item['policy']['text'] = value
    page = R.render_html(build(control, [item]))
    parsed = parse_html(page)
    assert [tag for tag, attrs in parsed.tags if tag == 'script'] == ['script']
    assert not [tag for tag, attrs in parsed.tags if tag in ('img', 'iframe', 'svg') and 'id' not in attrs]
    assert not [attrs for tag, attrs in parsed.tags if any(name.startswith('on') for name in attrs)]


# --- CSV ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('value', ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://evil")'])
def test_csv_cell_defuses_formulas(value):
    assert R.csv_cell(value) == "'" + value


@pytest.mark.parametrize('value, expected', [('example.org', 'example.org'), ('', ''), (None, ''),
                                             (['a', '=b'], 'a =b'), (604800, '604800')])
def test_csv_cell_leaves_text_alone(value, expected):
    assert R.csv_cell(value) == expected


@given(st.text(max_size=40))
def test_csv_cell_never_starts_a_formula(value):
    assert not R.csv_cell(value).startswith(R.FORMULA_START)


def test_csv_has_one_row_per_domain_and_no_formula(control):
    report = build(control)
    text = R.render_csv(report)
    assert '\r\n' in text
    rows = list(csv.DictReader(io.StringIO(text, newline='')))
    assert len(rows) == report['verdict']['total']
    assert list(rows[0].keys()) == list(R.CSV_COLUMNS)
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(R.FORMULA_START)
    injected = [row for row in rows if 'HYPERLINK' in row['input']][0]
    assert injected['input'] == "'" + '=HYPERLINK("http://evil")'
    good = [row for row in rows if row['domain'] == 'good.example'][0]
    assert (good['status'], good['policy_id'], good['policy_mode']) == ('pass', '20240101', 'enforce')
    assert [row['status'] for row in rows if row['domain'] == 'no-txt.example'] == ['fail']


def test_enforce_readiness_is_counted_and_shown(control):
    ready = dom('ready.example')
    ready['enforce_ready'] = True
    blocked = dom('blocked.example', codes=['tlsrpt-missing'])
    blocked['enforce_ready'] = False
    blocked['enforce_blockers'] = [{'code': 'tlsrpt-missing', 'message': 'no TLS-RPT record'}]
    report = build(control, [ready, blocked, dom('old.example')])
    assert report['verdict']['enforce_ready'] == ['ready.example']
    rows = dict((row['domain'], row) for row in csv.DictReader(io.StringIO(R.render_csv(report), newline='')))
    assert (rows['ready.example']['enforce_ready'], rows['blocked.example']['enforce_ready'],
            rows['old.example']['enforce_ready']) == ('yes', 'no', '')
    assert rows['blocked.example']['enforce_blockers'] == 'tlsrpt-missing'
    page = R.render_html(report)
    assert 'ready for enforce</div>' in page and 'not ready for enforce: <code>tlsrpt-missing</code>' in page
    assert '| Ready for enforce | 1 |' in R.render_markdown(report)


# --- Markdown ----------------------------------------------------------------------------------

def test_md_escapes_table_breakers_and_markup():
    assert R.md('a|b') == 'a\\|b'
    assert R.md('`x`') == '\\`x\\`'
    assert R.md('<script>') == '&lt;script&gt;'
    assert R.md('one\ntwo\r\nthree') == 'one two three'
    assert R.md('[click](javascript:alert(1))') == '\\[click\\](javascript:alert(1))'
    assert R.md('*_~') == '\\*\\_\\~'


@given(st.text(max_size=60))
def test_md_cell_never_breaks_a_table_row(value):
    cell = R.md(value)
    assert '\n' not in cell and '\r' not in cell and '<' not in cell
    assert re.search(r'(?<!\\)\|', cell.replace('\\\\', '')) is None


def test_markdown_table_rows_have_three_cells(control):
    text = R.render_markdown(build(control))
    rows = [line for line in text.split('\n## Domains', 1)[1].split('## What to do')[0].splitlines()
            if line.startswith('| ') and not line.startswith('| Domain')]
    assert len(rows) == 8
    for row in rows:
        assert len(re.findall(r'(?<!\\)\|', row.replace('\\\\', ''))) == 4, row
    assert '&lt;script&gt;' not in text or 'xss.example' in text
    assert '<script>' not in text and '<img' not in text


# --- finding-code reference --------------------------------------------------------------------

def test_finding_code_reference_lists_exactly_the_catalog_codes():
    path = os.path.join(ROOT, 'docs', 'docsite', 'rst', 'finding_codes.rst')
    with open(path) as handle:
        text = handle.read()
    documented = re.findall(r'^``([a-z0-9-]+)``\n\^+$', text, re.M)
    assert sorted(documented) == sorted(CATALOG)
    assert len(documented) == len(set(documented))
    for code, (effect, title, hint) in CATALOG.items():
        section = re.split(r'^``%s``\n\^+$' % re.escape(code), text, flags=re.M)[1].split('\n.. _', 1)[0]
        assert hint.replace('*', '\\*') in section, code
        assert title.replace('*', '\\*') in section, code
