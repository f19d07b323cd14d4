"""The stored layout of a breaker as the binary reports it (`breakwater schema --json`): key
patterns, fields with their kind and group, script operations. No field list is kept here."""

import json
import os
import subprocess

INTEGER_KINDS = ("count", "milliseconds", "time")   # stored as plain integers


class Schema:
    def __init__(self, doc):
        self.doc = doc
        self.version = doc["schema"]
        self.keys = doc["keys"]
        self.fields = doc["fields"]
        self.operations = doc.get("operations", {})

    def names(self, *kinds, group=None):
        """Field names, optionally only of these kinds and this group, in the schema's order."""
        return [f["name"] for f in self.fields if (not kinds or f["kind"] in kinds) and (group is None or f["group"] == group)]

    def kind(self, name):
        return next((f["kind"] for f in self.fields if f["name"] == name), None)

    def key(self, which, name):
        """key("state", "onchain") -> "cb_state:onchain" (which: state log events stream schedule quota)."""
        return self.keys[which].replace("{name}", name).replace("{group}", name)


def load(breakwater):
    """Runs `breakwater schema --json` (BREAKWATER_SCHEMA_JSON=FILE: that saved output instead)."""
    saved = os.environ.get("BREAKWATER_SCHEMA_JSON")
    if saved:
        with open(saved) as f:
            return Schema(json.load(f))
    try:
        out = subprocess.run([breakwater, "schema", "--json"], capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    except OSError as e:
        raise RuntimeError("%s schema --json: %s" % (breakwater, e))
    if out.returncode != 0:
        raise RuntimeError("%s schema --json: exit %d: %s (a binary without the schema command?)" % (
            breakwater, out.returncode, (out.stderr or out.stdout).strip()[:300]))
    return Schema(json.loads(out.stdout))


def main(argv):
    """`bwtools fields BREAKWATER [KIND...]`: the stored field names, one a line."""
    if not argv:
        raise SystemExit("usage: bwtools fields BREAKWATER [KIND...]")
    print("\n".join(load(argv[0]).names(*argv[1:])))
    return 0
