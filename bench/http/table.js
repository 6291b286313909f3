// The table of `npm run bench:http`: one row per system, the ratios of the Warren gateway against
// nginx and the naive proxy, and whether the targets of issue 11 are met.
const fmt = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const times = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
const fmtInt = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');

export const TARGETS = { vsNginx: 1.1, vsNaive: 2 };

export function formatTable(rows) {
  const byName = new Map(rows.map((r) => [r.system, r]));
  const nginx = byName.get('nginx');
  const naive = byName.get('naive-proxy');
  const ratio = (r, base) => (base ? r.req_per_s / base.req_per_s : Number.NaN);
  const lines = [
    '| system | req/s | p50 ms | p99 ms | non-2xx | CPU µs/req | req/s vs nginx | req/s vs naive-proxy |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.system} | ${fmtInt(r.req_per_s)} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${r.non_2xx} | ${fmt(r.cpu_us_per_req, 1)} | ${times(ratio(r, nginx))} | ${times(ratio(r, naive))} |`,
    );
  }
  return lines.join('\n');
}

/**
 * One line per target of issue 11, for the gateway: met or missed, with the figures. `paired`
 * ({ nginx, naive }): the median of the ratios taken round by round, shown beside.
 */
export function targetLines(rows, paired) {
  const byName = new Map(rows.map((r) => [r.system, r]));
  const gateway = byName.get('warren-gateway');
  const nginx = byName.get('nginx');
  const naive = byName.get('naive-proxy');
  if (!gateway) return [];
  const lines = [];
  const mark = (ok) => (ok ? 'met' : 'MISSED');
  if (nginx) {
    const r = gateway.req_per_s / nginx.req_per_s;
    if (Number.isFinite(gateway.cpu_us_per_req) && Number.isFinite(nginx.cpu_us_per_req)) {
      lines.push(
        `CPU per request (all of a system's processes): gateway + service ${fmt(gateway.cpu_us_per_req, 1)} µs, nginx + worker ${fmt(nginx.cpu_us_per_req, 1)} µs (${(gateway.cpu_us_per_req / nginx.cpu_us_per_req).toFixed(2)}×)`,
      );
    }
    const p = paired ? `; paired per round ${fmt(paired.nginx, 2)}×` : '';
    lines.push(`gateway req/s ${r.toFixed(2)}× nginx${p} (target ≥ ${TARGETS.vsNginx}×): ${mark(r >= TARGETS.vsNginx)}`);
    const q = gateway.p99_ms / nginx.p99_ms;
    lines.push(
      `gateway p99 ${fmt(gateway.p99_ms, 2)} ms vs nginx ${fmt(nginx.p99_ms, 2)} ms (${q.toFixed(2)}×; target ≤ 1×): ${mark(gateway.p99_ms <= nginx.p99_ms)}`,
    );
  }
  if (naive) {
    const r = gateway.req_per_s / naive.req_per_s;
    const p = paired ? `; paired per round ${fmt(paired.naive, 2)}×` : '';
    lines.push(`gateway req/s ${r.toFixed(2)}× naive-proxy${p} (target ≥ ${TARGETS.vsNaive}×): ${mark(r >= TARGETS.vsNaive)}`);
  }
  return lines;
}
