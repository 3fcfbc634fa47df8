// @rateLimit as a standard (TC39) method decorator: TypeScript 5+, no experimentalDecorators.
import { rateLimit } from 'bucketflow';

class ApiClient {
  constructor(private readonly base: string) {}

  // One bucket for this method, shared by every ApiClient: 2 calls per second, bursts of 5.
  @rateLimit({ tokensPerSecond: 2, capacity: 5 })
  async fetchData(id: number): Promise<string> {
    return `${this.base}/items/${id}`;
  }
}

const client = new ApiClient('https://example.test');
console.log(await client.fetchData(1));
