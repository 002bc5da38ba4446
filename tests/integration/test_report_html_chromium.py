# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report in headless Chromium, without the lab: the status chart, the trend of earlier runs, the
links of finding codes to their docs entry, the page's own script running, and markup from DNS shown as text."""

import json
import os
import re

from test_report_support import XSS_IMG, XSS_INPUT, XSS_SCRIPT, chromium, needs_chromium

from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import doc_url, finding
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils import report as R
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.controls import load_control


def dom(name, status='pass', codes=(), txt=None):
    return {'input': name, 'domain': name, 'status': status, 'findings': [finding(code, 'seen %s' % code) for code in codes],
            'record': {'name': '_mta-sts.' + name, 'outcome': 'answer', 'txt': txt or ['v=STSv1; id=1;'], 'id': '1'},
            'policy': None, 'mx': None, 'tlsrpt': None}


def runs():
    control = load_control()
    previous = None
    nights = [
        [dom('a.example'), dom('b.example', 'fail', ['txt-missing'])],
        [dom('a.example'), dom('b.example', 'unknown', ['txt-lookup-failed'])],
        [dom('a.example'), dom('b.example'), dom('xss.example', 'fail', ['txt-invalid'], txt=[XSS_SCRIPT, XSS_IMG]),
         {'input': XSS_INPUT, 'domain': None, 'status': 'fail', 'findings': [finding('domain-invalid', XSS_INPUT)],
          'record': None, 'policy': None, 'mx': None, 'tlsrpt': None}],
    ]
    for night, domains in enumerate(nights, 1):
        report = R.build_report(R.merge_domains([{'domains': domains}]), control, version='0.1.0',
                                generated='2026-02-%02dT02:00:00Z' % night, previous=previous)
        previous = json.loads(R.render_json(report))
    return report


@needs_chromium
def test_html_in_chromium_shows_chart_trend_links_and_dns_markup_as_text(tmp_path):
    workdir = str(tmp_path)
    report = runs()
    path = os.path.join(workdir, 'report.html')
    with open(path, 'wb') as handle:
        handle.write(R.render_bytes(report, 'html'))
    url = 'file://' + path
    shot = os.path.join(workdir, 'report.png')
    proc = chromium(['--screenshot=' + shot, '--window-size=1280,1800', url], workdir)
    assert os.path.exists(shot) and os.path.getsize(shot) > 10000, proc.stderr[-2000:]
    page = chromium(['--dump-dom', '--virtual-time-budget=3000', url], workdir).stdout
    # the chart of this run
    arcs = re.findall(r'<circle class="arc" data-status="(\w+)"', page)
    assert sorted(arcs) == sorted(status for status, count in report['verdict']['counts'].items() if count)
    # the trend: three runs, one bar segment per status present in each
    bars = re.findall(r'<rect class="bar bar-(\w+)" data-run="(\d)"', page)
    assert bars == [('fail', '0'), ('pass', '0'), ('unknown', '1'), ('pass', '1'), ('fail', '2'), ('pass', '2')]
    assert len(re.findall(r'<tr data-run="\d">', page)) == 3
    # every finding code links to its entry in the finding reference
    for code in ('txt-invalid', 'domain-invalid'):
        assert 'href="%s"' % doc_url(code) in page
    # the page's own script ran: it filled in the number of rows shown
    assert 'id="shown-count">4<' in page
    # and the markup from DNS and from the input list did not
    assert re.search(r'<title>MTA-STS audit EDCA-TLS-025: FAIL</title>', page)
    assert 'data-xss' not in page.split('<body', 1)[1].split('>', 1)[0]
    assert '&lt;script&gt;document.title="XSS"' in page and '&lt;img src=x onerror=' in page
    assert not re.search(r'<img[^>]*onerror', page) and not re.search(r'<svg[^>]*onload', page)
    assert 'the weighted score is 0% although 2 of 4 judged domains pass' in page
    print('screenshot: %s (%d bytes)' % (shot, os.path.getsize(shot)))
