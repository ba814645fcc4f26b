"""The rating scale's labels, shared by every role that shows or names a score
(the desk terminal's buttons, the portal's rating form). Vietnamese first, English second."""
from __future__ import annotations

# Labels per scale (SiteConfig.rating_scale), best first: score = scale .. 1.
RATING_LABELS: dict[int, list[tuple[str, str]]] = {
    5: [("Rất hài lòng", "Very satisfied"), ("Hài lòng", "Satisfied"), ("Bình thường", "Neutral"),
        ("Không hài lòng", "Dissatisfied"), ("Rất không hài lòng", "Very dissatisfied")],
    4: [("Rất hài lòng", "Very satisfied"), ("Hài lòng", "Satisfied"),
        ("Không hài lòng", "Dissatisfied"), ("Rất không hài lòng", "Very dissatisfied")],
    3: [("Hài lòng", "Satisfied"), ("Bình thường", "Neutral"), ("Không hài lòng", "Dissatisfied")],
}


def rating_label(scale: int, score: int) -> tuple[str, str]:
    """(vi, en) of ``score`` on a ``scale``-point scale."""
    return RATING_LABELS[scale][scale - score]
