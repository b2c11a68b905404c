"""Optional bridges to other tools. Nothing here is imported by the core package.

:mod:`brainlike.integrations.brainscore`
    Wrap a brainlike model as a Brain-Score ``BrainModel`` (``pip install brainlike[brainscore]``
    to score it with ``brainscore_vision``; the wrapper itself works without it).
"""
