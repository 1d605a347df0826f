"""Training under MirroredStrategy with 2 replicas, on 2 logical CPU devices.

Logical devices must be configured before TensorFlow runs any op, so the
training runs in a fresh process.
"""
import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from nmt_tfx.components.model import trainer
    from nmt_tfx.components.model.export import SavedModelTranslator
    tiny, out = sys.argv[1], sys.argv[2]
    history = trainer.train_and_export(
        train_files=tiny + '/data*', eval_files=tiny + '/data*',
        transform_output=tiny + '/transform', serving_model_dir=out,
        log_dir=None, train_steps=60, eval_steps=1,
        custom_config=dict(embedding_dim=32, encoder_units=32,
                           decoder_units=64, attention_units=32, dropout=0.0,
                           batch_tokens=64, learning_rate=0.01,
                           steps_per_epoch=20, shuffle_buffer=16))
    print(json.dumps({
        'replicas': history.model.distribute_strategy.num_replicas_in_sync,
        'devices': list(history.model.distribute_strategy.extended.worker_devices),
        'loss': history.history['loss'],
        'translation': SavedModelTranslator(out)(['A dog runs.'])[0]}))
''')


def test_trains_on_two_replicas_and_exports(tiny_transform, tmp_path):
  result = subprocess.run(
      [sys.executable, '-c', SCRIPT, str(tiny_transform), str(tmp_path / 'm')],
      capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['replicas'] == 2
  assert [d.split('/')[-1] for d in report['devices']] == [
      'device:CPU:0', 'device:CPU:1']
  assert report['loss'][-1] < report['loss'][0]
  assert isinstance(report['translation'], str)
