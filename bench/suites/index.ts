import { acquire, queued } from './async.js';
import { hierarchy } from './hierarchy.js';
import { httpExpress, httpExpressRedis, httpFastify } from './http.js';
import { allow, clockCost, reject } from './local.js';
import { manyKeys } from './many-keys.js';
import { redisC1, redisC64, redisKeysC64 } from './redis.js';
import { semLocalC1, semLocalC64, semRedisC1, semRedisC64 } from './semaphore.js';
import { redisKeysTwoLimitsC64, redisTwoLimitsC64, twoLimits } from './several-limits.js';
import type { Contender } from './types.js';

/** Every row of the bench, by id: contender name -> measurement. */
export const suites: Record<string, Record<string, Contender>> = {
  clock: clockCost,
  allow,
  reject,
  manyKeys,
  acquire,
  queued,
  hierarchy,
  twoLimits,
  semLocalC1,
  semLocalC64,
  redisC1,
  redisC64,
  redisKeysC64,
  redisTwoLimitsC64,
  redisKeysTwoLimitsC64,
  semRedisC1,
  semRedisC64,
  httpExpress,
  httpFastify,
  httpExpressRedis,
};
