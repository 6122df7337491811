"""Chapter 1 helpers: exercise 1.3 refuses unsolved predictions."""
from minidgl.exercises import ch01

CEILINGS = {-16: {"audio": 0.57, "visual": 0.75}, -12: {"audio": 0.94, "visual": 0.75}}


def test_dominant_modality_refuses_unsolved_predictions(capsys):
    assert not ch01.check_dominant_modality(NotImplemented, CEILINGS)
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] Exercise 1.3 dominant modality: not solved yet") and "[-16, -12]" in out
    assert not ch01.check_dominant_modality({-16: "visual", -12: NotImplemented}, CEILINGS)
    assert "not solved yet: replace NotImplemented by 'audio' or 'visual' for snr_db=-12," in capsys.readouterr().out
    assert not ch01.check_dominant_modality(["visual", "audio"], CEILINGS)
    assert "expected a dict" in capsys.readouterr().out


def test_dominant_modality_names_wrong_and_unknown_predictions(capsys):
    assert ch01.check_dominant_modality({-16: "visual", -12: "audio"}, CEILINGS)
    assert capsys.readouterr().out == "[PASS] Exercise 1.3 dominant modality\n"
    assert not ch01.check_dominant_modality({-16: "Visual", -12: "visual"}, CEILINGS)
    out = capsys.readouterr().out
    assert "snr_db=-16: predicted 'Visual'; name one of ['audio', 'visual']" in out
    assert "snr_db=-12: predicted 'visual', but audio is stronger (audio 0.940, visual 0.750)" in out


def test_dominant_modality_over_settings_of_both_knobs(capsys):
    grid = {(-16, 0.25): {"audio": 0.57, "visual": 0.93}, (-14, 0.5): {"audio": 0.82, "visual": 0.75}}
    assert ch01.check_dominant_modality({(-16, 0.25): "visual", (-14, 0.5): "audio"}, grid)
    capsys.readouterr()
    assert not ch01.check_dominant_modality({(-16, 0.25): "audio", (-14, 0.5): NotImplemented}, grid)
    assert "for snr_db=-14, image_noise=0.5, before you run" in capsys.readouterr().out
    assert not ch01.check_dominant_modality({(-16, 0.25): "audio"}, grid)
    out = capsys.readouterr().out
    assert "snr_db=-16, image_noise=0.25: predicted 'audio', but visual is stronger" in out
    assert "snr_db=-14, image_noise=0.5: no prediction" in out
