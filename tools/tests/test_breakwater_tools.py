"""Tests of tools/breakwater_tools against real processes (redis-server, the flaky upstream):
python3 -m unittest discover -s tools/tests"""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from breakwater_tools import schema  # noqa: E402
from breakwater_tools.daemon import config_text, demo_config  # noqa: E402
from breakwater_tools.proc import Failed, Procs, free_port, http, wait_until  # noqa: E402
from breakwater_tools.redis_server import RedisServer, transaction  # noqa: E402
from breakwater_tools.upstream import Flaky  # noqa: E402

DOC = {"schema": 1, "keys": {"state": "cb_state:{name}", "quota": "cb_quota:{group}"},
       "fields": [{"name": "state", "kind": "state", "group": "core", "summary": ""},
                  {"name": "version", "kind": "count", "group": "core", "summary": ""},
                  {"name": "open_timeout_ms", "kind": "milliseconds", "group": "core", "summary": ""},
                  {"name": "opened_at_ms", "kind": "time", "group": "core", "summary": ""},
                  {"name": "backoff_multiplier", "kind": "number", "group": "policy", "summary": ""},
                  {"name": "forced_note", "kind": "text", "group": "override", "summary": ""}],
       "operations": {"breaker": ["record"]}}


class ToolsTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="breakwater-tools-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.procs = Procs()
        self.addCleanup(self.procs.stop_all)

    def test_wait_until_returns_the_value_or_names_what_did_not_happen(self):
        self.assertEqual(wait_until(lambda: 7, 1), 7)
        self.assertIsNone(wait_until(lambda: 0, 0.1))
        with self.assertRaisesRegex(Failed, "the thing: not within"):
            wait_until(lambda: 1 / 0, 0.1, what="the thing")

    def test_redis_server_starts_answers_and_stops_by_pid(self):
        server = RedisServer(os.path.join(self.dir, "r"), procs=self.procs).start()
        c = server.client()
        c.hset("cb_state:x", mapping={"state": "open", "version": "3"})
        self.assertEqual(transaction(c, [("HGETALL", "cb_state:x"), ("TTL", "cb_state:x")]),
                         [{"state": "open", "version": "3"}, -1])
        server.stop()
        self.assertIsNotNone(server.proc.poll())
        self.assertIsNone(http("http://127.0.0.1:%d/" % server.port, timeout=1)[0])

    def test_flaky_upstream_modes_per_url_and_control(self):
        up = Flaky(os.path.join(self.dir, "flaky.log"), mode="error500", procs=self.procs)
        self.assertEqual(http(up.url)[0], 500)
        self.assertEqual(http(up.base + "/_mode/healthy/status")[0], 200)
        status, body = http(up.base + "/_mode/badutf8")
        self.assertEqual(status, 200)
        self.assertRaises(UnicodeDecodeError, body.decode)
        up.set_mode("healthy")
        self.assertEqual(http(up.url)[0], 200)
        self.assertEqual(up.requests(), 4)
        self.assertEqual([e["path"] for e in up.log_entries("/status")], ["/status", "/status"])
        self.assertRaises(RuntimeError, up.set_mode, "no-such-mode")

    def test_schema_reader_follows_the_documented_format(self):
        path = os.path.join(self.dir, "schema.json")
        with open(path, "w") as f:
            json.dump(DOC, f)
        os.environ["BREAKWATER_SCHEMA_JSON"] = path
        self.addCleanup(os.environ.pop, "BREAKWATER_SCHEMA_JSON")
        s = schema.load("/nonexistent/breakwater")
        self.assertEqual(s.names(*schema.INTEGER_KINDS), ["version", "open_timeout_ms", "opened_at_ms"])
        self.assertEqual(s.names(group="override"), ["forced_note"])
        self.assertEqual(s.key("state", "onchain"), "cb_state:onchain")
        self.assertEqual(s.key("quota", "g1"), "cb_quota:g1")

    def test_schema_reader_says_when_the_binary_cannot_answer(self):
        os.environ.pop("BREAKWATER_SCHEMA_JSON", None)
        with self.assertRaisesRegex(RuntimeError, "schema --json"):
            schema.load("/bin/false")

    @unittest.skipUnless(os.environ.get("BREAKWATER_BIN"), "BREAKWATER_BIN (a breakwater binary) is not set")
    def test_schema_of_the_binary(self):
        os.environ.pop("BREAKWATER_SCHEMA_JSON", None)
        s = schema.load(os.environ["BREAKWATER_BIN"])
        self.assertEqual(s.version, 1)
        self.assertEqual(s.key("state", "x"), "cb_state:x")
        self.assertIn("version", s.names(*schema.INTEGER_KINDS))
        self.assertEqual(s.names("state"), ["state"])

    def test_configs(self):
        port = free_port()
        text = demo_config("ci-1", port, "http://127.0.0.1:9/status", name="cimon")
        self.assertIn("instance_id: ci-1\n", text)
        self.assertIn("listen: 127.0.0.1:%d\n" % port, text)
        self.assertIn("base_url: http://127.0.0.1:9/status\n", text)
        self.assertIn("- name: cimon\n", text)
        text = config_text("i", port, [{"name": "a", "url": "http://u", "breaker": {"trip_quorum": 1}}],
                           ["schedule: per_instance"])
        self.assertIn("    schedule: per_instance\n    breaker:\n      trip_quorum: 1\n", text)


if __name__ == "__main__":
    unittest.main()
