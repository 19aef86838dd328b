"""Starting `mien` as a user's shell would, for tests that press Ctrl-C.

A shell starts background jobs (`cmd &`, `nohup`, a CI runner's script) with SIGINT ignored, and
a child inherits that: Python then never turns SIGINT into KeyboardInterrupt, and a test that
sends Ctrl-C to `mien` would see it run to the end. A terminal's foreground job has SIGINT at its
default; ``preexec_fn=default_ctrl_c`` gives the child that, wherever the tests themselves run.
"""

from __future__ import annotations

import signal


def default_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
