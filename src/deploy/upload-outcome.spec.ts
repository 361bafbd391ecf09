import { describe, expect, it } from '@jest/globals';
import { uploadResultOf } from './upload-outcome.js';

describe('uploadResultOf (the result label of eessi_bot_uploads_total)', () => {
  it('tells a transfer from an object that was already there', () => {
    const done = { uploaded: true, where: 'staging/a', sizeBytes: 3 } as const;
    expect(uploadResultOf({ ...done, present: false })).toBe('uploaded');
    expect(uploadResultOf({ ...done, present: true })).toBe('already_present');
  });

  it('tells the upload policy, a failure and an upload script cut short apart', () => {
    expect(uploadResultOf({ uploaded: false, reason: 'superseded', skipped: true })).toBe(
      'skipped',
    );
    expect(uploadResultOf({ uploaded: false, reason: 'S3 upload failed' })).toBe('failed');
    expect(uploadResultOf({ uploaded: false, reason: 'stopped', interrupted: true })).toBe(
      'interrupted',
    );
  });
});
