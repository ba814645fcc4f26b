"""Reads ``motcua doctor --json`` on stdin (tests/system/run.sh, inside a container): prints one line
per role config, its failures and whether each has its fix; exits 0 when every config's broker
check passed and every failure names a fix in Vietnamese and in English."""
import json
import sys

ok = True
for cfg in json.load(sys.stdin):
    checks = {c["name"]: c for c in cfg["checks"]}
    fails = [c for c in cfg["checks"] if c["result"] == "FAIL"]
    unfixed = [c["name"] for c in fails if not (c["fix_vi"] and c["fix_en"])]
    broker = checks.get("broker", {}).get("result")
    ok = ok and broker == "ok" and not unfixed
    print(f"{cfg['role']}: {len(cfg['checks'])} checks, broker {broker}, failed: "
          f"{', '.join(c['name'] for c in fails) or 'none'}{'; without a fix: ' + ', '.join(unfixed) if unfixed else ''}")
sys.exit(0 if ok else 1)
