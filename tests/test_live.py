"""DVCLive curves continue only when the run resumes its checkpoint."""

import pandas as pd

from flows._live import live_metrics


def curve(out_dir):
    return pd.read_csv(out_dir / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv", sep="\t")


def test_a_fresh_run_starts_its_curves_anew_and_a_resumed_one_continues(tmp_path):
    opener = live_metrics(tmp_path)
    with opener(False) as log:
        for step in (1, 2, 3):
            log("loss", 1.0 / step, step)
    with opener(False) as log:  # a fresh run over an old folder: no appending
        for step in (1, 2):
            log("loss", 0.5, step)
    assert curve(tmp_path)["step"].tolist() == [1, 2]
    with opener(True) as log:  # resumed from its checkpoint at step 2
        log("loss", 0.4, 3)
    assert curve(tmp_path)["step"].tolist() == [1, 2, 3]
