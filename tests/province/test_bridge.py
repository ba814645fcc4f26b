"""Sites forward to the province over a real Mosquitto bridge (TLS, per-site login, ACL)."""
from __future__ import annotations

import time
from collections import Counter

from tests.province.conftest import OTHER, SITE, Province, Sub, wait_for

T = f"motcua/v1/{SITE}"


def test_events_arrive_once_per_publish(province: Province) -> None:
    central = province.central_sub()
    dev = province.device()
    sent = [f"rating-{i}".encode() for i in range(50)]
    for p in sent:
        dev.publish(f"{T}/dev/rt-01/evt/rating", p)
    assert wait_for(lambda: len(central.payloads(f"{T}/dev/rt-01/evt/")) >= len(sent), 30)
    time.sleep(1.0)  # any duplicate would have come by now
    got = Counter(central.payloads(f"{T}/dev/rt-01/evt/"))
    assert got == Counter(sent)
    dev.close()
    central.close()


def test_retained_status_and_state_arrive_retained(province: Province) -> None:
    dev = province.device()
    ticketing = province.server("ticketing")
    dev.publish(f"{T}/dev/rt-01/status", b'{"online":true}', retain=True)
    ticketing.publish(f"{T}/state/calls", b'{"calls":[]}', retain=True)
    live = province.central_sub()
    ticketing.publish(f"{T}/state/desk/1", b'{"desk":1}', retain=True)
    assert wait_for(lambda: f"{T}/state/desk/1" in [t for t, _, _ in live.got], 20)
    live.close()
    late = province.central_sub()  # subscribes after: gets what the central broker retained
    assert wait_for(lambda: {f"{T}/dev/rt-01/status", f"{T}/state/calls", f"{T}/state/desk/1"}
                    <= {t for t, _, r in late.got if r}, 20), late.got
    retained = {t: p for t, p, r in late.got if r}
    assert retained[f"{T}/dev/rt-01/status"] == b'{"online":true}'
    assert retained[f"{T}/state/calls"] == b'{"calls":[]}'
    late.close()
    dev.close()
    ticketing.close()


def test_link_cut_then_restored_delivers_everything_queued(province: Province) -> None:
    central = province.central_sub()
    dev = province.device()
    province.link.cut()
    link = Sub(province.site.port, "collector", _collector_pw(province), name="watch")
    assert link.connect()
    time.sleep(1.0)  # the bridge sees its socket closed at once; its reconnections are refused
    sent = [f"offline-{i}".encode() for i in range(300)]
    for p in sent:
        dev.publish(f"{T}/dev/rt-01/evt/rating", p)
    time.sleep(3.0)  # several refused reconnections while the site keeps producing
    assert not [p for p in central.payloads() if p.startswith(b"offline-")], "the link was cut"
    province.link.restore()
    assert wait_for(lambda: len([p for p in central.payloads() if p.startswith(b"offline-")]) >= len(sent), 90), \
        f"{len(central.payloads())} arrived; site log: {province.site.log_path.read_text()[-2000:]}"
    time.sleep(1.0)
    got = Counter(p for p in central.payloads() if p.startswith(b"offline-"))
    assert got == Counter(sent), "every queued event once, none lost"
    link.close()
    dev.close()
    central.close()


def _collector_pw(province: Province) -> str:
    import tomllib
    return str(tomllib.loads((province.site_root / "etc/motcua/collector.toml").read_text())["mqtt"]["password"])


def test_a_site_cannot_publish_as_another_site(province: Province) -> None:
    central = province.central_sub()
    forger = Sub(province.central.tls_port, SITE, province.site_password(SITE), ca=province.ca, name="forger")
    assert forger.connect(), forger.rc
    forger.publish(f"motcua/v1/{OTHER}/dev/rt-01/evt/rating", b"forged")
    forger.publish(f"motcua/v1/{OTHER}/state/calls", b"forged", retain=True)
    forger.publish(f"motcua/link/{OTHER}", b"1")
    forger.publish(f"{T}/dev/rt-01/evt/rating", b"own-marker")  # after the forgeries, on one connection
    assert wait_for(lambda: b"own-marker" in central.payloads(), 20)
    time.sleep(0.5)
    assert not [t for t, _, _ in central.got if OTHER in t], central.got
    assert "denied PUBLISH" in province.central_log() or "Denied PUBLISH" in province.central_log()
    forger.close()
    central.close()


def test_wrong_password_and_plain_connection_are_refused(province: Province) -> None:
    bad = Sub(province.central.tls_port, OTHER, "wrong", ca=province.ca, name="bad")
    assert not bad.connect()
    bad.close()
    plain = Sub(province.central.tls_port, SITE, province.site_password(SITE), name="plain")
    try:
        ok = plain.connect()
    except OSError:
        ok = False
    assert not ok, "the TLS listener must not accept plain MQTT"
    plain.close()


def test_central_broker_down_then_back_delivers_everything_queued(province: Province) -> None:
    """The central broker stops (maintenance, crash with a clean save) while the site produces; its
    persistent sessions come back from its persistence file and the site's queue drains into them."""
    central = province.central_sub(durable=True)
    dev = province.device()
    province.central.stop()
    time.sleep(1.0)
    sent = [f"central-down-{i}".encode() for i in range(200)]
    for p in sent:
        dev.publish(f"{T}/dev/rt-01/evt/rating", p)
    time.sleep(2.0)
    province.central.start()
    assert wait_for(lambda: len([p for p in central.payloads() if p.startswith(b"central-down-")]) >= len(sent), 90), \
        f"site log: {province.site.log_path.read_text()[-2000:]}"
    time.sleep(1.0)
    assert Counter(p for p in central.payloads() if p.startswith(b"central-down-")) == Counter(sent)
    assert province.bridge_up()
    dev.close()
    central.close()
