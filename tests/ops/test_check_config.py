"""`motcua check-config`: the role from the file name, the role's own model, file:line: key."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from ops.errors import NoConfigModel
from ops.render import set_keys
from ops.roles import ROLES, Role, config_model, role_of_file
from tests.ops.support import ROOT, run_ops


@pytest.mark.parametrize("name,role", [("kiosk.toml", "kiosk"), ("rating-terminal.toml", "rating-terminal"),
                                       ("desk5-rating-terminal.toml", "rating-terminal"), ("camera.toml", "camera"),
                                       ("site.toml", "site"), ("display.toml", "display")])
def test_role_from_file_name(name: str, role: str) -> None:
    assert role_of_file(name).name == role


def test_example_configs_are_valid() -> None:
    files = sorted(str(p) for p in (ROOT / "config").glob("*.toml"))
    assert len(files) >= 7
    proc = run_ops("check-config", *files)
    assert proc.returncode == 0, proc.stderr
    for f in files:  # each one validated by its role's own model
        role = role_of_file(f)
        assert f"ok: {f}: valid {role.name} config ({config_model(role).__name__})" in proc.stdout


def test_every_role_has_a_config_model() -> None:
    for role in ROLES.values():
        assert issubclass(config_model(role), BaseModel), role.name
    with pytest.raises(NoConfigModel, match="ghost"):
        config_model(Role("ghost", "ghost.toml", ("ops.roles:NO_SUCH_MODEL",), None, "server"))


def test_bad_config_names_file_line_and_key(tmp_path: Path) -> None:
    text = (ROOT / "config/kiosk.toml").read_text().replace("[kiosk]\n", "[kiosk]\nidle_timeot_s = 20\n", 1)
    bad = tmp_path / "kiosk.toml"
    bad.write_text(text)
    line = text.splitlines().index("idle_timeot_s = 20") + 1
    proc = run_ops("check-config", str(bad), check=False)
    assert proc.returncode == 1
    assert f"{bad}:{line}: kiosk.idle_timeot_s: unknown key" in proc.stderr


def test_bad_value_and_bad_toml(tmp_path: Path) -> None:
    rt = tmp_path / "rating-terminal.toml"
    rt.write_text(set_keys((ROOT / "config/rating-terminal.toml").read_text(), {"mqtt.keepalive_s": 1}))
    proc = run_ops("check-config", str(rt), check=False)
    assert proc.returncode == 1 and "mqtt.keepalive_s" in proc.stderr and f"{rt}:" in proc.stderr
    broken = tmp_path / "camera.toml"
    broken.write_text('site = "a"\n\n[mqtt\nurl = 1\n')
    proc = run_ops("check-config", str(broken), check=False)
    assert proc.returncode == 1 and f"{broken}:3: not valid TOML" in proc.stderr


def test_unknown_file_name_needs_role(tmp_path: Path) -> None:
    f = tmp_path / "desk.toml"
    f.write_text((ROOT / "config/rating-terminal.toml").read_text())
    assert run_ops("check-config", str(f), check=False).returncode == 2
    proc = run_ops("check-config", "--role", "rating-terminal", str(f), check=False)
    assert proc.returncode == 0, proc.stderr


def test_set_keys_keeps_comments_and_adds_tables() -> None:
    text = '# head\nsite = "x"   # the site\n\n[mqtt]\n# username = "a"\n\n[other]\nk = 1\n'
    out = set_keys(text, {"site": "camau-hcc", "mqtt.username": "rt-05", "desk": 5, "new.key": "v"})
    assert out.startswith("# head\ndesk = 5\nsite = \"camau-hcc\"\n")
    assert '[mqtt]\n# username = "a"\nusername = "rt-05"\n' in out or '[mqtt]\nusername = "rt-05"' in out
    assert out.rstrip().endswith('[new]\nkey = "v"')
    assert set_keys(out, {"site": "camau-hcc"}) == out
