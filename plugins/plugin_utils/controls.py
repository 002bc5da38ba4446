# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-only: read the control definitions shipped in the collection's controls/ folder (JSON, read at run time)."""

import json
import os

CONTROLS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'controls')
DEFAULT_CONTROL_ID = 'EDCA-TLS-025'


def load_control(control_id=DEFAULT_CONTROL_ID, controls_dir=CONTROLS_DIR):
    """The control definition as data, read at run time from controls/<id>.json."""
    path = os.path.join(controls_dir, '%s.json' % control_id)
    with open(path, 'rb') as handle:
        return json.loads(handle.read().decode('utf-8'))
