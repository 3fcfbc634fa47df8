// The deadline every Redis call gets (no Redis needed: the calls here are promises the test
// settles). Real time is the point, so timeouts are short and bounds wide.
import { describe, expect, it } from 'vitest';
import { RedisBucketError, TimedCalls } from '../src/redis/redis-call.js';

/** A call the test answers by hand. */
function manual() {
  let answer!: (value: unknown) => void;
  let fail!: (error: unknown) => void;
  const promise = new Promise<unknown>((resolve, reject) => {
    answer = resolve;
    fail = reject;
  });
  return { start: () => promise, answer, fail };
}

const liveTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const settleOf = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error }));

describe('TimedCalls', () => {
  it('resolves with onReply of the reply; a failure rejects with RedisBucketError naming the call, the error as cause', async () => {
    const calls = new TimedCalls(1000);
    const ok = manual();
    const bad = manual();
    const answered = calls.run(ok.start, 'bucket "a"', (reply) => `got ${String(reply)}`);
    const failed = calls.run(bad.start, 'bucket "b"', (reply) => reply);
    const cause = new Error('ECONNRESET');
    ok.answer(7);
    bad.fail(cause);
    await expect(answered).resolves.toBe('got 7');
    const error = (await failed.catch((e: unknown) => e)) as RedisBucketError;
    expect(error).toBeInstanceOf(RedisBucketError);
    expect(error.message).toBe('bucket "b": Redis call failed: ECONNRESET');
    expect(error.cause).toBe(cause);
  });

  it('a call that throws at once, and an onReply that throws, reject too', async () => {
    const calls = new TimedCalls(1000);
    const thrown = calls.run(() => {
      throw new Error('connection is closed');
    }, 'k', (r) => r);
    await expect(thrown).rejects.toThrow('k: Redis call failed: connection is closed');
    const parse = manual();
    const parsed = calls.run(parse.start, 'k', () => {
      throw new TypeError('unexpected reply');
    });
    parse.answer('?');
    await expect(parsed).rejects.toThrow('unexpected reply');
  });

  it('onFailure answers failures and timeouts instead of a rejection', async () => {
    const calls = new TimedCalls(30);
    const bad = manual();
    const silent = manual();
    const seen: string[] = [];
    const onFailure = (e: RedisBucketError) => {
      seen.push(e.message);
      return 'fallback';
    };
    const failed = calls.run(bad.start, 'x', () => 'reply', onFailure);
    const timedOut = calls.run(silent.start, 'y', () => 'reply', onFailure);
    bad.fail(new Error('boom'));
    await expect(failed).resolves.toBe('fallback');
    await expect(timedOut).resolves.toBe('fallback');
    expect(seen).toEqual(['x: Redis call failed: boom', 'y: no answer from Redis within 30 ms (timeout)']);
  });

  it('each unanswered call fails at its own deadline; answered ones are untouched; a late reply is dropped', async () => {
    const calls = new TimedCalls(100);
    const first = manual();
    const t0 = performance.now();
    let secondDone = false;
    const a = settleOf(calls.run(first.start, 'first', (r) => r)).then((result) => ({ result, secondDone, at: performance.now() - t0 }));
    await new Promise((r) => setTimeout(r, 90));
    const second = manual();
    const answered = manual();
    const startedSecond = performance.now() - t0;
    const b = settleOf(calls.run(second.start, 'second', (r) => r)).then((result) => {
      secondDone = true;
      return { result, at: performance.now() - t0 };
    });
    const c = settleOf(calls.run(answered.start, 'answered', (r) => r));
    answered.answer('yes');
    const ra = await a;
    const rb = await b;
    expect(await c).toEqual({ value: 'yes' });
    expect((ra.result as { error: Error }).error.message).toBe('first: no answer from Redis within 100 ms (timeout)');
    expect(ra.at).toBeGreaterThanOrEqual(99);
    // The second call was still waiting when the first timed out, and got its own 100 ms.
    expect(ra.secondDone).toBe(false);
    expect((rb.result as { error: Error }).error).toBeInstanceOf(RedisBucketError);
    expect(rb.at).toBeGreaterThanOrEqual(startedSecond + 99);
    first.answer('too late'); // nothing happens: no throw, no unhandled rejection
    second.fail(new Error('too late'));
    await new Promise((r) => setTimeout(r, 5));
  });

  it('a call started by a timed-out call\'s error handler gets its own deadline, still on one timer', async () => {
    const before = liveTimers();
    const calls = new TimedCalls(30);
    const first = manual();
    const second = manual();
    let timersAfterExpiry = -1;
    const retried = new Promise((resolve) => {
      calls.send(first.start, 'first', () => {}, () => {
        calls.send(second.start, 'second', () => {}, resolve); // a retry, as a fallback might do
        queueMicrotask(() => (timersAfterExpiry = liveTimers()));
      });
    });
    const error = (await retried) as RedisBucketError;
    expect(error.message).toBe('second: no answer from Redis within 30 ms (timeout)');
    expect(timersAfterExpiry).toBe(before + 1);
    expect(liveTimers()).toBe(before);
  });

  it('one timer however many calls are pending, and it holds the process open only while one is', async () => {
    const before = liveTimers();
    const calls = new TimedCalls(10_000);
    const pending = Array.from({ length: 1000 }, manual);
    const results = pending.map((m, i) => calls.run(m.start, `call ${i}`, (r) => r));
    expect(liveTimers()).toBe(before + 1);
    pending.forEach((m, i) => m.answer(i));
    expect(await Promise.all(results)).toEqual(pending.map((_, i) => i));
    expect(liveTimers()).toBe(before); // still armed for the next call, but unref'd
    const next = manual();
    const again = calls.run(next.start, 'next', (r) => r);
    expect(liveTimers()).toBe(before + 1);
    next.answer('done');
    await expect(again).resolves.toBe('done');
    expect(liveTimers()).toBe(before);
  });
});
