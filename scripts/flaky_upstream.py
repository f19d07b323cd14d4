#!/usr/bin/env python3
"""A flaky upstream for Breakwater's tests and demo: tools/breakwater_tools/upstream.py
(`--help` lists the modes and control endpoints). Prints "LISTENING <port>" on stdout."""
import os
import sys
from http.server import ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "tools"), HERE]  # HERE: the compose check's container
from breakwater_tools import upstream  # noqa: E402


def main():
    # Looked up when called: deploy/compose-check/flaky_any.py swaps the class for one on every interface.
    return upstream.main(server_class=ThreadingHTTPServer)


if __name__ == "__main__":
    sys.exit(main())
