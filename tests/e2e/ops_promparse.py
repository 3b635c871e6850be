"""Strict reader of the Prometheus text format (0.0.4) for the ops tests.

usage: python3 ops_promparse.py FILE 'name{label="v",...}=VALUE' ...
Checks the syntax (HELP/TYPE before samples, families contiguous, label
escaping, numeric values), histogram invariants (buckets cumulative, +Inf
bucket equal to _count), then each expectation. Exit 1 names the first fault.
"""
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_labels(text, where):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise SystemExit(f"{where}: bad labels {text!r}")
        labels[m.group(1)] = re.sub(r'\\(.)', lambda e: '\n' if e.group(1) == 'n' else e.group(1), m.group(2))
        pos = m.end()
    return labels


def parse(text):
    types, samples, seen, current = {}, [], set(), None
    for n, line in enumerate(text.split('\n'), 1):
        where = f"line {n}"
        if not line:
            continue
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if parts[1] == 'TYPE':
                name, kind = parts[2], parts[3]
                if kind not in ('counter', 'gauge', 'histogram', 'summary', 'untyped'):
                    raise SystemExit(f"{where}: bad type {kind}")
                if name in types:
                    raise SystemExit(f"{where}: second TYPE for {name}")
                types[name] = kind
            elif parts[1] != 'HELP':
                raise SystemExit(f"{where}: unknown comment {line!r}")
            continue
        m = SAMPLE.match(line)
        if not m:
            raise SystemExit(f"{where}: not a sample: {line!r}")
        name, labels, value = m.group(1), parse_labels(m.group(3) or '', where), m.group(4)
        family = re.sub(r'_(bucket|sum|count)$', '', name) if re.sub(r'_(bucket|sum|count)$', '', name) in types else name
        if family not in types:
            raise SystemExit(f"{where}: sample {name} before its TYPE")
        if family != current:
            if family in seen:
                raise SystemExit(f"{where}: family {family} is not contiguous")
            seen.add(family)
            current = family
        samples.append((name, labels, float(value)))
    # Histograms: cumulative buckets ending in +Inf == _count.
    for fam, kind in types.items():
        if kind != 'histogram':
            continue
        series = {}
        for name, labels, v in samples:
            if name == fam + '_bucket':
                key = tuple(sorted((k, x) for k, x in labels.items() if k != 'le'))
                series.setdefault(key, []).append((float(labels['le']), v))
        for key, buckets in series.items():
            les = [le for le, _ in buckets]
            counts = [c for _, c in buckets]
            if les != sorted(les) or les[-1] != float('inf') or counts != sorted(counts):
                raise SystemExit(f"{fam}{dict(key)}: buckets not cumulative: {buckets}")
            total = [v for name, labels, v in samples if name == fam + '_count'
                     and tuple(sorted(labels.items())) == key]
            if total != [counts[-1]]:
                raise SystemExit(f"{fam}{dict(key)}: +Inf bucket {counts[-1]} != count {total}")
    return types, samples


def main():
    types, samples = parse(open(sys.argv[1], encoding='utf-8').read())
    for want in sys.argv[2:]:
        spec, value = want.rsplit('=', 1)
        m = SAMPLE.match(spec + ' 0')
        name, labels = m.group(1), parse_labels(m.group(3) or '', want)
        got = [v for n, l, v in samples if n == name and l == labels]
        if got != [float(value)]:
            raise SystemExit(f"{spec}: got {got}, want {value}")
    print(f"{len(types)} families, {len(samples)} samples")


main()
