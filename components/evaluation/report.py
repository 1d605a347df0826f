"""Renders the Evaluator's result as a short Markdown report."""


def to_markdown(result: dict) -> str:
  lines = ['# Evaluation report', '',
           f"**{'BLESSED' if result['blessed'] else 'NOT BLESSED'}**: "
           f"{result['reason']}", '',
           '| split | sentences | BLEU | BLEU (lowercased) | chrF | '
           'production BLEU |', '|---|---|---|---|---|---|']
  production = result.get('production_scores') or {}
  for split, s in result['scores'].items():
    base = production.get(split)
    lines.append(f"| {split} | {s['sentences']} | {s['bleu']:.2f} | "
                 f"{s['bleu_lowercase']:.2f} | {s['chrf']:.2f} | "
                 f"{base['bleu']:.2f} |" if base else
                 f"| {split} | {s['sentences']} | {s['bleu']:.2f} | "
                 f"{s['bleu_lowercase']:.2f} | {s['chrf']:.2f} | - |")
  first = next(iter(result['scores'].values()))
  lines += ['', f"sacreBLEU signature: `{first['signature']}`", '',
            f"Candidate: `{result['candidate']}`  ",
            f"Production: `{result['production'] or 'none'}`", '',
            '## Samples', '']
  for sample in result['samples']:
    lines += [f"- source: {sample['source']}",
              f"  - reference: {sample['reference']}",
              f"  - translation: {sample['translation']}"]
    if 'production' in sample:
      lines.append(f"  - production: {sample['production']}")
  return '\n'.join(lines) + '\n'
