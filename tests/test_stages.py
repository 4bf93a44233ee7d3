"""The evaluation's stages are timed over all their tries: a running stage's time is noted while
it runs (a stop loses at most a minute of it), a stage stopped and run again adds to what its
earlier tries spent, and a finished stage run again starts from nothing."""

import json
import time

import yaml

from clearer_basicsr.tools import stages


def main(argv):
    """The entry point the stages below run: with ``wait_for: S`` it waits until the note kept
    under --keep holds at least S seconds for it (at most 20 s, then fails); otherwise it returns
    at once."""
    with open(argv[1]) as f:
        options = yaml.safe_load(f)
    deadline = time.monotonic() + 20
    while options['wait_for'] and stages.read_times(options['unfinished']).get('s', 0) < options['wait_for']:
        if time.monotonic() > deadline:
            raise RuntimeError('the running stage was never noted')
        time.sleep(0.05)


def run(tmp_path, monkeypatch, wait_for=0):
    """Runs the stage 's' once; returns its finished time and what is left noted as unfinished."""
    monkeypatch.setitem(stages.ENTRIES, 'waiting', __name__)
    monkeypatch.chdir(tmp_path)  # the tool's paths are relative, as --keep mirrors them
    unfinished = stages.unfinished_times_file('stage_times.json')
    stage = stages.Stage(
        name='s',
        entry='waiting',
        options={'unfinished': f'kept/{unfinished}', 'wait_for': wait_for},
        option_file='options/s.yml',
        log_file='logs/s.log',
        done=lambda: False,
    )
    stages.run_stages([stage], jobs=1, times_file='stage_times.json', keep='kept')
    return json.loads((tmp_path / 'stage_times.json').read_text())['s'], stages.read_times(unfinished)


def test_a_stage_run_again_adds_the_seconds_of_its_stopped_tries(tmp_path, monkeypatch):
    (tmp_path / 'stage_times_unfinished.json').write_text(json.dumps({'s': 100.0, 'other': 7.0}))
    seconds, unfinished = run(tmp_path, monkeypatch)
    assert 100.0 < seconds < 160.0  # this try's seconds added to the stopped one's
    assert unfinished == {'other': 7.0}  # no longer unfinished; the other stopped stage kept


def test_a_finished_stage_run_again_starts_from_nothing(tmp_path, monkeypatch):
    (tmp_path / 'stage_times.json').write_text(json.dumps({'s': 100.0}))  # finished; outputs since deleted
    seconds, _ = run(tmp_path, monkeypatch)
    assert seconds < 60.0


def test_a_running_stage_is_noted_and_kept_before_it_ends(tmp_path, monkeypatch):
    """The timer jumps a minute per reading, so the tool notes the running stage at its first
    look; the stage ends only once the note kept under --keep holds the stopped try's 100 s plus
    that minute."""
    (tmp_path / 'stage_times_unfinished.json').write_text(json.dumps({'s': 100.0}))
    readings = []

    def timer():
        readings.append(None)
        return 61.0 * len(readings)

    monkeypatch.setattr(stages, 'clock', timer)
    seconds, unfinished = run(tmp_path, monkeypatch, wait_for=161)
    assert seconds >= 161 and 's' not in unfinished


def test_restoring_records_completes_an_older_times_file_and_keeps_its_own_figures(tmp_path, monkeypatch):
    """A working copy whose times file is older than the kept one (another copy ran stages
    since) gets the kept stages it lacks; a stage it holds keeps its own figure, and other
    records it holds are left as they are."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'kept' / 'results').mkdir(parents=True)
    (tmp_path / 'results').mkdir()
    (tmp_path / 'kept' / 'results' / stages.TIMES_FILE).write_text(json.dumps({'a': 10.0, 'b': 20.0}))
    (tmp_path / 'kept' / 'results' / 'metrics.json').write_text('{"psnr": 1}')
    (tmp_path / 'results' / stages.TIMES_FILE).write_text(json.dumps({'a': 11.0}))
    (tmp_path / 'results' / 'metrics.json').write_text('{"psnr": 2}')
    assert stages.restore_records('kept') == 1
    assert stages.read_times(f'results/{stages.TIMES_FILE}') == {'a': 11.0, 'b': 20.0}
    assert json.loads((tmp_path / 'results' / 'metrics.json').read_text()) == {'psnr': 2}
    assert stages.restore_records('kept') == 0  # nothing left to complete
