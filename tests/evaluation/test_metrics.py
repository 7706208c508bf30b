"""The verification metrics give the textbook answers on small, hand-checked inputs."""

from __future__ import annotations

import numpy as np
import pytest

from turnstile.evaluation import metrics


def test_perfectly_separated_scores():
    genuine = np.array([0.8, 0.9, 0.7])
    impostor = np.array([0.1, 0.2, 0.3])
    assert metrics.roc_auc(genuine, impostor) == 1.0
    scores = np.concatenate([genuine, impostor])
    same = np.array([True] * 3 + [False] * 3)
    t = metrics.best_threshold(scores, same)
    assert 0.3 < t < 0.7
    assert metrics.tar_at_far(genuine, impostor, 0.0) == 1.0


def test_auc_counts_ties_half():
    assert metrics.roc_auc(np.array([0.5]), np.array([0.5])) == 0.5
    assert metrics.roc_auc(np.array([0.2, 0.6]), np.array([0.4])) == 0.5


def test_tar_at_far_uses_the_impostor_quantile():
    impostor = np.linspace(0, 1, 1000, endpoint=False)  # 0.000 .. 0.999
    genuine = np.array([0.985, 0.995, 0.5])
    # at FAR 1e-2 the 10 highest impostors (>= 0.99) may pass: threshold is 0.989
    assert metrics.threshold_at_far(impostor, 1e-2) == pytest.approx(0.989)
    assert metrics.tar_at_far(genuine, impostor, 1e-2) == pytest.approx(1 / 3)


def test_kfold_picks_threshold_on_other_folds():
    rng = np.random.default_rng(0)
    genuine = rng.normal(0.7, 0.1, 3000)
    impostor = rng.normal(0.1, 0.1, 3000)
    scores = np.concatenate([genuine, impostor])
    same = np.array([True] * 3000 + [False] * 3000)
    folds = np.concatenate([np.arange(3000) % 10, np.arange(3000) % 10])
    accuracies, thresholds = metrics.kfold_accuracy(scores, same, folds)
    assert len(accuracies) == 10
    assert 0.99 < np.mean(accuracies) < 1.0  # two normals 6 sigma apart: ~99.87 %
    assert all(0.3 < t < 0.5 for t in thresholds)


def test_roc_curve_is_monotone():
    rng = np.random.default_rng(1)
    roc = metrics.roc_curve(rng.normal(1, 1, 200), rng.normal(0, 1, 200))
    assert np.all(np.diff(roc.far) >= 0) and np.all(np.diff(roc.tar) >= 0)
    assert roc.far[-1] == 1.0 and roc.tar[-1] == 1.0


def test_open_set_rates_as_the_door_decides_with_the_runner_up_margin():
    """A stranger who resembles two enrolled people equally is not matched by the door (its
    runner-up is too close); the open-set rates count that, on a hand-made gallery."""
    from turnstile.evaluation.identify import fnir_at_fpir, open_set_scores

    gallery = np.eye(3, 4, dtype=np.float32)  # ann, bob, cy: orthogonal templates

    def unit(*v):
        x = np.array(v, np.float32)
        return x / np.linalg.norm(x)

    # best scores 0.995 (ann), 0.981 (bob), 0.6 (cy)
    mated = np.stack([unit(1, 0.1, 0, 0), unit(0.2, 1, 0, 0), unit(0, 0, 0.6, 0.8)])
    # a look-alike of ann and bob (0.707 with both), nine strangers 0.4975 with cy
    strangers = np.stack([unit(1, 1, 0, 0)] + [0.5 * unit(0, 0, 1, 0.1)] * 9)
    scores = open_set_scores(gallery, ["ann", "bob", "cy"], mated, ["ann", "bob", "cy"],
                             strangers)
    assert scores.mated_correct.all()
    # best score alone: no stranger may pass, so the threshold sits at the look-alike's 0.707
    # and cy's probe (0.6) is turned away
    fnir, threshold = fnir_at_fpir(scores, 0.0)
    assert threshold == pytest.approx(0.7071, abs=1e-4)
    assert fnir == pytest.approx(1 / 3)
    # the door never matches the look-alike (runner-up 0.0 behind): the threshold drops to
    # the other strangers' 0.4975 and cy's probe gets in
    fnir, threshold = fnir_at_fpir(scores, 0.0, min_margin=0.01)
    assert threshold == pytest.approx(0.4975, abs=1e-4)
    assert fnir == 0.0
    # a margin only ann's probe meets (0.895; bob's is 0.785, cy's 0.6)
    fnir, _ = fnir_at_fpir(scores, 0.0, min_margin=0.8)
    assert fnir == pytest.approx(2 / 3)


