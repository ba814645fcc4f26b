"""Bench of the camera agent's default pipeline at 640x480.

1. decode-only pass over an MJPG file of 640x480 frames (what USB webcams deliver);
2. the same frames through the default presence pipeline: ms per frame, ratio to decoding;
3. a live-like run paced at 5 fps: frames per second reached, CPU share, RSS.

Frames: the Wallflower clip from ../shared/testdata (scaled to 640x480) when present, else a
numpy-drawn scene with a moving person. Pinned to one core with OpenCV single-threaded.

    .venv/bin/python bench/camera_agent.py [--live-s 20] [--fps 5]

The last line is one JSON object (keys carry units).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from camera_agent.presence import PresencePipeline  # noqa: E402
from camera_agent.zones import PresenceZone  # noqa: E402

CLIP = ROOT.parent / "shared" / "testdata" / "desk_video" / "seated_person_160x120.avi"
SEAT = PresenceZone("seat", ((0.40, 0.30), (0.72, 0.30), (0.72, 0.97), (0.40, 0.97)), 1, "officer")
CITIZEN = PresenceZone("citizen", ((0.05, 0.40), (0.35, 0.40), (0.35, 0.95), (0.05, 0.95)), 1, "citizen")
W, H = 640, 480


def make_frames(n: int) -> tuple[list[np.ndarray], str]:
    if CLIP.exists():
        cap = cv2.VideoCapture(str(CLIP))
        frames = []
        while len(frames) < n:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR))
        cap.release()
        if frames:
            return frames, f"{CLIP.name} scaled to {W}x{H}"
    rng = np.random.default_rng(0)
    bg = cv2.resize(rng.uniform(80, 180, (30, 40)).astype(np.float32), (W, H))
    frames = []
    for i in range(n):
        img = bg.copy()
        x = int(100 + 300 * (0.5 + 0.5 * np.sin(i / 40)))
        cv2.rectangle(img, (x, 150), (x + 110, 440), 50, -1)
        cv2.circle(img, (x + 55, 120), 30, 170, -1)
        img += rng.normal(0, 2, img.shape).astype(np.float32)
        frames.append(cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR))
    return frames, f"synthetic {W}x{H} scene"


def write_mjpg(frames: list[np.ndarray], path: Path) -> None:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (W, H))
    for f in frames:
        vw.write(f)
    vw.release()


def decode_pass(path: Path) -> tuple[float, int]:
    cap = cv2.VideoCapture(str(path))
    n, t0 = 0, time.perf_counter()
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    dt = time.perf_counter() - t0
    cap.release()
    return 1000 * dt / max(n, 1), n


def pipeline_pass(path: Path, fps: float) -> tuple[float, int]:
    cap = cv2.VideoCapture(str(path))
    pipe = PresencePipeline([SEAT, CITIZEN])
    n, busy = 0, 0.0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        t0 = time.perf_counter()
        pipe.process(f, n / fps)
        busy += time.perf_counter() - t0
        n += 1
    cap.release()
    return 1000 * busy / max(n, 1), n


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def live_run(path: Path, fps: float, seconds: float) -> dict[str, float]:
    """Decode + process paced at ``fps`` like the live loop; CPU share of one core."""
    cap = cv2.VideoCapture(str(path))
    pipe = PresencePipeline([SEAT, CITIZEN])
    period = 1.0 / fps
    start_wall, start_cpu = time.monotonic(), time.process_time()
    n = 0
    while time.monotonic() - start_wall < seconds:
        tick = time.monotonic()
        ok, f = cap.read()
        if not ok:
            cap.release()
            cap = cv2.VideoCapture(str(path))
            ok, f = cap.read()
        pipe.process(f, tick - start_wall)
        n += 1
        time.sleep(max(0.0, period - (time.monotonic() - tick)))
    wall = time.monotonic() - start_wall
    cpu = time.process_time() - start_cpu
    cap.release()
    return {"fps": n / wall, "cpu_share": cpu / wall, "rss_mb": rss_mb()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=600, help="frames for the timing passes")
    ap.add_argument("--fps", type=float, default=5.0, help="live pacing")
    ap.add_argument("--live-s", type=float, default=20.0, help="seconds of the live-like run")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    frames, what = make_frames(args.frames)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.avi"
        write_mjpg(frames, path)
        del frames
        decode_pass(path)  # warm caches
        decode_ms, n = decode_pass(path)
        pipe_ms, _ = pipeline_pass(path, args.fps)
        live = live_run(path, args.fps, args.live_s)
    result = {
        "frames": n, "source": what, "resolution": f"{W}x{H}", "zones": 2,
        "ms_per_frame": round(pipe_ms, 3), "decode_ms_per_frame": round(decode_ms, 3),
        "decode_ratio": round(pipe_ms / decode_ms, 3) if decode_ms else None,
        "fps": round(live["fps"], 2), "cpu_share": round(live["cpu_share"], 4),
        "rss_mb": round(live["rss_mb"], 1), "live_s": args.live_s, "target_ms_per_frame": 10.0,
        "cores": 1, "opencv": cv2.__version__,
    }
    print(f"{what}: {n} frames, pipeline {pipe_ms:.2f} ms/frame, decoding {decode_ms:.2f} ms/frame "
          f"(pipeline/decode {result['decode_ratio']}); live at {args.fps:g} fps: {live['fps']:.2f} fps, "
          f"CPU {100 * live['cpu_share']:.1f}% of one core, RSS {live['rss_mb']:.0f} MB")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
