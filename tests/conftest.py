"""Shared pytest fixtures."""
import pytest


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """The demo data (scikit-image splits), built once per test session; returns its paths."""
    from clearer_basicsr.data.demo import make_demo_data
    return make_demo_data(str(tmp_path_factory.mktemp('demo_data') / 'demo'))
