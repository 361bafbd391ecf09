import { describe, expect, it } from '@jest/globals';
import { githubWebUrl } from './status-report.js';

describe('githubWebUrl', () => {
  it.each([
    ['https://api.github.com', 'https://github.com'],
    ['https://ghe.example.org/api/v3', 'https://ghe.example.org'],
    ['https://ghe.example.org/api/v3/', 'https://ghe.example.org'],
    ['http://127.0.0.1:4567', 'http://127.0.0.1:4567'],
  ])('links PRs of %s on %s', (api, web) => {
    expect(githubWebUrl(api)).toBe(web);
  });
});
