"""The evaluation's stages are timed over all their tries: a stage stopped (the session ended)
and run again adds to what its earlier tries spent, and a running stage's time is noted while it
runs, so that a stop loses at most a minute of it."""

import json
import time

import yaml

from clearer_basicsr.tools import stages


def main(argv):
    """The entry point the stages below run: ``wait: true`` waits until the tool has noted this
    stage's time (at most 20 s, then fails); otherwise it returns at once."""
    with open(argv[1]) as f:
        options = yaml.safe_load(f)
    deadline = time.monotonic() + 20
    while options['wait'] and options['name'] not in stages.read_times(options['times']):
        if time.monotonic() > deadline:
            raise RuntimeError('the running stage was never noted')
        time.sleep(0.05)


def stage(tmp_path, name, wait):
    times = str(tmp_path / 'stage_times.json')
    options = {'name': name, 'times': times, 'wait': wait}
    return stages.Stage(
        name=name,
        entry='waiting',
        options=options,
        option_file=str(tmp_path / f'{name}.yml'),
        log_file=str(tmp_path / f'{name}.log'),
        done=lambda: False,
    )


def test_a_stage_run_again_adds_the_seconds_of_its_stopped_tries(tmp_path, monkeypatch):
    monkeypatch.setitem(stages.ENTRIES, 'waiting', __name__)
    times = tmp_path / 'stage_times.json'
    times.write_text(json.dumps({'resumed': 100.0, 'other': 7.0}))  # a stopped try of 100 s
    stages.run_stages([stage(tmp_path, 'resumed', wait=False)], jobs=1, times_file=str(times))
    recorded = json.loads(times.read_text())
    assert recorded['resumed'] > 100.0  # this try's seconds added to the stopped one's
    assert recorded['other'] == 7.0  # the other stages' times kept


def test_a_running_stage_is_timed_before_it_ends(tmp_path, monkeypatch):
    """The clock jumps a minute per reading, so the tool notes the running stage at its first
    look; the stage ends only once it finds its own time in the file."""
    monkeypatch.setitem(stages.ENTRIES, 'waiting', __name__)
    real, readings = time.time, []

    def clock():
        readings.append(None)
        return real() + 61 * len(readings)

    monkeypatch.setattr(stages.time, 'time', clock)
    times = tmp_path / 'stage_times.json'
    stages.run_stages([stage(tmp_path, 'long', wait=True)], jobs=1, times_file=str(times))
    assert json.loads(times.read_text())['long'] > 60
