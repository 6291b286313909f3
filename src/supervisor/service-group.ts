/**
 * The slots of one service, as the supervisor runs them: started together, scaled up and down,
 * given new settings by a reload (then replaced one at a time, each successor ready before its
 * predecessor drains), stopped on purpose with `warren stop <service>` and started again; and its
 * standbys (standby-pool.ts), which its slots take over after a crash.
 * Callers run one change at a time (the supervisor queues them).
 */
import type { ResolvedService } from './config.js';
import type { ReloadResult, ServiceStatus } from './protocol.js';
import { Slot, type SlotHost } from './slot.js';
import { StandbyPool } from './standby-pool.js';

export type Replacement = ReloadResult['replaced'][number];

export class ServiceGroup {
  private slots: Slot[];
  private readonly standbys: StandbyPool;
  /** Stopped with `warren stop <service>`: no process runs, none is started until `start`. */
  stopped = false;

  constructor(
    public service: ResolvedService,
    private readonly host: SlotHost,
  ) {
    // A standby that becomes ready goes to a slot waiting out its restart delay, if there is one.
    this.standbys = new StandbyPool(service, host, () => {
      for (const slot of this.slots) slot.offerStandby();
    });
    this.slots = Array.from({ length: service.instances }, (_, i) => new Slot(service, i, host, this.standbys));
  }

  get name(): string {
    return this.service.name;
  }

  get allSlots(): readonly Slot[] {
    return this.slots;
  }

  /**
   * Starts every slot; resolves once each is online or errored. The standbys start then, so that
   * they do not slow the instances' start.
   */
  async start(): Promise<void> {
    this.stopped = false;
    await Promise.all(this.slots.map((slot) => slot.start()));
    if (!this.stopped) this.standbys.start();
  }

  status(): ServiceStatus {
    return {
      name: this.name,
      entry: this.service.entry,
      instances: this.slots.map((slot) => slot.status()),
      standby: { wanted: this.service.standby, processes: this.standbys.status(), failure: this.standbys.failure },
    };
  }

  /**
   * New settings for every slot's next process (a replacement or a start); `instances` is left to
   * scale(). With `renewStandbys` (settings other than the counts changed) the standbys are
   * replaced at once, so that none with the old settings takes over a slot; otherwise only their
   * number follows `standby`.
   */
  reconfigure(service: ResolvedService, renewStandbys: boolean): void {
    this.service = { ...service, instances: this.slots.length };
    for (const slot of this.slots) slot.reconfigure(this.service);
    if (renewStandbys) void this.standbys.renew(this.service);
    else this.standbys.resize(this.service);
  }

  /** Replaces the standbys (new code on disk: a reload with no change to the settings). */
  renewStandbys(): void {
    void this.standbys.renew();
  }

  /**
   * To `instances` slots: the highest slots drain and stop, or new ones start (with the current
   * settings; not while the service is stopped). Resolves once each started one is online or
   * errored and each removed one has exited.
   */
  async scale(instances: number, isStopping: () => boolean): Promise<{ from: number; to: number }> {
    const from = this.slots.length;
    // The running slots keep their settings object (and their crash count): only new slots need the count.
    this.service = { ...this.service, instances };
    // Standbys take their log numbers from `instances` up: from the new count on.
    this.standbys.resize(this.service);
    if (instances < from) {
      const removed = this.slots.splice(instances);
      await Promise.all(removed.map((slot) => slot.stop()));
    } else if (instances > from) {
      const added = Array.from({ length: instances - from }, (_, i) => new Slot(this.service, from + i, this.host, this.standbys));
      this.slots.push(...added);
      if (this.stopped || isStopping()) {
        for (const slot of added) await slot.stop();
      } else {
        await Promise.all(added.map((slot) => slot.start()));
      }
    }
    return { from, to: instances };
  }

  /** Replaces the first `count` slots (default all) one at a time, each once its successor is ready. */
  async replace(why: string, isStopping: () => boolean, count = this.slots.length): Promise<Replacement[]> {
    const replaced: Replacement[] = [];
    for (const slot of this.slots.slice(0, count)) {
      if (isStopping() || this.stopped) break;
      const { from, to } = await slot.replace(why);
      replaced.push({ service: this.name, slot: slot.index, from, to });
    }
    return replaced;
  }

  /** Drains and stops every slot and standby (not the supervisor); resolves with how many slots had a process. */
  async stop(): Promise<number> {
    this.stopped = true;
    const running = this.slots.filter((slot) => slot.current?.running === true).length;
    await Promise.all([...this.slots.map((slot) => slot.stop()), this.standbys.stop()]);
    return running;
  }

  /** Starts the slots that are stopped or errored (backoff forgotten), and the standbys; resolves with how many slots. */
  async resume(): Promise<number> {
    this.stopped = false;
    const idle = this.slots.filter((slot) => slot.state === 'stopped' || slot.state === 'errored');
    await Promise.all(idle.map((slot) => slot.restart()));
    if (!this.stopped) this.standbys.start();
    return idle.length;
  }

  /** Stops and starts each slot again, one at a time; errored ones come back. The standbys are replaced first (they run the old code). */
  async restart(): Promise<number> {
    this.stopped = false;
    const renewing = this.standbys.renew();
    for (const slot of this.slots) await slot.restart();
    if (!this.stopped) this.standbys.start();
    await renewing;
    return this.slots.length;
  }
}
