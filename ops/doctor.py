"""``motcua doctor``: check this device's role end to end and say how to fix each failure.

Each check returns a :class:`Check` (ok / FAIL / skip, a detail, a fix in Vietnamese and in
English). Hardware and OS edges are injected (pin factory, clock check, the time sync service's
client, systemctl, environment) so tests use gpiozero's MockFactory, a pty printer and a private
broker.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import subprocess
import threading
import tomllib
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from .roles import Role

log = logging.getLogger(__name__)

OK, FAIL, SKIP = "ok", "FAIL", "skip"
MIN_FREE_MB = 200


class Check(NamedTuple):
    name: str
    result: str
    detail: str
    fix_vi: str = ""
    fix_en: str = ""


def _walk(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _walk(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _walk(v, f"{prefix}[{i}]")
    else:
        yield prefix, tree


def lookup(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def gpio_pins(raw: dict[str, Any], patterns: tuple[str, ...] = ()) -> list[tuple[str, int | str]]:
    """Every GPIO pin in a config: the role's own key patterns plus keys named pin/*_pin/pins."""
    from .roles import COMMON_PINS
    found = []
    for key, value in _walk(raw):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            continue
        if any(fnmatch.fnmatchcase(key, p) for p in patterns + COMMON_PINS):
            found.append((key, value))
    return found


def _time_sync_installed() -> bool:
    return any(Path(p).exists() for p in ("/lib/systemd/systemd-timesyncd", "/usr/lib/systemd/systemd-timesyncd",
                                          "/usr/sbin/chronyd", "/usr/sbin/ntpd")) or shutil.which("chronyc") is not None


# systemd-timesyncd touches this file once it has synchronised the clock (systemd-time-wait-sync reads it)
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")