def test_cascade_scores_take_the_confirming_score_of_the_search_candidates_only():
    """As the door decides with a confirming embedder: the search embedder's best matches
    are the candidates, and the confirming embedder's score against THOSE people decides,
    however well the probe matches someone else there."""
    from turnstile.evaluation.identify import cascade_scores, fnir_at_fpir

    search_gallery = np.eye(3, 4, dtype=np.float32)  # ann, bob, cy
    confirm_gallery = np.eye(3, 4, dtype=np.float32)[[1, 2, 0]]  # another space

    def unit(*v):
        x = np.array(v, np.float32)
        return x / np.linalg.norm(x)

    # search: ann's probe -> ann, bob's probe -> ann (a search error), cy's probe -> cy
    mated = np.stack([unit(1, 0.1, 0, 0), unit(1, 0.5, 0, 0), unit(0, 0, 1, 0)])
    # confirming space: ann's template is row 1 there, bob's row 2, cy's row 0
    confirm_mated = np.stack([unit(0.1, 1, 0, 0), unit(0, 0, 1, 0), unit(0.6, 0, 0, 0.8)])
    strangers = np.stack([unit(0, 1, 0, 0)])  # search candidate: bob
    confirm_strangers = np.stack([unit(1, 0, 0, 0)])  # like cy in the confirming space
    scores = cascade_scores(search_gallery, ["ann", "bob", "cy"], mated, ["ann", "bob", "cy"],
                            strangers, confirm_gallery=confirm_gallery,
                            confirm_mated=confirm_mated, confirm_non_mated=confirm_strangers,
                            shortlist=1)
    assert scores.mated_correct.tolist() == [True, False, True]
    # bob's probe is scored against ann's confirming template (0), not his own (1)
    assert scores.mated_best == pytest.approx([0.995, 0.0, 0.6], abs=1e-3)
    # the stranger resembles cy in the confirming space but is scored against bob: 0
    assert scores.non_mated_best == pytest.approx([0.0])
    assert scores.mated_margin is None
    fnir, threshold = fnir_at_fpir(scores, 0.0)
    assert threshold == pytest.approx(0.0)
    assert fnir == pytest.approx(1 / 3)  # only bob, whose candidate is wrong
    # With the search's best two as candidates, bob (second for the search) is found: the
    # confirming embedder scores him 1 against ann's 0.
    two = cascade_scores(search_gallery, ["ann", "bob", "cy"], mated, ["ann", "bob", "cy"],
                         strangers, confirm_gallery=confirm_gallery,
                         confirm_mated=confirm_mated, confirm_non_mated=confirm_strangers,
                         shortlist=2)
    assert two.mated_correct.tolist() == [True, True, True]
    assert two.mated_best[1] == pytest.approx(1.0)


