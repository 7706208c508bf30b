"""Door backends against real endpoints: a serial relay on a pseudo-terminal, an HTTP door
controller on 127.0.0.1, gpiozero's mock pins; the factory's fallback and the settings."""

from __future__ import annotations

import json
import os
import select
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from turnstile.door import DoorCommander, DoorConfig, DoorError, LockState, create_door
from turnstile.door.config import load_door_config
from turnstile.door.http_door import HttpDoor
from turnstile.door.serial_relay import SerialRelayDoor, parse_hex_bytes
from turnstile.door.simulated import SimulatedDoor

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def _read_exactly(fd: int, n: int, timeout_s: float = 5.0) -> bytes:
    data = b""
    while len(data) < n:
        ready, _, _ = select.select([fd], [], [], timeout_s)
        if not ready:
            break
        data += os.read(fd, n - len(data))
    return data


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


# --- serial relay ---------------------------------------------------------------------------


def test_parse_hex_bytes_accepts_common_spellings():
    assert parse_hex_bytes("A0 01 01 A2") == b"\xa0\x01\x01\xa2"
    assert parse_hex_bytes("0xA0,0x01, 0x00 ,0xA1") == b"\xa0\x01\x00\xa1"
    with pytest.raises(DoorError, match="not hexadecimal"):
        parse_hex_bytes("open please")
    with pytest.raises(DoorError, match="empty"):
        parse_hex_bytes("  ")


def test_serial_relay_sends_the_configured_bytes(pty_pair):
    master, port = pty_pair
    relay = SerialRelayDoor(port, open_bytes=b"\x01\x02\xff", close_bytes=b"\x10\x20")
    relay.open()
    assert _read_exactly(master, 3) == b"\x01\x02\xff"
    relay.close()
    assert _read_exactly(master, 2) == b"\x10\x20"
    relay.release()


def test_serial_door_through_the_commander_from_settings(pty_pair):
    master, port = pty_pair
    config = DoorConfig(backend="serial", serial_port=port, serial_open_bytes="A0 01 01 A2",
                        serial_close_bytes="A0 01 00 A1")
    choice = create_door(config)
    assert choice.problem is None and isinstance(choice.controller, SerialRelayDoor)
    door = DoorCommander(choice.controller, unlock_ms=50)
    door.start()
    assert _read_exactly(master, 4) == bytes.fromhex("A00100A1")  # closed at start
    door.request_open(1)
    assert _read_exactly(master, 4) == bytes.fromhex("A00101A2")
    assert _read_exactly(master, 4) == bytes.fromhex("A00100A1")  # relocked by itself
    door.shutdown()
    assert _read_exactly(master, 4) == bytes.fromhex("A00100A1")  # closed at exit


def test_unplugged_relay_puts_the_door_in_fault_with_a_clear_message(pty_pair):
    master, port = pty_pair
    faults: list[str] = []
    got_fault = threading.Event()

    def on_state(state: LockState, message: str) -> None:
        if state is LockState.FAULT:
            faults.append(message)
            got_fault.set()

    door = DoorCommander(SerialRelayDoor(port), unlock_ms=5000, on_state=on_state)
    door.start()
    assert _read_exactly(master, 4)
    os.close(master)  # the board is unplugged: the other end of the line is gone
    door.request_open(1)
    assert got_fault.wait(5)
    assert door.state is LockState.FAULT
    assert port in faults[0] and "plugged in" in faults[0]
    door.shutdown()


def test_missing_serial_port_is_reported():
    relay = SerialRelayDoor("/dev/does-not-exist-turnstile")
    with pytest.raises(DoorError, match="does-not-exist"):
        relay.open()


# --- HTTP -----------------------------------------------------------------------------------


