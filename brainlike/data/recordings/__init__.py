"""Neural recordings: the ``NeuralRecording`` type, its checks, readers and writers."""

from brainlike.data.recordings.recording import *  # noqa: F403
from brainlike.data.recordings.recording import __all__  # noqa: F401