def test_reports_say_which_model_decides():
    from turnstile.evaluation.identify import IdentifyReport
    from turnstile.evaluation.lfw import LfwReport

    lfw = LfwReport(accuracy=0.995, accuracy_std=0.004, auc=0.9999, tar_at_far_1e_2=0.99,
                    tar_at_far_1e_3=0.98, no_face=5, images=10, pairs=6, images_per_s=12.0,
                    threshold=0.36, model_id="sface_2021dec@x/mesh5",
                    search_model_id="dlib_resnet_v1@y/bf4", search_accuracy=0.9915,
                    search_accuracy_std=0.004, search_auc=0.9993, search_tar_at_far_1e_2=0.99,
                    search_tar_at_far_1e_3=0.95, search_threshold=0.91)
    text = lfw.to_text()
    assert "1:1 decided by sface_2021dec@x/mesh5" in text
    assert "99.50 %" in text and "99.15 %" in text and "dlib_resnet_v1@y/bf4 alone" in text
    assert lfw.to_json()["search_tar_at_far_1e-3"] == 0.95

    ident = IdentifyReport(gallery_size=3, mated_probes=4, non_mated_probes=5, rank1=0.9,
                           fnir_at_fpir_1e_2=0.4, fnir_at_fpir_1e_3=0.6,
                           threshold_at_fpir_1e_2=0.95, threshold_at_fpir_1e_3=0.96,
                           no_face=0, model_id="dlib_resnet_v1@y/bf4", min_margin=0.01,
                           door_fnir_at_fpir_1e_2=0.3, door_fnir_at_fpir_1e_3=0.5,
                           door_threshold_at_fpir_1e_2=0.94, door_threshold_at_fpir_1e_3=0.95,
                           confirm_model_id="sface_2021dec@x/mesh5", cascade_rank1=0.9,
                           cascade_fnir_at_fpir_1e_2=0.089, cascade_fnir_at_fpir_1e_3=0.42,
                           cascade_threshold_at_fpir_1e_2=0.37,
                           cascade_threshold_at_fpir_1e_3=0.45)
    text = ident.to_text()
    door = text.index("as the door decides")
    assert "sface_2021dec@x/mesh5" in text[door:text.index("\n", door)]
    assert text.index("8.90 %") < text.index("dlib_resnet_v1@y/bf4 alone")
    assert ident.to_json()["cascade_threshold_at_fpir_1e-2"] == 0.37


def test_strangers_known_to_be_enrolled_people_can_be_set_aside_as_a_labelled_check():
    """LFW has strangers who are enrolled people under another name; the sensitivity figure
    drops exactly them (and says so), the protocol's own figure keeps them."""
    from turnstile.evaluation.identify import (
        IdentifyReport,
        OpenSetScores,
        fnir_at_fpir,
        set_aside_strangers,
    )

    scores = OpenSetScores(
        mated_best=np.array([0.9, 0.8, 0.7, 0.6]),
        mated_correct=np.array([True, True, True, True]),
        non_mated_best=np.array([0.85, 0.3, 0.2, 0.1]),  # the first is a mislabelled face
    )
    ids = ["Hasan_Wirayuda", "Ann", "Bob", "Cy"]
    fnir, threshold = fnir_at_fpir(scores, 0.0)
    assert threshold == 0.85 and fnir == 0.75
    clean = set_aside_strangers(scores, ids, {"Hasan_Wirayuda"})
    assert clean.non_mated_best.tolist() == [0.3, 0.2, 0.1]
    fnir, threshold = fnir_at_fpir(clean, 0.0)
    assert threshold == 0.3 and fnir == 0.0

    report = IdentifyReport(4, 4, 4, 1.0, 0.75, 0.75, 0.85, 0.85, 0, model_id="m",
                            known_label_errors=["Hasan_Wirayuda"],
                            without_label_errors_fnir_at_fpir_1e_2=0.0,
                            without_label_errors_fnir_at_fpir_1e_3=0.0,
                            without_label_errors_threshold_at_fpir_1e_2=0.3,
                            without_label_errors_threshold_at_fpir_1e_3=0.3)
    text = report.to_text()
    assert "not the protocol" in text and "Hasan_Wirayuda" in text
    # right under the figures it qualifies (no confirming embedder: the best score alone)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "not the protocol" in line)
    assert "FNIR at FPIR 1e-3  75.00 %" in lines[at - 1]
    assert report.to_json()["without_label_errors_fnir_at_fpir_1e-3"] == 0.0


def test_the_label_error_list_names_lfw_identities_that_exist(shared_data):
    """Every entry names a single-image identity of the LFW folder and an enrolled one."""
    from turnstile.evaluation.lfw_label_errors import SAME_PERSON

    images = shared_data / "lfw" / "images"
    for stranger, (enrolled, why) in SAME_PERSON.items():
        assert len(list((images / stranger).glob("*.jpg"))) == 1, stranger
        assert len(list((images / enrolled).glob("*.jpg"))) >= 2, enrolled
        assert why
