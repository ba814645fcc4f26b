"""``motcua camera-agent``: run | replay | evaluate | calibrate. A thin layer over the library."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from common.config import load_config
from common.errors import ConfigError

from .config import CameraAgentConfig, DetectionConfig, HoldConfig
from .errors import CameraAgentError
from .zones import parse_zone_option

log = logging.getLogger(__name__)

ZONE_EXAMPLE = "seat=0.40,0.30,0.72,0.30,0.72,0.97,0.40,0.97"
CLIP = "../shared/testdata/desk_video/seated_person_160x120.avi"

EXAMPLES = {
    "run": "motcua camera-agent run --config /etc/motcua/camera.toml",
    "replay": f"motcua camera-agent replay --source {CLIP} --fps 4 --zone {ZONE_EXAMPLE}",
    "evaluate": (f"motcua camera-agent evaluate --source {CLIP} --fps 4 --zone {ZONE_EXAMPLE} "
                 f"--labels ../shared/testdata/desk_video/labels.csv"),
    "calibrate": "motcua camera-agent calibrate --config /etc/motcua/camera.toml --output /tmp/zones.png",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="motcua camera-agent",
        description="Có mặt tại quầy từ camera; chỉ số liệu tóm tắt rời thiết bị. / "
                    "Desk presence from a camera; only summaries leave the device.",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {EXAMPLES[name]}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    run = add("run", "chạy trực tiếp / the live agent (default): camera -> presence events, retained desk state, summaries")
    run.add_argument("--config", required=True, type=Path, help="camera agent config (TOML)")
    run.add_argument("--check-config", action="store_true", help="validate the config and exit")

    for name, help_ in (("replay", "chạy lại bản ghi / process a recorded source as fast as possible; one JSON line per "
                                   "state change, then frames and ms_per_frame"),
                        ("evaluate", "chấm điểm theo nhãn / replay and score against labels: precision, recall, F1 per zone, "
                                     "delay of each change, ms per frame; then one JSON line")):
        sp = add(name, help_)
        sp.add_argument("--source", required=True, help="video file, image-sequence pattern or URL")
        sp.add_argument("--fps", required=True, type=float, help="treat the source as N frames per second")
        sp.add_argument("--zone", required=True, action="append", metavar="NAME=x1,y1,x2,y2,x3,y3[,...]",
                        help="a zone polygon, coordinates relative to the frame (0..1); repeatable")
        sp.add_argument("--config", type=Path, help="take [detection] and [hold] from this camera config")
        sp.add_argument("--enter-s", type=float, help="enter hold time in seconds (default 1.0)")
        sp.add_argument("--leave-s", type=float, help="leave hold time in seconds (default 2.0)")
        if name == "evaluate":
            sp.add_argument("--labels", required=True, type=Path,
                            help="CSV start_frame,end_frame,present[,zone] (inclusive frame ranges)")
            sp.add_argument("--tolerance-s", type=float, default=3.0,
                            help="frames this close to a true change are not scored (default 3)")

    cal = add("calibrate", "hiệu chỉnh vùng / save an annotated snapshot PNG with the zones drawn (nothing is published)")
    cal.add_argument("--config", required=True, type=Path, help="camera agent config (TOML)")
    cal.add_argument("--output", type=Path, help="PNG path (default: snapshot_path from the config)")
    cal.add_argument("--source", help="override source.uri, e.g. a file to check zones on")
    return p


def _tuning(args: argparse.Namespace) -> tuple[DetectionConfig, HoldConfig]:
    detection, hold = DetectionConfig(), HoldConfig()
    if args.config:
        cfg = load_config(args.config, CameraAgentConfig)
        detection, hold = cfg.detection, cfg.hold
    if args.enter_s is not None or args.leave_s is not None:
        hold = HoldConfig(enter_s=hold.enter_s if args.enter_s is None else args.enter_s,
                          leave_s=hold.leave_s if args.leave_s is None else args.leave_s)
    return detection, hold


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def cmd_replay(args: argparse.Namespace) -> int:
    from .offline import replay
    zones = [parse_zone_option(z) for z in args.zone]
    detection, hold = _tuning(args)
    result = replay(args.source, args.fps, zones, detection=detection, hold=hold,
                    on_change=lambda c: _emit(c.as_dict()))
    _emit(result.summary())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .offline import evaluate, iter_report
    zones = [parse_zone_option(z) for z in args.zone]
    detection, hold = _tuning(args)
    report = evaluate(args.source, args.fps, zones, args.labels, detection=detection, hold=hold,
                      tolerance_s=args.tolerance_s)
    for line in iter_report(report):
        print(line)
    _emit(report)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import snapshot
    from .evidence import make_detector
    from .sources import open_source
    cfg = load_config(args.config, CameraAgentConfig)
    src = open_source(args.source or cfg.source.uri, cfg.source.width, cfg.source.height)
    try:
        out, evidence = snapshot(src, cfg.zones(), args.output or cfg.snapshot_path,
                                 detector=make_detector(cfg.detection.person_detector),
                                 region_height=cfg.detection.detect_height)
    finally:
        src.close()
    print(f"Đã lưu ảnh hiệu chỉnh / calibration snapshot saved: {out}")
    for z in cfg.zones():
        print(f"  {z.label}: {', '.join(f'({x:g}, {y:g})' for x, y in z.polygon)}")
        boxes = evidence.get(z.name, [])
        found = ", ".join(f"{d.kind} {d.score:.1f} at ({d.x}, {d.y}, {d.w}x{d.h})" for d in boxes)
        print(f"    người thấy được / person evidence: {found or 'không có / none'}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from common.clock import SystemClock
    from common.logs import setup_logging
    from common.systemd import Notifier
    from mqtt.client import DeviceClient
    from mqtt.outbox import Outbox

    from .agent import CameraAgent, MqttSink
    from .person import make_person_check
    from .presence import PresencePipeline
    from .sources import CameraSupervisor, open_source

    cfg = load_config(args.config, CameraAgentConfig)
    if args.check_config:
        print(f"{args.config}: hợp lệ / OK ({len(cfg.zones())} zone(s) on {len(cfg.desks)} desk(s))")
        return 0
    setup_logging()
    clock = SystemClock()
    outbox = Outbox(cfg.state_dir / "camera-agent-outbox.db", cfg.site, cfg.device, clock=clock)
    holder: dict[str, CameraAgent] = {}
    client = DeviceClient(cfg.site, cfg.device, "camera-agent", cfg.mqtt, outbox=outbox, clock=clock,
                          telemetry_interval_s=cfg.report.telemetry_interval_s,
                          telemetry_extra=lambda: holder["agent"].telemetry_extra() if holder else {})
    sink = MqttSink(client, outbox)
    src = cfg.source
    camera = CameraSupervisor(lambda: open_source(src.uri, src.width, src.height), clock,
                              lambda active, detail: holder["agent"].on_camera_fault(active, detail),
                              reopen_min_s=src.reopen_min_s, reopen_max_s=src.reopen_max_s,
                              lost_after_s=src.lost_after_s)
    pipeline = PresencePipeline(cfg.zones(), cfg.detection, cfg.hold,
                                person_check=make_person_check(cfg.detection))
    agent = holder["agent"] = CameraAgent(cfg, camera, clock, sink, pipeline=pipeline, notifier=Notifier())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    client.start()
    try:
        agent.run(stop)
    finally:
        camera.close()
        client.flush(timeout=3.0)
        client.stop()
        outbox.close()
    return 0


COMMANDS = {"run": cmd_run, "replay": cmd_replay, "evaluate": cmd_evaluate, "calibrate": cmd_calibrate}


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help"):
        args_list.insert(0, "run")  # `motcua camera-agent --config X` runs the live agent
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"Lỗi cấu hình / config error:\n{exc}", file=sys.stderr)
        return 2
    except (CameraAgentError, ValueError, OSError) as exc:
        print(f"motcua camera-agent {args.command}: Lỗi / error: {exc}", file=sys.stderr)
        return 1
