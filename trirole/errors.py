"""The one base class of the failures trirole reports to a user in one line.

Every error that describes a problem the user can fix (an endpoint down, a dataset not
found, a server that did not start, a bad value) derives from `TriroleError`; the command
line prints it as ``trirole <command>: error: <message>`` and exits 1. Anything else that
escapes is a bug and keeps its traceback.
"""


class TriroleError(Exception):
    """A failure with a message that names the problem and the fix."""
