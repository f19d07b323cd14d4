#!/usr/bin/env python3
"""A stand-in for the daemon's dashboard routes, for developing and testing the page
(tools/breakwater_tools/dashboard_mock.py; routes and options there and in `--help`).

    python3 scripts/dashboard_mock.py --port 9480            # then open http://127.0.0.1:9480/
    python3 scripts/dashboard_mock.py --port 0 --port-file /tmp/p   # a free port, written to a file
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from breakwater_tools import dashboard_mock  # noqa: E402

sys.exit(dashboard_mock.main())
