#!/usr/bin/env python3
"""scripts/flaky_upstream.py, listening on every interface of its container (it binds
127.0.0.1 only, which other containers cannot reach). Same flags; run by scripts/compose-check
in the `flaky` service of its compose override, with /opt/flaky holding flaky_upstream.py."""
import sys

sys.path.insert(0, "/opt/flaky")
import flaky_upstream  # noqa: E402


class AnyAddressServer(flaky_upstream.ThreadingHTTPServer):
    def __init__(self, address, handler):
        super().__init__(("0.0.0.0", address[1]), handler)


flaky_upstream.ThreadingHTTPServer = AnyAddressServer
sys.exit(flaky_upstream.main())
