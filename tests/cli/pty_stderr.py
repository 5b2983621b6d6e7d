#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Run a command with its stderr on a pseudo-terminal.

usage: pty_stderr.py OUT ERR -- COMMAND [ARG...]

stdin is /dev/null, stdout goes to the file OUT (not a terminal), stderr
is the slave side of a new pty; everything written there is saved,
byte for byte, to the file ERR. Exits with the command's exit status
(128 + N when killed by signal N).
"""
import os
import pty
import sys


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.stderr.write(__doc__)
        return 2
    out_path, err_path, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
    master, slave = pty.openpty()
    pid = os.fork()
    if pid == 0:
        os.close(master)
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(slave, 2)
        os.execvp(cmd[0], cmd)
    os.close(slave)
    data = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the slave
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    with open(err_path, "wb") as f:
        f.write(data)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
