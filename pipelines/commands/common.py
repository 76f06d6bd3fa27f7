"""The exit-code convention of every `fakespeech` subcommand, in one decorator.

- 0: done.
- 2: a usage or configuration error (argparse's own code): a bad flag, `--set`, preset, config file, or a run
  directory that belongs to another run. Nothing was written.
- 1: a data or runtime error: a missing, corrupt or unreadable input, a full disk, a failed step.
- 130: interrupted (Ctrl-C); the state on disk is intact and the same command resumes.

Errors are one line on stderr, `fakespeech COMMAND: error: ...`, never a traceback for a cause the user can fix.
"""

import functools
import sys

from tfrecord_builder.dataclass_config import ConfigError
from tfrecord_builder.folder_lock import FolderLockedError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def error(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)


def command(prog, failures=(ValueError, OSError, FolderLockedError)):
    """Wraps a subcommand's `main(argv) -> int` with the exit-code convention above.

    Args:
        prog: how the command names itself in messages ("fakespeech train").
        failures: exception types reported as data/runtime errors (exit 1) rather than raised; `ConfigError`
            (a `ValueError`) is always a usage error (exit 2).
    """

    def wrap(body):
        @functools.wraps(body)
        def main(argv=None):
            try:
                return int(body(argv) or 0)
            except ConfigError as exc:
                error(prog, exc)
                return EXIT_USAGE
            except KeyboardInterrupt:
                print(f"{prog}: interrupted; run the same command to resume", file=sys.stderr)
                return EXIT_INTERRUPTED
            except failures as exc:
                error(prog, exc)
                return EXIT_FAILURE

        return main

    return wrap
