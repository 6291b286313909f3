/**
 * What `warren status`, `logs`, `reload` and `restart` print, as pure functions of the
 * supervisor's answers: the status table, durations, clock times and log lines.
 */

import type { FdCondition } from '../service/protocol.js';
import type { InstanceStatus, LogRecord, ReloadResult, StandbyStatus, SupervisorStatus } from '../supervisor/protocol.js';
import { levelColour, type Paint, plain, stateColour } from './colour.js';

/** A duration for people, two units at most: `0s`, `5s`, `3m12s`, `2h04m`, `3d2h`. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}m${pad2(total % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad2(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `HH:MM:SS.mmm` in local time. */
export function formatClock(time: number, withMs = true): string {
  const d = new Date(time);
  const hms = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return withMs ? `${hms}.${String(d.getMilliseconds()).padStart(3, '0')}` : hms;
}

export interface Column {
  header: string;
  /** Numbers are right-aligned. */
  align: 'left' | 'right';
}

/**
 * Rows under a header line, columns two spaces apart, no trailing spaces. `paintCell` may colour
 * a padded cell of a row: widths are measured on the plain text.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  paintCell: (column: number, cell: string, padded: string) => string = (_column, _cell, padded) => padded,
): string {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[], paint: boolean) =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        const padded = column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
        return paint ? paintCell(i, cell, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [
    line(
      columns.map((c) => c.header),
      false,
    ),
    ...rows.map((row) => line(row, true)),
  ]
    .map((l) => `${l}\n`)
    .join('');
}

export const STATUS_COLUMNS: readonly Column[] = [
  { header: 'service', align: 'left' },
  { header: 'instance', align: 'right' },
  { header: 'pid', align: 'right' },
  { header: 'state', align: 'left' },
  { header: 'uptime', align: 'right' },
  { header: 'restarts', align: 'right' },
  { header: 'requests', align: 'right' },
  { header: 'errors', align: 'right' },
  { header: 'req/s', align: 'right' },
  { header: 'mean ms', align: 'right' },
  { header: 'p99 ms', align: 'right' },
  { header: 'RSS MB', align: 'right' },
  { header: 'CPU %', align: 'right' },
];

const STATE_COLUMN = STATUS_COLUMNS.findIndex((column) => column.header === 'state');

const NONE = '-';

function fixed(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? NONE : value.toFixed(digits);
}

/** `1 restart`, `5 restarts`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The state column: `online`, or `online, silent 12s` for a process that stopped sending its reports. */
function stateCell(instance: InstanceStatus): string {
  const silent = instance.silentForMs ?? null;
  return silent === null ? instance.state : `${instance.state}, silent ${formatDuration(silent)}`;
}

/**
 * One table row per slot: the instance column is the slot (WARREN_INSTANCE). Figures of the
 * current process (req/s, latencies) are `-` when there is none.
 */
export function statusRow(instance: InstanceStatus): string[] {
  const running = instance.pid !== null;
  return [
    instance.service,
    String(instance.slot),
    running ? String(instance.pid) : NONE,
    stateCell(instance),
    instance.readySince === null ? NONE : formatDuration(instance.uptime),
    String(instance.restarts),
    String(instance.requests),
    String(instance.errors),
    running ? fixed(instance.reqPerSec) : NONE,
    running ? fixed(instance.meanMs) : NONE,
    running ? fixed(instance.p99Ms) : NONE,
    fixed(instance.rssMB),
    fixed(instance.cpuPercent),
  ];
}

/**
 * A standby's row: `standby` in the instance column (it has no slot until it takes one over),
 * `ready` once warmed up; the per-slot counters do not apply.
 */
export function standbyRow(standby: StandbyStatus): string[] {
  const ready = standby.state === 'standby';
  return [
    standby.service,
    'standby',
    standby.pid === null ? NONE : String(standby.pid),
    ready ? 'ready' : 'starting',
    ready ? formatDuration(standby.uptime) : NONE,
    NONE,
    NONE,
    NONE,
    NONE,
    NONE,
    NONE,
    fixed(standby.rssMB),
    fixed(standby.cpuPercent),
  ];
}

/**
 * `exit code 1 at 12:03:04.512`, `killed by SIGKILL at …`, `no exit recorded`, or the
 * supervisor's own reason when it killed the process itself (`did not say it was ready … (killed
 * at …)`).
 */
