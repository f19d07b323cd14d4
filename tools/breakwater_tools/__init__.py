"""What Breakwater's scripts share, written once (Python 3 standard library plus Debian's
python3-redis): free ports, processes stopped by PID, deadlines, redis-server (plain, AOF+ACL,
TLS, Sentinel), the flaky upstream, the dashboard mock and the stored schema as the binary
reports it (`breakwater schema --json`). `tools/bwtools --help` lists the shell entry points."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