class Doctor:
    """The checks for one config file of one role."""

    def __init__(self, path: str | Path, role: Role, *, timeout_s: float = 3.0,
                 pin_factory: Any = None, clock_synced: Callable[[], bool] | None = None,
                 systemctl: str | None = "systemctl", env: dict[str, str] | None = None,
                 time_sync_installed: Callable[[], bool] | None = None, chronyc: str | None = "chronyc",
                 timesyncd_flag: Path = TIMESYNCD_FLAG):
        self.path = Path(path)
        self.role = role
        self.timeout_s = timeout_s
        self.pin_factory = pin_factory
        self.clock_synced = clock_synced
        self.time_sync_installed = time_sync_installed or _time_sync_installed
        self.chronyc = chronyc
        self.timesyncd_flag = timesyncd_flag
        self.systemctl = systemctl
        self.env = dict(os.environ if env is None else env)
        self.raw: dict[str, Any] = {}

    # ------------------------------------------------------------------ running
    def run(self) -> list[Check]:
        checks = [self.check_config()]
        steps: list[Callable[[], Check]] = [self.check_broker, self.check_clock, self.check_disk,
                                            self.check_state_dir]
        if self.pins() or self.role.name == "rating-terminal":
            steps.append(self.check_gpio)
        if self.role.name == "camera" or "source" in self.raw or "camera" in self.raw:
            steps.append(self.check_camera)
        if "printer" in self.raw:
            steps.append(self.check_printer)
        if self.role.name == "portal":
            steps.append(self.check_ticket_secret)
        if self.role.unit:
            steps.append(self.check_watchdog)
        for step in steps:
            try:
                checks.append(step())
            except Exception as exc:  # a check that crashes is a failure to report, not a crash
                log.exception("doctor check %s crashed", step.__name__)
                checks.append(Check(step.__name__.removeprefix("check_"), FAIL, f"check crashed: {exc!r}",
                                    "Báo lỗi này cho nhóm phát triển", "Report this to the developers"))
        return checks

    # ------------------------------------------------------------------ checks
    def check_config(self) -> Check:
        from .checkconfig import check_file
        try:
            self.raw = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            pass
        res = check_file(self.path, self.role)
        if res.problems:
            return Check("config", FAIL, "; ".join(res.problems),
                         f"Sửa tệp {self.path} theo dòng báo lỗi (motcua check-config {self.path})",
                         f"Fix {self.path} at the line named (motcua check-config {self.path})")
        return Check("config", OK, res.summary)

    def pins(self) -> list[tuple[str, int | str]]:
        return gpio_pins(self.raw, self.role.pins)

    def _broker(self) -> Any:
        from mqtt.client import BrokerConfig
        table = dict(self.raw.get("mqtt") or {})
        url = lookup(self.raw, self.role.keys.get("url", "mqtt.url"))
        if isinstance(url, str):
            table["url"] = url
        return BrokerConfig.model_validate(table)

    def check_broker(self) -> Check:
        import ssl

        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion
        cfg = self._broker()
        host, port, tls = cfg.endpoint()
        fix_net = ("Kiểm tra máy chủ đã bật, Mosquitto đang chạy (systemctl status mosquitto), địa chỉ "
                   f"{cfg.url} đúng và mạng thông", "Check the server is on, Mosquitto runs (systemctl status "
                   f"mosquitto), the URL {cfg.url} is right and the network reaches it")
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"motcua-doctor-{uuid.uuid4().hex[:8]}",
                             protocol=paho.MQTTv5)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if tls:
            try:
                ctx = ssl.create_default_context(cafile=cfg.ca_file)
                if cfg.cert_file:
                    ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
            except (OSError, ssl.SSLError) as exc:
                return Check("broker", FAIL, f"TLS files: {exc}", "Chép lại ca.crt và chứng chỉ thiết bị từ "
                             "máy chủ (motcua provision-device --tls)", "Copy ca.crt and the device certificate "
                             "again from the server (motcua provision-device --tls)")
            client.tls_set_context(ctx)
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            outcome["rc"] = rc
            done.set()

        client.on_connect = on_connect
        client.connect_timeout = self.timeout_s
        try:
            client.connect(host, port, keepalive=10)
        except ConnectionRefusedError:
            # the machine answers but nothing listens: the broker itself is down
            return Check("broker", FAIL, f"{cfg.url}: connection refused: Mosquitto is not running on {host}:{port}",
                         f"Khởi động lại Mosquitto trên máy chủ {host}: sudo systemctl restart mosquitto; xem lỗi: journalctl -u "
                         "mosquitto -n 30 (tệp mật khẩu/ACL đọc được? sudo ./setup.sh --role server ...)",
                         f"On the server {host}: sudo systemctl restart mosquitto; its errors: journalctl -u "
                         "mosquitto -n 30 (password/ACL files readable? sudo ./setup.sh --role server ...)")
        except (OSError, ssl.SSLError) as exc:
            return Check("broker", FAIL, f"{cfg.url}: {exc}", *fix_net)
        client.loop_start()
        try:
            if not done.wait(self.timeout_s):
                return Check("broker", FAIL, f"{cfg.url}: no answer within {self.timeout_s:g} s", *fix_net)
        finally:
            client.disconnect()
            client.loop_stop()
        rc = outcome["rc"]
        if rc.is_failure:
            return Check("broker", FAIL, f"{cfg.url} refused user {cfg.username!r}: {rc}",
                         "Cấp lại mật khẩu trên máy chủ: motcua provision-device --site ... --device "
                         f"{cfg.username} --replace, rồi sửa [mqtt] trong {self.path}",
                         "Issue new credentials on the server (motcua provision-device ... --replace) "
                         f"and update [mqtt] in {self.path}")
        return Check("broker", OK, f"{cfg.url} as {cfg.username or '(anonymous)'}")

    def check_clock(self) -> Check:
        """The time sync service's own word first (chrony, systemd-timesyncd), then the kernel's
        flag, which is what the role's events carry as clock_synced."""
        from common.clock import kernel_clock_synced
        kernel = (self.clock_synced or kernel_clock_synced)()
        service = self._time_service()
        if service is not None:
            if service.result == OK and not kernel:
                return service._replace(detail=service.detail + "; the kernel's flag is not set (chronyd -x, or a "
                                        "container sharing its host's clock): events carry clock_synced=false")
            return service
        if kernel:
            return Check("clock", OK, "synchronised by NTP")
        detail = "clock not synchronised (events carry clock_synced=false)"
        if not self.time_sync_installed():
            return Check("clock", FAIL, detail + "; no time sync service is installed",
                         "Cài dịch vụ đồng bộ giờ: sudo apt install systemd-timesyncd, rồi sudo timedatectl "
                         "set-ntp true (Pi không có pin giữ giờ)",
                         "Install time sync: sudo apt install systemd-timesyncd, then sudo timedatectl set-ntp true "
                         "(the Pi has no battery clock)")
        return Check("clock", FAIL, detail,
                     "Bật đồng bộ giờ: sudo timedatectl set-ntp true; kiểm tra mạng tới máy chủ NTP",
                     "Enable time sync: sudo timedatectl set-ntp true; check the NTP server is reachable")

    def _time_service(self) -> Check | None:
        """What chrony (``chronyc -n tracking``) or systemd-timesyncd says; None: no service to ask."""
        exe = shutil.which(self.chronyc) if self.chronyc else None
        if exe is None:
            if self.timesyncd_flag.exists():
                return Check("clock", OK, "synchronised by systemd-timesyncd")
            return None
        restart = ("Khởi động lại dịch vụ giờ: sudo systemctl restart chrony; xem journalctl -u chrony",
                   "Restart the time service: sudo systemctl restart chrony; see journalctl -u chrony")
        try:
            proc = subprocess.run([exe, "-n", "tracking"], capture_output=True, text=True, timeout=self.timeout_s + 2)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Check("clock", FAIL, f"chronyc does not answer ({exc}): clock sync unknown", *restart)
        if proc.returncode != 0:
            said = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[0]
            return Check("clock", FAIL, f"chronyd does not answer ({said}): the clock is not kept synchronised",
                         *restart)
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in proc.stdout.splitlines()) if v}
        leap = fields.get("Leap status", "?")
        if leap == "Normal":
            return Check("clock", OK, f"synchronised by chrony (reference {fields.get('Reference ID', '?')}, "
                         f"{fields.get('System time', '?')})")
        return Check("clock", FAIL, f"clock not synchronised: chrony's leap status is {leap!r} (events carry "
                     "clock_synced=false)",
                     "Kiểm tra nguồn giờ: chronyc sources -v; mạng tới máy chủ NTP; sudo systemctl restart chrony",
                     "Check the time sources: chronyc sources -v; the network to the NTP server; "
                     "sudo systemctl restart chrony")

    def state_dir(self) -> Path:
        value = lookup(self.raw, self.role.keys.get("state", "state_dir"))
        if isinstance(value, str):
            p = Path(value)
            return p.parent if p.suffix in (".db", ".sqlite", ".sqlite3") else p
        for _, value in _walk(self.raw):
            if isinstance(value, str) and value.endswith((".db", ".sqlite")):
                return Path(value).parent
        return Path("/var/lib/motcua")

    def check_disk(self) -> Check:
        where = self.state_dir()
        probe = where
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        free_mb = usage.free / 1e6
        detail = f"{free_mb:,.0f} MB free of {usage.total / 1e6:,.0f} MB at {probe}"
        if free_mb < MIN_FREE_MB:
            return Check("disk", FAIL, detail, "Giải phóng dung lượng (sudo journalctl --vacuum-size=50M) "
                         "hoặc thay thẻ nhớ lớn hơn", "Free space (sudo journalctl --vacuum-size=50M) or "
                         "use a larger SD card")
        return Check("disk", OK, detail)

    def check_state_dir(self) -> Check:
        where = self.state_dir()
        fix = (f"Tạo thư mục và cấp quyền: sudo install -d -o motcua -g motcua {where}",
               f"Create it for the service user: sudo install -d -o motcua -g motcua {where}")
        if not where.is_dir():
            return Check("state dir", FAIL, f"{where} does not exist", *fix)
        probe = where / f".motcua-doctor-{os.getpid()}"
        try:
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            return Check("state dir", FAIL, f"{where} not writable: {exc.strerror}", *fix)
        return Check("state dir", OK, f"{where} writable")

    def check_ticket_secret(self) -> Check:
        """The portal's ticket-token secret (the kiosks' ticket_secret): without it no QR link opens."""
        if self.raw.get("secret"):
            return Check("ticket secret", OK, "secret in the config file")
        where = Path(str(self.raw.get("secret_file") or ""))
        fix = ("Tạo lại bằng sudo ./setup.sh --role server ... (portal-init), rồi đặt cùng giá trị vào ticket_secret "
               "của mọi kiosk.toml", "Make it with sudo ./setup.sh --role server ... (portal-init), then set the "
               "same value as ticket_secret in every kiosk.toml")
        try:
            lines = where.read_text().splitlines() if where.is_file() else []
        except OSError as exc:
            return Check("ticket secret", FAIL, f"{where} not readable: {exc}", *fix)
        first = lines[0].strip() if lines else ""
        if len(first) < 16:
            return Check("ticket secret", FAIL, f"{where}: missing or shorter than 16 characters", *fix)
        return Check("ticket secret", OK, f"{where} ({len(first)} characters)")

    def check_gpio(self) -> Check:
        pins = self.pins()
        if not pins:
            return Check("gpio", SKIP, "no pins in the config")
        from gpiozero import Device, InputDevice
        from gpiozero.exc import GPIOZeroError
        fix_board = ("Chạy trên Raspberry Pi có lgpio (Raspberry Pi OS: sudo apt install python3-lgpio; Debian: "
                     "setup.sh cài lgpio từ PyPI); không có /dev/gpiochip* thì không có chân GPIO",
                     "Run on a Raspberry Pi with lgpio (Raspberry Pi OS: sudo apt install python3-lgpio; Debian: "
                     "setup.sh installs lgpio from PyPI); no /dev/gpiochip* means no GPIO here")
        try:
            factory = self.pin_factory or Device.ensure_pin_factory()
        except GPIOZeroError as exc:
            return Check("gpio", FAIL, f"no GPIO on this machine: {exc}", *fix_board)
        seen: dict[str, str] = {}
        problems = []
        opened = []
        for key, pin in pins:
            name = str(pin)
            if name in seen:
                problems.append(f"{key}: pin {pin} also used by {seen[name]}")
                continue
            seen[name] = key
            try:
                opened.append(InputDevice(pin, pin_factory=factory))
            except (GPIOZeroError, ValueError) as exc:
                problems.append(f"{key}: {exc}")
        for dev in opened:
            dev.close()
        if problems:
            return Check("gpio", FAIL, "; ".join(problems),
                         "Sửa số chân GPIO trong tệp cấu hình (số BCM, mỗi chân một việc); nếu dịch vụ đang "
                         f"chạy thì dừng trước: sudo systemctl stop {self.role.unit}",
                         "Fix the GPIO numbers in the config (BCM numbers, one use each); if the service is "
                         f"running stop it first: sudo systemctl stop {self.role.unit}")
        return Check("gpio", OK, f"{len(seen)} pins free and valid: {', '.join(seen)}")

    def check_camera(self) -> Check:
        src = self.raw.get("source", {}).get("uri") if isinstance(self.raw.get("source"), dict) else None
        if src is None and isinstance(self.raw.get("camera"), dict):
            src = self.raw["camera"].get("source") or self.raw["camera"].get("uri")
        src = "0" if src is None else str(src)
        fix = ("Kiểm tra cáp camera, bật camera (sudo raspi-config), thử: rpicam-hello; nguồn trong [source] uri",
               "Check the camera cable and that it is enabled (sudo raspi-config), try rpicam-hello; "
               "the source is [source] uri")
        if src == "picamera2":
            try:
                from picamera2 import Picamera2  # type: ignore[import-not-found]
                cam = Picamera2()
                cam.start()
                frame = cam.capture_array()
                cam.close()
                return Check("camera", OK, f"picamera2 frame {frame.shape[1]}x{frame.shape[0]}")
            except Exception as exc:  # picamera2 raises many kinds
                return Check("camera", FAIL, f"picamera2: {exc}", *fix)
        import cv2
        cap = cv2.VideoCapture(int(src) if src.isdigit() else src)
        try:
            if not cap.isOpened():
                return Check("camera", FAIL, f"cannot open {src!r}", *fix)
            ok, frame = cap.read()
            if not ok or frame is None:
                return Check("camera", FAIL, f"{src!r} opens but gives no frame", *fix)
            return Check("camera", OK, f"{src!r} gives frames {frame.shape[1]}x{frame.shape[0]}")
        finally:
            cap.release()

    def check_printer(self) -> Check:
        p = self.raw.get("printer", {})
        port = next((p[k] for k in ("port", "device", "serial", "path") if isinstance(p.get(k), str)), None)
        if p.get("kind", "serial") != "serial":
            return Check("printer", SKIP, f"{p.get('kind')} printer: status is checked when printing")
        if not port or not (port.startswith("/") or "://" in port):
            return Check("printer", SKIP, f"no serial printer port in [printer] ({port or 'none'})")
        if port.startswith("usb"):
            return Check("printer", SKIP, f"{port}: USB printers are checked when printing")
        if port.startswith("/") and not Path(port).exists():
            return Check("printer", FAIL, f"{port}: no such device: the printer is not plugged in, off, or on "
                         "another port",
                         f"Cắm cáp và bật máy in; xem cổng thật: ls -l /dev/serial/by-id/ /dev/ttyUSB* /dev/ttyACM*; "
                         f"sửa [printer] port trong {self.path}",
                         f"Plug in and switch on the printer; find its port: ls -l /dev/serial/by-id/ /dev/ttyUSB* "
                         f"/dev/ttyACM*; set [printer] port in {self.path}")
        import serial
        baud = int(p.get("baudrate", p.get("baud", 19200)))
        fix = ("Bật máy in, kiểm tra cáp và giấy, đúng cổng/tốc độ baud trong [printer]",
               "Switch the printer on, check cable and paper, and the port/baud in [printer]")
        answer = paper = b""
        try:
            with serial.serial_for_url(port, baudrate=baud, timeout=self.timeout_s) as ser:
                ser.reset_input_buffer()
                ser.write(b"\x10\x04\x01")  # DLE EOT 1: transmit printer status
                answer = ser.read(1)
                if answer and (answer[0] & 0x93) == 0x12:
                    ser.write(b"\x10\x04\x04")  # DLE EOT 4: paper sensor status
                    paper = ser.read(1)
        except (serial.SerialException, OSError) as exc:
            return Check("printer", FAIL, f"{port}: {exc}", *fix)
        if not answer:
            return Check("printer", FAIL, f"{port}: no answer to DLE EOT within {self.timeout_s:g} s", *fix)
        if (answer[0] & 0x93) != 0x12:
            return Check("printer", FAIL, f"{port}: answer 0x{answer[0]:02x} is not an ESC/POS status byte", *fix)
        if answer[0] & 0x08:
            return Check("printer", FAIL, f"{port}: printer reports offline (0x{answer[0]:02x})", *fix)
        if paper and (paper[0] & 0x93) == 0x12 and paper[0] & 0x60:
            return Check("printer", FAIL, f"{port}: paper out (0x{paper[0]:02x})",
                         "Thay cuộn giấy in", "Load a new paper roll")
        return Check("printer", OK, f"{port} online (0x{answer[0]:02x})")

    def check_watchdog(self) -> Check:
        if self.env.get("WATCHDOG_USEC"):
            return Check("watchdog", OK, f"running under systemd, WatchdogSec={int(self.env['WATCHDOG_USEC']) / 1e6:g}s")
        unit = self.role.unit
        exe = shutil.which(self.systemctl) if self.systemctl else None
        if not exe:
            return Check("watchdog", SKIP, "systemctl not available here")
        proc = subprocess.run([exe, "show", unit or "", "-p", "LoadState", "-p", "ActiveState", "-p",
                               "WatchdogUSec", "-p", "NRestarts"], capture_output=True, text=True, timeout=10)
        if proc.returncode != 0:
            return Check("watchdog", SKIP, f"systemd not running here: {proc.stderr.strip()[:120]}")
        props = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        if props.get("LoadState") != "loaded":
            return Check("watchdog", FAIL, f"{unit} is not installed",
                         f"Cài đặt lại vai trò: sudo ./setup.sh --role {self.role.name} ...",
                         f"Install the role: sudo ./setup.sh --role {self.role.name} ...")
        wd = props.get("WatchdogUSec", "0")
        if wd in ("0", "infinity", ""):
            return Check("watchdog", FAIL, f"{unit} has no WatchdogSec", "Cài lại tệp unit từ systemd/",
                         "Reinstall the unit file from systemd/ (setup.sh)")
        if props.get("ActiveState") != "active":
            return Check("watchdog", FAIL, f"{unit} is {props.get('ActiveState')} (restarts: {props.get('NRestarts')})",
                         f"Xem nhật ký: journalctl -u {unit} -n 50; rồi sudo systemctl restart {unit}",
                         f"Read the log: journalctl -u {unit} -n 50; then sudo systemctl restart {unit}")
        return Check("watchdog", OK, f"{unit} active, WatchdogSec={wd}, restarts {props.get('NRestarts')}")


def failed(checks: list[Check]) -> bool:
    return any(c.result == FAIL for c in checks)


def table(checks: list[Check], title: str = "") -> str:
    w = max([len(c.name) for c in checks] + [5])
    lines = [title] if title else []
    lines.append(f"{'check':<{w}}  {'result':<6}  chi tiết / detail")
    lines.append(f"{'-' * w}  {'-' * 6}  {'-' * 40}")
    for c in checks:
        lines.append(f"{c.name:<{w}}  {c.result:<6}  {c.detail}")
        if c.result == FAIL and (c.fix_vi or c.fix_en):
            lines.append(f"{'':<{w}}  {'':<6}  -> Cách sửa: {c.fix_vi}")
            lines.append(f"{'':<{w}}  {'':<6}  -> Fix: {c.fix_en}")
    n_fail = sum(c.result == FAIL for c in checks)
    lines.append(f"{n_fail} lỗi / {n_fail} failed, {sum(c.result == OK for c in checks)} đạt / ok, "
                 f"{sum(c.result == SKIP for c in checks)} bỏ qua / skipped")
    return "\n".join(lines)
