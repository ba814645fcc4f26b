"""The optional person check: where it matters (before a still zone is called empty)."""
from __future__ import annotations

import numpy as np
import pytest

from camera_agent.config import DetectionConfig, HoldConfig
from camera_agent.errors import CameraAgentError
from camera_agent.person import CascadePersonCheck, HogPersonCheck, make_person_check
from camera_agent.presence import PresencePipeline
from camera_agent.zones import PresenceZone

from camera_agent.synthetic import SEAT, SEATED_AT, Scene, walk

FPS = 5.0


def frozen_person_states(person_check, detector=None) -> list[bool]:
    """Someone walks in and then does not move at all for 40 s; still timeout 10 s."""
    scene = Scene(seed=8)
    cfg = DetectionConfig(still_timeout_s=10.0)
    pipe = PresencePipeline([PresenceZone("seat", SEAT)], cfg, HoldConfig(), person_check=person_check,
                            detector=detector)
    frames = [{}] * 40 + [dict(person=p) for p in walk((330, SEATED_AT[1]), SEATED_AT, 12)]
    frames += [dict(person=(SEATED_AT[0] + (i % 3) - 1, SEATED_AT[1])) for i in range(20)]  # settles
    frames += [dict(person=SEATED_AT)] * int(40 * FPS)
    states = []
    for i, f in enumerate(frames):
        pipe.process(scene.frame(**f), i / FPS)
        states.append(pipe.present(pipe.zones[0]))
    return states


def test_without_a_person_check_total_stillness_ends_after_the_still_timeout():
    states = frozen_person_states(None)  # change only: no detector either
    assert any(states) and not states[-1]


def test_the_default_face_detector_keeps_a_frozen_person_present():
    from camera_agent.evidence import HaarFaceDetector
    states = frozen_person_states(None, HaarFaceDetector())
    assert all(states[60 + int(2 * FPS):]), "a still person with a face in view stays present"


def test_a_person_check_that_sees_someone_keeps_the_zone_present():
    calls = []

    def sees_person(frame: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        calls.append(box)
        assert frame.ndim == 3 and box[2] > 0 and box[3] > 0
        return True

    states = frozen_person_states(sees_person)
    assert states[-1] and calls, "asked only when it matters, and believed"


@pytest.mark.parametrize("kind, cls", [("hog", HogPersonCheck), ("cascade", CascadePersonCheck)])
def test_opencv_person_checks_run_offline(kind, cls):
    check = make_person_check(DetectionConfig(person_check=kind))
    assert isinstance(check, cls)
    frame = Scene(seed=1).frame()
    assert check(frame, (180, 80, 95, 145)) in (True, False)


def test_bad_cascade_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.xml"
    bad.write_text("<nope/>")
    with pytest.raises(CameraAgentError, match="cascade"):
        CascadePersonCheck(bad)
