/**
 * One process `'exit'` listener per thread that flushes, synchronously, what
 * registered objects hold (docs/design.md, "Re-entrancy and writer input").
 *
 * `'exit'` is emitted on a normal exit, on `process.exit()` and after an
 * uncaught exception, in the main thread and in a worker that ends or calls
 * `process.exit()` (not when a worker is `terminate()`d: no JavaScript runs
 * then). Only synchronous work is possible there.
 *
 * The hook never keeps an idle object alive: a registered object is held
 * weakly (a FinalizationRegistry frees its slot once it is collected) and
 * strongly only while it is *armed*, i.e. while it has work an exit must not
 * lose. Arming and disarming are one array store each.
 */
import fs from 'node:fs';

/**
 * What the exit hook calls for an armed object: synchronous; what it throws
 * goes to stderr. A static function (not a closure over the object), so that
 * registering does not keep the object alive.
 */
export type ExitFlush<T extends object> = (target: T) => void;

/** The objects armed now, by slot; `undefined` for free or idle slots. */
const armed: (object | undefined)[] = [];
/** How to flush the object of each slot. */
const flushers: (ExitFlush<never> | undefined)[] = [];
/** Slots whose object was collected or unregistered. */
const freeSlots: number[] = [];
let nextSlot = 0;
let listening = false;

const registry = new FinalizationRegistry<number>((slot) => {
  armed[slot] = undefined;
  flushers[slot] = undefined;
  freeSlots.push(slot);
});

function report(err: unknown): void {
  const what = err instanceof Error ? (err.stack ?? err.message) : String(err);
  try {
    fs.writeSync(2, `flatstream: flushing at exit failed: ${what}\n`);
  } catch {
    // stderr is gone: nothing else to tell.
  }
}

function onExit(): void {
  for (let i = 0; i < armed.length; i++) {
    const target = armed[i];
    if (target === undefined) continue;
    armed[i] = undefined;
    try {
      (flushers[i] as ExitFlush<object>)(target);
    } catch (err) {
      report(err);
    }
  }
}

/**
 * Registers `target` and returns its slot (for {@link arm}, {@link disarm},
 * {@link unregister}). Installs the thread's single `'exit'` listener on
 * first use. Held weakly until armed.
 */
export function register<T extends object>(target: T, flush: ExitFlush<T>): number {
  if (!listening) {
    process.on('exit', onExit);
    listening = true;
  }
  const slot = freeSlots.pop() ?? nextSlot++;
  flushers[slot] = flush as ExitFlush<never>;
  registry.register(target, slot, target);
  return slot;
}

/** Holds `target` strongly until {@link disarm}: an exit then flushes it. */
export function arm(slot: number, target: object): void {
  armed[slot] = target;
}

/** Lets go of the strong reference taken by {@link arm}. */
export function disarm(slot: number): void {
  armed[slot] = undefined;
}

/** Forgets `target` (e.g. once closed); its slot is reused. */
export function unregister(slot: number, target: object): void {
  armed[slot] = undefined;
  if (registry.unregister(target)) {
    flushers[slot] = undefined;
    freeSlots.push(slot);
  }
}

/** @internal Objects armed now (tests). */
export function armedCount(): number {
  let n = 0;
  for (const t of armed) if (t !== undefined) n++;
  return n;
}