export function describeExit(exit: InstanceStatus['lastExit']): string {
  if (exit === null) return 'no exit recorded';
  if (exit.reason !== undefined) return `${exit.reason} (killed at ${formatClock(exit.at)})`;
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${exit.code ?? '?'}`;
  return `${how} at ${formatClock(exit.at)}`;
}

/** Says which columns count over the slot's life and which describe its current process. */
export const STATUS_LEGEND =
  'restarts, requests, errors: per slot, all its processes so far; uptime, req/s, mean, p99, RSS, CPU: the current process\n';

/**
 * The status as `warren status` prints it: a line about the supervisor, the table, then for each
 * errored instance its last exit and the tail of its stderr, indented.
 */
export function renderStatus(status: SupervisorStatus, now: number = Date.now(), paint: Paint = plain): string {
  const config = status.configPath === null ? '' : `, config ${status.configPath}`;
  const up = status.startedAt > 0 ? `, up ${formatDuration(now - status.startedAt)}` : '';
  let text = `supervisor ${status.pid} ${status.state} on ${status.socketDir}${up}${config}\n`;
  const instances = status.services.flatMap((service) => service.instances);
  if (instances.length === 0) return `${text}no services\n`;
  // Each service's slots, then its standbys (from supervisors that have them).
  const rows = status.services.flatMap((service) => [
    ...service.instances.map(statusRow),
    ...(service.standby?.processes ?? []).map(standbyRow),
  ]);
  text += renderTable(STATUS_COLUMNS, rows, (column, cell, padded) => {
    const colour = column === STATE_COLUMN ? stateColour(cell) : undefined;
    return colour === undefined ? padded : paint(padded, colour);
  });
  text += STATUS_LEGEND;
  for (const service of status.services) {
    const standby = service.standby;
    if (standby?.failure) text += `\n${service.name}: no standby running (${standby.wanted} wanted): ${standby.failure}\n`;
  }
  for (const instance of instances.filter((i) => i.fds?.exhausted)) {
    const fds = instance.fds as FdCondition;
    text += `\n${instance.service}.${instance.slot} is out of file descriptors (${fds.code}, ${fds.count} times): it refuses new connections; raise its limit (ulimit -n) or find what holds them\n`;
  }
  for (const instance of instances.filter((i) => i.state === 'errored')) {
    text += `\n${instance.service}.${instance.slot} errored (slot ${instance.slot}, ${plural(instance.restarts, 'restart')}): ${describeExit(instance.lastExit)}\n`;
    // The slot's own verdict (a deterministic failure, or crashes in a row) when the exit alone does not say it.
    if (instance.failure && instance.failure !== instance.lastExit?.reason) text += `    why: ${instance.failure}\n`;
    if (instance.stderrTail.length === 0) text += '    (nothing on stderr)\n';
    for (const line of instance.stderrTail) text += `    ${line}\n`;
  }
  return text;
}

/** `12:03:04.512 info  products.1 msg`; a line the process wrote on stderr has `stderr|` before its text. */
export function formatLogRecord(record: LogRecord, paint: Paint = plain): string {
  const who = record.instance === null ? record.service : `${record.service}.${record.instance}`;
  const mark = record.stream === 'stderr' ? 'stderr| ' : '';
  const colour = levelColour(record.level);
  const level = record.level.padEnd(5);
  return `${formatClock(record.time)} ${colour === undefined ? level : paint(level, colour)} ${who} ${mark}${record.msg}`;
}

/**
 * What the reload changed, one line each (`users: instances 2 → 3`, `+ billing (1 instance)`),
 * then one line per service replaced: `reloaded products: 0 → 2, 1 → 3` (old socket number → new;
 * `-` when the slot had no process).
 */
export function formatReload(result: ReloadResult): string {
  const changes = (result.changes ?? []).map((line) => `${line}\n`).join('');
  if (result.replaced.length === 0) return changes === '' ? 'nothing was reloaded\n' : changes;
  const byService = new Map<string, string[]>();
  for (const r of result.replaced) {
    const list = byService.get(r.service) ?? [];
    list.push(`${r.from ?? NONE} → ${r.to}`);
    byService.set(r.service, list);
  }
  return changes + [...byService].map(([service, moves]) => `reloaded ${service}: ${moves.join(', ')}\n`).join('');
}

/**
 * What `warren restart` prints: the count, then per slot the instance before and after
 * (`slot 0: products.0 pid 101 → products.0 pid 205 online`) when both statuses are known.
 */
export function formatRestart(
  service: string,
  restarted: number,
  before: SupervisorStatus | undefined,
  after: SupervisorStatus | undefined,
): string {
  let text = `restarted ${service}: ${restarted} instance${restarted === 1 ? '' : 's'}\n`;
  if (before === undefined || after === undefined) return text;
  const old = before.services.find((s) => s.name === service)?.instances ?? [];
  const now = after.services.find((s) => s.name === service)?.instances ?? [];
  const was = (i: InstanceStatus) => `${i.service}.${i.instance} ${i.pid === null ? `(${i.state})` : `pid ${i.pid}`}`;
  const is = (i: InstanceStatus) => `${i.service}.${i.instance}${i.pid === null ? '' : ` pid ${i.pid}`} ${i.state}`;
  for (const instance of now) {
    const previous = old.find((o) => o.slot === instance.slot);
    text += `  slot ${instance.slot}: ${previous ? was(previous) : NONE} → ${is(instance)}\n`;
  }
  return text;
}
