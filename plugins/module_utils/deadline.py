# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hard deadlines for sockets: past its deadline a socket is shut down, whatever call is blocked on it.

A socket timeout bounds each recv(); a server that drips one byte a second never trips it. One
reaper thread per process holds the deadlines of every open connection and shuts down the late ones,
which makes the blocked call (TLS handshake, header read, SMTP reply) fail at once. The reaper
works on a duplicate of the socket's descriptor that it owns: TLS wrapping detaches the original
socket object, and shutdown() acts on the connection, not on one descriptor.
No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import heapq
import itertools
import socket
import threading
import time


class SocketReaper(object):

    def __init__(self):
        self._heap = []
        self._live = {}
        self._counter = itertools.count()
        self._wakeup = threading.Condition()
        self._thread = None

    def watch(self, sock, deadline):
        """Shut ``sock`` down at monotonic time ``deadline`` unless ``forget`` is called first; returns a handle."""
        handle = next(self._counter)
        duplicate = sock.dup()
        with self._wakeup:
            self._live[handle] = duplicate
            heapq.heappush(self._heap, (deadline, handle))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='mta-sts-socket-reaper')
                self._thread.daemon = True
                self._thread.start()
            self._wakeup.notify()
        return handle

    def forget(self, handle):
        with self._wakeup:
            duplicate = self._live.pop(handle, None)
        if duplicate is not None:
            duplicate.close()

    def _run(self):
        while True:
            with self._wakeup:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._wakeup.wait()
                    continue
                deadline, handle = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._wakeup.wait(delay)
                    continue
                heapq.heappop(self._heap)
                sock = self._live.pop(handle, None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # the peer is gone already
                sock.close()


REAPER = SocketReaper()