class _Controller(BaseHTTPRequestHandler):
    bodies: list[dict] = []
    headers_seen: list[dict] = []
    status = 200
    received = threading.Condition()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        with _Controller.received:
            _Controller.bodies.append(body)
            _Controller.headers_seen.append(dict(self.headers))
            _Controller.received.notify_all()
        self.send_response(_Controller.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_controller():
    _Controller.bodies, _Controller.headers_seen, _Controller.status = [], [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Controller)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/door", _Controller
    server.shutdown()
    server.server_close()


def test_http_door_posts_open_and_close(http_controller):
    url, controller = http_controller
    door = HttpDoor(url, door_name="Main entrance", unlock_ms=3000, token="s3cret")
    door.open()
    door.close()
    assert controller.bodies == [
        {"command": "open", "door": "Main entrance", "unlock_ms": 3000},
        {"command": "close", "door": "Main entrance"},
    ]
    assert controller.headers_seen[0]["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in door.description


def test_http_door_through_the_commander(http_controller):
    url, controller = http_controller
    choice = create_door(DoorConfig(backend="http", http_url=url), door_name="Side door",
                         unlock_ms=50)
    door = DoorCommander(choice.controller, unlock_ms=50)
    door.start()
    door.request_open(3)
    with controller.received:
        assert controller.received.wait_for(lambda: len(controller.bodies) >= 3, 5)
    door.shutdown()
    commands = [b["command"] for b in controller.bodies]
    assert commands[:3] == ["close", "open", "close"]
    assert commands[-1] == "close"
    assert all(b["door"] == "Side door" for b in controller.bodies)


def test_http_error_status_is_a_door_error(http_controller):
    url, controller = http_controller
    controller.status = 503
    with pytest.raises(DoorError, match="HTTP 503"):
        HttpDoor(url).open()


def test_http_controller_not_reachable_faults_the_door():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got_fault = threading.Event()
    door = DoorCommander(HttpDoor(f"http://127.0.0.1:{port}/", timeout_s=1.0), unlock_ms=100,
                         on_state=lambda s, m: got_fault.set() if s is LockState.FAULT else None)
    door.start()
    assert got_fault.wait(5)
    assert "did not answer" in door.last_error
    door.shutdown()


def test_http_door_refuses_a_non_http_url():
    with pytest.raises(DoorError, match="not an http"):
        HttpDoor("ftp://example.org/door")


# --- GPIO -----------------------------------------------------------------------------------


def test_gpio_without_gpiozero_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gpiozero", None)  # import gpiozero -> ImportError
    from turnstile.door.gpio import GpioDoor

    with pytest.raises(DoorError, match=r"pip install 'turnstile\[gpio\]'"):
        GpioDoor(17)
    choice = create_door(DoorConfig(backend="gpio", gpio_pin=17))
    assert isinstance(choice.controller, SimulatedDoor)
    assert "gpiozero" in choice.problem


def test_gpio_door_drives_the_pin():
    gpiozero = pytest.importorskip("gpiozero", reason="the optional 'gpio' extra")
    from gpiozero.pins.mock import MockFactory

    from turnstile.door.gpio import GpioDoor

    previous = gpiozero.Device.pin_factory
    gpiozero.Device.pin_factory = MockFactory()
    try:
        door = GpioDoor(17)
        pin = gpiozero.Device.pin_factory.pin(17)
        assert pin.state is False or pin.state == 0  # locked from the start
        door.open()
        assert pin.state
        door.close()
        assert not pin.state
        door.release()
    finally:
        gpiozero.Device.pin_factory.reset()
        gpiozero.Device.pin_factory = previous


# --- settings and factory -------------------------------------------------------------------


def test_no_door_file_means_the_on_screen_door(tmp_path):
    assert load_door_config(tmp_path / "door.toml") == DoorConfig()
    assert isinstance(create_door(DoorConfig()).controller, SimulatedDoor)


def test_door_file_is_read(tmp_path):
    file = tmp_path / "door.toml"
    file.write_text('backend = "http"\nhttp_url = "http://10.0.0.5/door"\nhttp_timeout_s = 1\n'
                    'colour = "red"\n')
    config = load_door_config(file)
    assert config.backend == "http" and config.http_url == "http://10.0.0.5/door"


@pytest.mark.parametrize(("text", "message"), [
    ('backend = "carrier pigeon"', "not one of"),
    ('backend = "serial"', "serial_port"),
    ('backend = "serial"\nserial_port = "/dev/ttyUSB0"\nserial_open_bytes = "zz"',
     "not hexadecimal"),
    ('backend = "http"', "http_url"),
    ('backend = = "http"', "not valid TOML"),
])
def test_bad_door_file_is_refused_with_the_reason(tmp_path, text, message):
    file = tmp_path / "door.toml"
    file.write_text(text)
    with pytest.raises(DoorError, match=message):
        load_door_config(file)


def test_unusable_door_file_falls_back_to_the_on_screen_door(monkeypatch, tmp_path):
    monkeypatch.setenv("TURNSTILE_HOME", str(tmp_path))
    (tmp_path / "door.toml").write_text('backend = "serial"')
    choice = create_door()
    assert isinstance(choice.controller, SimulatedDoor)
    assert "serial_port" in choice.problem
