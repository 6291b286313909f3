// Markdown table of IPC benchmark results, with ratios against a baseline system.
// Rows: { system, mode, payload, p50_us, p99_us, ops_per_s }.
// Ratio: for `seq` the p50 latency ratio system / baseline (lower is better); for other
// modes (pipe64) the throughput ratio system / baseline (higher is better).

const fmtUs = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const fmtOps = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');

export function ratioAgainst(row, base) {
  if (!base) return Number.NaN;
  return row.mode === 'seq' ? row.p50_us / base.p50_us : row.ops_per_s / base.ops_per_s;
}

// `ratios` (optional): a Map from "system/mode/payload" to a ratio measured pairwise, used
// instead of the ratio of the rows' own figures.
export function formatTable(rows, { baseline = 'raw-node', ratios } = {}) {
  const baseOf = (r) => rows.find((b) => b.system === baseline && b.mode === r.mode && b.payload === r.payload);
  const lines = [
    `| system | mode | payload | p50 µs | p99 µs | ops/s | ratio vs ${baseline} |`,
    '| --- | --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const ratio = ratios?.get(`${r.system}/${r.mode}/${r.payload}`) ?? ratioAgainst(r, baseOf(r));
    const ratioText = Number.isFinite(ratio) ? `${ratio.toFixed(2)}×${r.mode === 'seq' ? ' (p50)' : ' (ops)'}` : '–';
    lines.push(
      `| ${r.system} | ${r.mode} | ${r.payload} | ${fmtUs(r.p50_us)} | ${fmtUs(r.p99_us)} | ${fmtOps(r.ops_per_s)} | ${ratioText} |`,
    );
  }
  return lines.join('\n');
}
