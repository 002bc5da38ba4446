# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run an action plugin in-process with a real Task and the local connection (no test doubles)."""

import os

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader, init_plugin_loader
from ansible.template import Templar

init_plugin_loader()


def make_action(action_class, args, check_mode=False, diff=False):
    task = Task()
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    play_context = PlayContext()
    loader = DataLoader()
    connection = connection_loader.get('ansible.builtin.local', play_context, os.devnull)
    return action_class(task, connection, play_context, loader, Templar(loader=loader), None)
