"""Evaluation: model + recording -> scores (static, temporal), simulated benchmarks, suites.

Scoring a model against a recording (``brainlike score``)
    :mod:`.static`         :func:`~.static.score_model`: every layer x every area, with ceilings
    :mod:`.temporal`       :func:`~.temporal.score_temporal`: a recurrent model bin by bin
    :mod:`.stages`         the stages both share: recording, stimuli, model, activations, fits
    :mod:`.scoring_model`  the model under test: run, checkpoint or registry name; its layers
    :mod:`.preconditions`  what a request may ask and what the recording must hold for it
    :mod:`.score_table`    :class:`~.score_table.ScoringResult`: best layer, layer comparison
    :mod:`.outputs`        score folders, ``scores.json``, rows of the results database

Simulated benchmarks (``brainlike simulate``)
    :mod:`.simulated`      animals recorded from a known brain, static or time-binned

Experiment suites (``brainlike experiment``)
    :mod:`.suites`         :func:`~.suites.run_suite`: train, score and compare a suite's runs
    :mod:`.temporal_suite` suites scored over time and by object solution times
    :mod:`.rules_suite`    every run under every learning rule: accuracy and alignment
    :mod:`.rules_report`   a rules suite's table, learning curves, alignment and ``report.html``
    :mod:`.suite_runs`     the plan of runs, training or reusing them, the benchmark once
    :mod:`.observer`       the behaviour reference: a simulated observer
    :mod:`.suite_report`   comparison table, figures and ``report.html``
    :mod:`.demo`           the demo (``brainlike demo``): plain Reset(4) against Reset(4) with
                           the spatial loss, trained on the offline digits and compared
    (the suite YAML itself, :class:`~brainlike.config.suite.SuiteConfig` and ``load_suite``,
    is read by :mod:`brainlike.config` with the experiment and search files)

The package imports nothing itself: import from the module that holds a name (heavy libraries
load inside the functions that need them, so ``brainlike --help`` stays fast).
"""
