"""Fixtures shared by the analysis tests."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Torch on one thread: these models are small, and a second thread only waits on a busy
    machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
