"""TF Serving's models.config for a serving directory, with version labels.

The newest version is labelled `canary`, the one before it `stable`; both stay
loaded (`latest { num_versions: 2 }`), so clients can pin either label while
unlabelled requests get the newest. Regenerate after each push; TF Serving
re-reads the file every --model_config_file_poll_wait_seconds.
"""
from typing import List


def models_config(model_name: str, base_path: str, versions: List[int],
                  num_versions: int = 2) -> str:
  """Text-format ModelServerConfig for one model."""
  labels = []
  if versions:
    labels.append(('canary', versions[-1]))
  if len(versions) >= 2:
    labels.append(('stable', versions[-2]))
  label_lines = ''.join(
      f'    version_labels {{ key: "{key}" value: {value} }}\n'
      for key, value in sorted(labels))
  return ('model_config_list {\n'
          '  config {\n'
          f'    name: "{model_name}"\n'
          f'    base_path: "{base_path}"\n'
          '    model_platform: "tensorflow"\n'
          f'    model_version_policy {{ latest {{ num_versions: {num_versions} }} }}\n'
          f'{label_lines}'
          '  }\n'
          '}\n')
